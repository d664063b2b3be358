"""Who may do what with threat intelligence. Role questions are Access's; the rules here are
about intel's own objects: whose indicators a caller manages.

- The intel pages and management API: MSSP staff and customer admins (`may_use_intel`).
- Global indicators (the MSSP's, matched for every tenant): senior staff, i.e. MSSP admins,
  managers, leads and L2/L3 analysts (`Access.is_senior_staff`); an L1 analyst reads them. A
  global indicator changes the severity of every customer's incidents, so the first tier
  does not publish them alone.
- A tenant's own indicators: that tenant's customer admins, and the senior staff who work
  that tenant (`may_manage_tenant`).
- Raising an incident's severity from a match is an analyst's decision: MSSP staff
  (`Access.is_mssp_staff`; the match is found in their tenants' scope).
"""

from __future__ import annotations

from tenants.access import Access


def may_use_intel(access: Access) -> bool:
    """The intel pages and management API: MSSP staff and customer admins."""
    return access.is_mssp_staff or access.is_customer_admin


def may_manage_tenant(access: Access, tenant_id: int) -> bool:
    """A tenant's own indicators and imports: its customer admins, and the senior staff who
    work it."""
    if tenant_id not in access.tenant_ids:
        return False
    if access.is_customer:
        return access.is_customer_admin and access.customer_tenant_id == tenant_id
    return access.is_senior_staff


def may_manage(access: Access, tenant_id: int | None) -> bool:
    """Indicators (and imports) of a scope: global when `tenant_id` is None."""
    return access.is_senior_staff if tenant_id is None else may_manage_tenant(access, tenant_id)
