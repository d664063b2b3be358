"""Who may read and change on-call schedules. Role questions are Access's (tenants.access).

- Reading: MSSP staff read the MSSP tiers' schedules (no tenant) and the schedules of the
  tenants they work; a customer's users read their own tenant's schedules, never an MSSP
  tier's. (The API's rows follow this: TenantScopedViewSet.include_mssp_rows.)
- Changing a schedule (its layers, deleting it, importing a rotation into it): supervisors
  (leads, managers, MSSP admins) for the MSSP's teams and for the tenants they work, and a
  customer's admins for their own tenant's teams.
- Overrides: whoever may change the schedule, for anyone of the team; and any member of the
  team who works (not a customer's viewer) for themselves: taking a shift (the override
  names them) or handing over one of their own (they are on call throughout its span, and
  it names another member of the team). A swap is two such overrides. An override is
  removed by whoever may change the schedule, whoever made it, or the person it names.
"""

from __future__ import annotations

from tenants.access import Access

CHANGE_REFUSED = (
    "Only MSSP leads and admins (for the MSSP's teams and the tenants they work) and your "
    "organisation's admins (for its own teams) change on-call schedules."
)
OVERRIDE_REFUSED = (
    "You may override only a shift of your own, or take one yourself, as a member of the "
    "schedule's team; the schedule's managers override any shift."
)
READ_REFUSED = "Only those who read a schedule subscribe to it."
OVERRIDE_DELETE_REFUSED = (
    "Only the schedule's managers, the override's author and the person it names remove it."
)


def reads_schedules_of(access: Access, tenant_id: int | None) -> bool:
    if tenant_id is None:
        return access.is_mssp_staff
    return tenant_id in access.tenant_ids


def may_open_schedules(access: Access) -> bool:
    """Whether the caller reads some schedules at all (the navigation's and /oncall/'s
    question): MSSP staff read the MSSP tiers', a customer's users their own tenant's."""
    return access.is_mssp_staff or (
        access.customer_tenant_id is not None
        and reads_schedules_of(access, access.customer_tenant_id)
    )


def may_manage_schedules(access: Access, tenant_id: int | None) -> bool:
    """Create, change and delete the schedules of a team of `tenant_id` (None: the MSSP's)."""
    if not access.is_authenticated:
        return False
    if tenant_id is None:
        return access.is_supervisor
    if access.is_supervisor and tenant_id in access.tenant_ids:
        return True
    return access.is_customer_admin and access.customer_tenant_id == tenant_id


def may_manage_any_schedule(access: Access) -> bool:
    """Whether the caller manages some schedules at all (before the input names a team)."""
    return access.is_supervisor or access.is_customer_admin


def may_override_for_themselves(
    access: Access, tenant_id: int | None, *, in_team: bool, owns_the_span: bool, user_id: int
) -> bool:
    """A team member's own override: they take the span, or hand over a span that is theirs.
    `owns_the_span`: the caller is on call throughout it (oncall.rotation)."""
    if not (in_team and access.works and reads_schedules_of(access, tenant_id)):
        return False
    return user_id == access.user_id or owns_the_span


def may_remove_override(
    access: Access, tenant_id: int | None, *, created_by_id: int | None, user_id: int
) -> bool:
    if may_manage_schedules(access, tenant_id):
        return True
    if not (access.works and reads_schedules_of(access, tenant_id)):
        return False
    return access.user_id is not None and access.user_id in (created_by_id, user_id)
