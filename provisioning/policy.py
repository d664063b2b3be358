"""Who may configure a tenant's SCIM provisioning (mint and revoke its SCIM tokens, map its
identity provider's groups to roles, read its SCIM activity) and its single sign-on: the
tenant's customer admins and MSSP admins (tenants.policy.administers), like every other tenant
administration. Only MSSP admins verify a tenant's claim to an e-mail domain."""

from __future__ import annotations

from tenants import policy as tenant_policy
from tenants.access import Access
from tenants.models import Tenant


def manages_provisioning(access: Access, tenant: Tenant | int) -> bool:
    return tenant_policy.administers(access, tenant)


def manages_sso(access: Access, tenant: Tenant | int) -> bool:
    """Configure the tenant's single sign-on and claim e-mail domains for it."""
    return tenant_policy.administers(access, tenant)


def verifies_domains(access: Access, tenant: Tenant | int) -> bool:
    """Confirm a tenant's claim to an e-mail domain: the MSSP's admins, who checked that the
    customer owns it (a tenant cannot vouch for itself)."""
    return access.is_mssp_admin and tenant_policy.administers(access, tenant)


def manages_mssp_sso(access: Access) -> bool:
    """Configure the MSSP's own single sign-on (its staff's identity provider, its e-mail
    domains, its group-to-staff-role mappings): MSSP admins only. It decides who becomes MSSP
    staff, so no customer, token of a customer or other staff role ever sees or changes it."""
    return access.is_mssp_admin
