"""Who may configure a tenant's SCIM provisioning: mint and revoke its SCIM tokens, map its
identity provider's groups to roles, and read its SCIM activity. The tenant's customer admins
and MSSP admins (tenants.policy.administers), like every other tenant administration."""

from __future__ import annotations

from tenants import policy as tenant_policy
from tenants.access import Access
from tenants.models import Tenant


def manages_provisioning(access: Access, tenant: Tenant | int) -> bool:
    return tenant_policy.administers(access, tenant)
