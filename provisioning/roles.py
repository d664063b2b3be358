"""Which tenant role a person gets from their identity provider's groups.

One rule for SCIM (a group's members) and single sign-on (a login's groups claim): each of
the tenant's GroupRoleMapping rows names a group (case-insensitive) and a role; a person gets
the highest role of the mapped groups they are in, and the tenant's least role (viewer) when
none is mapped. A tenant with no mappings at all has not handed roles to its identity
provider: `role_for_groups` answers None and roles stay as its admins set them.
"""

from __future__ import annotations

from collections.abc import Iterable

from tenants.models import Membership, StaffRole, Tenant

from .models import GroupRoleMapping, StaffGroupRoleMapping

# Least to most: the order in which a higher mapped role wins.
ROLE_RANK: dict[str, int] = {
    Membership.Role.VIEWER: 0,
    Membership.Role.RESPONDER: 1,
    Membership.Role.ADMIN: 2,
}
LEAST_ROLE = Membership.Role.VIEWER


def mappings(tenant: Tenant | int) -> dict[str, str]:
    """The tenant's mappings: lower-cased group name -> role."""
    rows = GroupRoleMapping.objects.for_tenant(tenant).values_list("group_name", "role")
    return {name.casefold(): role for name, role in rows}


def role_for_groups(tenant: Tenant | int, group_names: Iterable[str]) -> str | None:
    """The role these groups give in `tenant`, or None when the tenant maps no groups."""
    table = mappings(tenant)
    if not table:
        return None
    roles = [table[name.casefold()] for name in group_names if name.casefold() in table]
    return max(roles, key=lambda role: ROLE_RANK[role], default=LEAST_ROLE)


# --- the MSSP's own identity provider: staff roles --------------------------------------------
# Least to most. Unlike a tenant's, there is no least role to fall back on: a staff sign-in
# whose groups map to no staff role is refused (provisioning.sso).
STAFF_ROLE_RANK: dict[str, int] = {
    StaffRole.ANALYST_L1: 0,
    StaffRole.ANALYST_L2: 1,
    StaffRole.ANALYST_L3: 2,
    StaffRole.LEAD: 3,
    StaffRole.MANAGER: 4,
    StaffRole.ADMIN: 5,
}


def staff_mappings() -> dict[str, str]:
    """The MSSP's mappings: lower-cased group name -> staff role."""
    rows = StaffGroupRoleMapping.objects.values_list("group_name", "role")
    return {name.casefold(): role for name, role in rows}


def staff_role_for_groups(group_names: Iterable[str]) -> str | None:
    """The highest staff role these groups of the MSSP's provider give, or None."""
    table = staff_mappings()
    roles = [table[name.casefold()] for name in group_names if name.casefold() in table]
    return max(roles, key=lambda role: STAFF_ROLE_RANK[role], default=None)
