"""What a caller may see: the tenants it is entitled to, computed on the server once per
request, socket or task, and handed on explicitly (no thread-local "current tenant")."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.models import AnonymousUser
from guardian.shortcuts import get_objects_for_user

from .models import ANALYST_ROLES, Membership, StaffRole, Tenant, User

# Role questions are answered here, once; rules about one app's objects live in that app's
# `policy` module and are built from these.
SUPERVISOR_ROLES = frozenset({StaffRole.LEAD, StaffRole.MANAGER, StaffRole.ADMIN})
SENIOR_ROLES = SUPERVISOR_ROLES | {StaffRole.ANALYST_L2, StaffRole.ANALYST_L3}
CUSTOMER_WORKER_ROLES = frozenset({Membership.Role.RESPONDER, Membership.Role.ADMIN})


@dataclass(frozen=True)
class Access:
    user_id: int | None
    tenant_ids: frozenset[int] = field(default_factory=frozenset)
    staff_role: str = ""
    is_superuser: bool = False
    customer_role: str = ""
    customer_tenant_id: int | None = None
    # For token requests, the scopes the token carries; None for a session (all the role has).
    token_scopes: frozenset[str] | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_mssp_staff(self) -> bool:
        return bool(self.staff_role) or self.is_superuser

    @property
    def is_mssp_admin(self) -> bool:
        return self.is_superuser or self.staff_role == StaffRole.ADMIN

    @property
    def sees_all_tenants(self) -> bool:
        return self.is_mssp_admin or self.staff_role == StaffRole.MANAGER

    @property
    def is_supervisor(self) -> bool:
        """Leads, managers and admins: they oversee analysts' work and the SLA's health."""
        return self.is_superuser or self.staff_role in SUPERVISOR_ROLES

    @property
    def manages_staff(self) -> bool:
        """Admins and managers: they assign staff to customers."""
        return self.is_mssp_admin or self.staff_role == StaffRole.MANAGER

    @property
    def is_senior_staff(self) -> bool:
        """MSSP staff above first-line triage (L2 and up)."""
        return self.is_superuser or self.staff_role in SENIOR_ROLES

    @property
    def is_customer(self) -> bool:
        return self.customer_tenant_id is not None

    @property
    def is_customer_admin(self) -> bool:
        return self.customer_role == Membership.Role.ADMIN

    @property
    def is_customer_worker(self) -> bool:
        """A customer's in-house team: responders (who work) and admins."""
        return self.customer_role in CUSTOMER_WORKER_ROLES

    @property
    def works(self) -> bool:
        """Changes things at all: MSSP staff, or a customer's in-house team (not viewers)."""
        return self.is_mssp_staff or self.is_customer_worker

    def can_administer(self, tenant_id: int) -> bool:
        """MSSP admins administer every tenant; a customer admin their own."""
        if self.is_mssp_admin:
            return True
        return self.is_customer_admin and self.customer_tenant_id == tenant_id

    def has_scope(self, scope: str) -> bool:
        return self.token_scopes is None or scope in self.token_scopes


NO_ACCESS = Access(user_id=None)


def access_for(
    user: User | AnonymousUser | None, token_scopes: Iterable[str] | None = None
) -> Access:
    """The tenants `user` may touch. Runs before any tenant context exists: it reads the tenant
    registry and permission tables (not tenant-owned) and the user's own membership (which
    row-level security lets a user read once mssp.user_id is set, see rls)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return NO_ACCESS
    scopes = frozenset(token_scopes) if token_scopes is not None else None
    if user.is_superuser or user.staff_role:
        return Access(
            user_id=user.pk,
            tenant_ids=frozenset(_staff_tenant_ids(user)),
            staff_role=user.staff_role or StaffRole.ADMIN,
            is_superuser=user.is_superuser,
            token_scopes=scopes,
        )
    membership = _own_membership(user)
    if membership is None or membership.tenant.status != Tenant.Status.ACTIVE:
        return Access(user_id=user.pk, token_scopes=scopes)
    return Access(
        user_id=user.pk,
        tenant_ids=frozenset({membership.tenant_id}),
        customer_role=membership.role,
        customer_tenant_id=membership.tenant_id,
        token_scopes=scopes,
    )


def _staff_tenant_ids(user: User) -> set[int]:
    if user.is_superuser or user.staff_role in (StaffRole.ADMIN, StaffRole.MANAGER):
        return set(Tenant.objects.values_list("pk", flat=True))
    perms = ["tenants.work_tenant"]
    if user.staff_role == StaffRole.LEAD:
        perms.append("tenants.lead_tenant")
    if user.staff_role not in ANALYST_ROLES and user.staff_role != StaffRole.LEAD:
        return set()
    tenants = get_objects_for_user(
        user, perms, klass=Tenant, any_perm=True, accept_global_perms=False, with_superuser=False
    )
    return set(tenants.values_list("pk", flat=True))


def _own_membership(user: User) -> Membership | None:
    from .rls import tenant_scope

    # Read inside a scope that names only the user: row-level security admits exactly their
    # own membership row.
    with tenant_scope([], user_id=user.pk):
        membership: Membership | None = (
            Membership.objects.dangerously_unscoped("a user reading their own membership")
            .select_related("tenant")
            .filter(user_id=user.pk)
            .first()
        )
    return membership
