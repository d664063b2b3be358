"""Who may see, change, test and use a tenant's connectors.

- See (list, detail, call log) and test: MSSP staff who see the tenant, and the tenant's own
  admins (a connector is the customer's tool and the customer's credentials). A customer's
  viewers and responders do not see connectors.
- Add, change, delete (credentials included, with a fresh second factor): MSSP leads,
  managers and admins who see the tenant, and the tenant's own admins.
- Enrich an incident's observable: whoever works the incident (MSSP staff who see its
  tenant, the customer's responders and admins), through the incident's own tenant's
  connectors only (connectors.enrichment)."""

from __future__ import annotations

from tenants.access import Access

REFUSED_CHANGE = (
    "Only MSSP leads, managers and admins, and your organisation's admins, change connectors."
)
REFUSED_ENRICH = "Only those who work the incident enrich its observables."


def may_see(access: Access, tenant_id: int) -> bool:
    if tenant_id not in access.tenant_ids:
        return False
    return access.is_mssp_staff or access.is_customer_admin


def may_manage(access: Access, tenant_id: int) -> bool:
    if tenant_id not in access.tenant_ids:
        return False
    return access.is_supervisor or access.can_administer(tenant_id)


def may_enrich(access: Access, tenant_id: int) -> bool:
    return tenant_id in access.tenant_ids and access.works
