"""Who may administer what in the tenants app: members, API tokens, contacts, webhooks,
tenants and staff. Built from the role questions `Access` answers; the settings pages, the
administration API and the navigation all ask these, so a button shown and a click accepted
follow the same rule.

Each function answers yes or no; `tenants.administration` turns a no into the Refused the
caller sees. Webhooks and intake sources are a tenant's administered rows like contacts
(`administers`, asked by tenants.api.views.TenantAdministeredMixin); creating and editing
tenants is only a role question, Access.is_mssp_admin (tenants.permissions.IsMsspAdmin).
"""

from __future__ import annotations

from collections.abc import Iterable

from .access import Access
from .models import ApiToken, Membership, StaffRole, Tenant, User, UserSession

# The scopes each role's tokens may carry. A scope only narrows what the role may do: `admin`
# is for the administration a role has (a customer admin's members, sources and contacts; a
# lead's escalation policies; a manager's staff assignments; an MSSP admin's everything).
ROLE_SCOPES: dict[str, frozenset[str]] = {
    Membership.Role.VIEWER: frozenset({"read"}),
    Membership.Role.RESPONDER: frozenset({"read", "write"}),
    Membership.Role.ADMIN: frozenset({"read", "write", "admin"}),
    StaffRole.ANALYST_L1: frozenset({"read", "write"}),
    StaffRole.ANALYST_L2: frozenset({"read", "write"}),
    StaffRole.ANALYST_L3: frozenset({"read", "write"}),
    StaffRole.LEAD: frozenset({"read", "write", "admin"}),
    StaffRole.MANAGER: frozenset({"read", "write", "admin"}),
    StaffRole.ADMIN: frozenset({"read", "write", "admin"}),
}

# What a manager may change on a staff account: which tenants it works and leads. Accounts
# and roles are the MSSP admins'.
STAFF_ASSIGNMENTS = frozenset({"tenants", "leads"})


# --- the settings of one tenant ----------------------------------------------------------------
def opens_tenant_settings(access: Access) -> bool:
    """The settings pages (members, intake sources, contacts, audit log): a customer admin for
    their own tenant, an MSSP admin for any (the page asks which)."""
    return access.is_customer_admin or access.is_mssp_admin


def reads_audit_log(access: Access) -> bool:
    """The audit log is a settings page: MSSP admins read all of it, a customer admin their
    own tenant's (the API's rows are limited to the caller's tenants)."""
    return opens_tenant_settings(access)


def reads_tenant_administration(access: Access) -> bool:
    """Reading a tenant's administered rows through the API: MSSP staff, and of a customer
    only its admins (viewers and responders do not see who else is a member)."""
    return not access.is_customer or access.is_customer_admin


def administers(access: Access, tenant: Tenant | int) -> bool:
    """Changing a tenant's administered rows: MSSP admins for every tenant, a customer admin
    for their own."""
    return access.can_administer(tenant if isinstance(tenant, int) else tenant.pk)


def may_manage_members(access: Access, tenant: Tenant | int) -> bool:
    """Adding members, changing their roles, removing them."""
    return administers(access, tenant)


def may_manage_contacts(access: Access, tenant: Tenant | int) -> bool:
    return administers(access, tenant)


def member_names_namespaced(access: Access) -> bool:
    """A customer admin's new members sign in as `<tenant-slug>/<name>`: the names are their
    tenant's own. Only MSSP admins choose plain, portal-wide names."""
    return not access.is_mssp_admin


# --- API tokens --------------------------------------------------------------------------------
def scopes_allowed(access: Access) -> frozenset[str]:
    """The scopes a token of this caller's role may carry (every user manages their own)."""
    return ROLE_SCOPES.get(access.staff_role or access.customer_role, frozenset())


def owns_token(access: Access, token: ApiToken) -> bool:
    """A token is managed (seen, revoked) by the user it belongs to only."""
    return access.is_authenticated and token.user_id == access.user_id


# --- tenants and staff (the MSSP's own administration) -----------------------------------------
def reads_staff_list(access: Access) -> bool:
    """The staff list: leads (who see whom they lead), managers and admins."""
    return access.is_supervisor


def may_change_staff(access: Access, fields: Iterable[str]) -> bool:
    """MSSP admins change staff accounts; managers only the assignments (STAFF_ASSIGNMENTS)."""
    if access.is_mssp_admin:
        return True
    return access.manages_staff and set(fields) <= STAFF_ASSIGNMENTS


# --- sessions ----------------------------------------------------------------------------------
def owns_session(access: Access, session: UserSession) -> bool:
    """Every user sees and ends their own sessions, and only those."""
    return access.is_authenticated and session.user_id == access.user_id


def may_end_member_sessions(access: Access, membership: Membership) -> bool:
    """A member's sessions: the tenant's own customer admins and MSSP admins (who administer
    every tenant); never another tenant's admin."""
    return administers(access, membership.tenant_id)


def may_end_staff_sessions(access: Access, user: User) -> bool:
    """An MSSP staff member's sessions: MSSP admins only."""
    return access.is_mssp_admin and user.is_mssp_staff


def may_set_session_limits(access: Access, tenant: Tenant | int) -> bool:
    """A tenant's stricter session limits: its customer admins and MSSP admins."""
    return administers(access, tenant)


# --- the second factor -------------------------------------------------------------------------
def may_reset_member_second_factor(access: Access, membership: Membership) -> bool:
    """A member who lost their device: the tenant's own customer admins and MSSP admins; never
    another tenant's admin, never a viewer or responder."""
    return administers(access, membership.tenant_id)


def may_reset_staff_second_factor(access: Access, user: User) -> bool:
    """An MSSP staff member's second factor: MSSP admins only."""
    return access.is_mssp_admin and user.is_mssp_staff


def reads_staff_sessions(access: Access) -> bool:
    """The staff sessions page: MSSP admins (who alone end staff sessions)."""
    return access.is_mssp_admin
