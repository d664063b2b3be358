"""What a user can do in tenant administration, one `Action` each (tenants.actions): the
settings pages (tenants.views) and the administration API (tenants.api.views) both run these,
so a member, a token or a contact is added, changed and removed by one path, checked by one
rule (tenants.policy) and validated by one serializer.

Members: add, change role, remove. API tokens: issue, revoke (every user their own).
Contacts: create, update, delete. Staff: change (the SLA health page changes which tenants
each works and leads; the staff API also their account). Sessions: every user their own,
admins their members' and MSSP admins the staff's. The second factor: an admin resets a
member's (a lost phone), an MSSP admin a staff member's. Webhooks and tenants have no settings
page; their rules are tenants.policy's, their writes the API's alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from allauth.mfa.models import Authenticator
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from . import audit, events, policy, services, sessions
from .access import Access
from .actions import Action, Invalid, Refused
from .api.serializers import (
    ContactSerializer,
    ContactUpdateSerializer,
    DeviceNoticeSerializer,
    MemberCreateSerializer,
    MemberUpdateSerializer,
    SecondFactorPolicySerializer,
    SessionLimitsSerializer,
    StaffWriteSerializer,
    TokenCreateSerializer,
)
from .models import ApiToken, Contact, Membership, StaffRole, Tenant, User, UserSession

# The API's words when a caller who may read a tenant's administration may not change it.
CHANGE_REFUSED = "Only MSSP admins and this customer's admins may change this."


# --- members -----------------------------------------------------------------------------------
def check_manage_members(access: Access, target: Tenant | Membership) -> None:
    tenant = target if isinstance(target, Tenant) else target.tenant_id
    if not policy.may_manage_members(access, tenant):
        raise Refused(CHANGE_REFUSED)


def add_member(
    tenant: Tenant,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    username: str,
    email: str,
    role: str,
    password: str = "",
) -> Membership:
    try:
        with transaction.atomic():
            return services.member_add(
                tenant,
                username=username,
                email=email,
                role=role,
                password=password or None,
                request=request,
            )
    except IntegrityError:  # the same name, added a moment ago by someone else
        raise Invalid({"username": ["That username was taken a moment ago."]}) from None


def member_added(membership: Membership) -> str:
    user = membership.user
    how = (
        f"They sign in as {user.username} with the password you chose."
        if user.has_usable_password()
        else f"A link to choose a password is on its way to {user.email}."
    )
    return f"{user.username} added as {membership.role}. {how}"


MEMBER_ADD = Action(
    "member.add",
    do=add_member,
    check=check_manage_members,
    serializer=MemberCreateSerializer,
    done=member_added,
    step_up=True,  # a second factor given recently (tenants.mfa)
)


class RoleChange(NamedTuple):
    membership: Membership
    previous: str


def set_member_role(
    membership: Membership, *, actor: User, access: Access, request: HttpRequest | None, role: str
) -> RoleChange:
    """services.LastAdmin (an Invalid) rather than leave the tenant without an admin."""
    previous = membership.role
    services.member_set_role(membership, role, request=request)
    return RoleChange(membership, previous)


def role_changed(change: RoleChange) -> str:
    username, role = change.membership.user.username, change.membership.role
    if change.previous == role:
        return f"{username} already is {role}."
    return f"{username} is now {role} (was {change.previous})."


MEMBER_SET_ROLE = Action(
    "member.set_role",
    do=set_member_role,
    check=check_manage_members,
    serializer=MemberUpdateSerializer,
    done=role_changed,
    step_up=True,  # a second factor given recently (tenants.mfa)
)


def remove_member(
    membership: Membership, *, actor: User, access: Access, request: HttpRequest | None
) -> Membership:
    """Removing a member closes their account: an admin removing themselves would lock the
    door behind them."""
    if membership.user_id == access.user_id:
        raise Invalid("You cannot remove yourself.")
    sessions.end_all(membership.user_id, UserSession.EndReason.ADMIN, actor=actor, request=request)
    services.member_remove(membership, request=request)
    return membership


MEMBER_REMOVE = Action(
    "member.remove",
    do=remove_member,
    check=check_manage_members,
    done=lambda membership: (
        f"{membership.user.username} removed: their account is closed and their API tokens revoked."
    ),
    step_up=True,  # a second factor given recently (tenants.mfa)
)


# --- API tokens (every user, their own) --------------------------------------------------------
class IssuedToken(NamedTuple):
    raw: str  # shown once, never stored
    token: ApiToken


def issue_token(
    user: User,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    name: str,
    expires_at: datetime | None,
    scopes: list[str] | None = None,
) -> IssuedToken:
    """For a request made with a token, the new token is its child: at most its scopes and
    lifetime, revoked with it (services.token_issue). services.TokenInvalid and BeyondParent
    are the refusals."""
    sent_with = getattr(request, "auth", None)
    raw, token = services.token_issue(
        user,
        name=name,
        scopes=frozenset(scopes) if scopes is not None else None,
        expires_at=expires_at,
        parent=sent_with if isinstance(sent_with, ApiToken) else None,
        request=request,
    )
    return IssuedToken(raw, token)


TOKEN_ISSUE = Action(
    "token.issue",
    do=issue_token,
    serializer=TokenCreateSerializer,
    done=lambda issued: f"Token '{issued.token.name}' created.",
    step_up=True,  # a second factor given recently (tenants.mfa)
)


def check_own_token(access: Access, token: ApiToken) -> None:
    if not policy.owns_token(access, token):
        raise Refused("Only the token's owner may revoke it.")


def revoke_token(
    token: ApiToken, *, actor: User, access: Access, request: HttpRequest | None
) -> ApiToken:
    services.token_revoke(token, request=request)
    return token


TOKEN_REVOKE = Action(
    "token.revoke",
    do=revoke_token,
    check=check_own_token,
    done=lambda token: f"'{token.name}' revoked: it no longer works.",
)


# --- contacts ----------------------------------------------------------------------------------
def check_manage_contacts(access: Access, target: Tenant | Contact) -> None:
    tenant = target if isinstance(target, Tenant) else target.tenant_id
    if not policy.may_manage_contacts(access, tenant):
        raise Refused(CHANGE_REFUSED)


def audit_contact(verb: str, contact: Contact, request: HttpRequest | None) -> None:
    audit.record(
        f"contact.{verb}",
        tenant=contact.tenant_id,
        obj=contact,
        request=request,
        summary=f"contact {contact} {verb}",
        data=ContactSerializer(contact).data,
    )


def create_contact(
    tenant: Tenant, *, actor: User, access: Access, request: HttpRequest | None, **fields: Any
) -> Contact:
    contact: Contact = Contact.objects.create(tenant=tenant, **fields)
    audit_contact("created", contact, request)
    return contact


def update_contact(
    contact: Contact, *, actor: User, access: Access, request: HttpRequest | None, **fields: Any
) -> Contact:
    for name, value in fields.items():
        setattr(contact, name, value)
    contact.save()
    audit_contact("updated", contact, request)
    return contact


def delete_contact(
    contact: Contact, *, actor: User, access: Access, request: HttpRequest | None
) -> Contact:
    audit_contact("deleted", contact, request)  # while it still has its id
    contact.delete()
    return contact


CONTACT_CREATE = Action(
    "contact.create",
    do=create_contact,
    check=check_manage_contacts,
    serializer=ContactSerializer,
    done=lambda contact: f"{contact.name} added to the contacts.",
)
CONTACT_UPDATE = Action(
    "contact.update",
    do=update_contact,
    check=check_manage_contacts,
    serializer=ContactUpdateSerializer,
    done=lambda contact: f"{contact.name} saved.",
)
CONTACT_DELETE = Action(
    "contact.delete",
    do=delete_contact,
    check=check_manage_contacts,
    done=lambda contact: f"{contact.name} removed from the contacts.",
)


# --- staff -------------------------------------------------------------------------------------
STAFF_FIELDS = ("username", "email", "first_name", "last_name", "staff_role", "is_active")


def check_changes_staff(access: Access, member: User) -> None:
    """The staff list's writers: MSSP admins, and managers (assignments only, see
    update_staff)."""
    if not access.manages_staff:
        raise Refused("Only MSSP managers and admins change who works which tenant.")


def save_staff(
    user: User, changes: dict[str, Any], *, created: bool, request: HttpRequest | None
) -> User:
    """Write a staff account and its assignments, audited: the account as staff.created or
    staff.updated (never the password), each tenant worked or led as permission.granted or
    permission.revoked."""
    for field in STAFF_FIELDS:
        if field in changes:
            setattr(user, field, changes[field])
    if changes.get("password"):
        user.set_password(changes["password"])
    elif created:
        user.set_unusable_password()
    user.is_staff = user.staff_role == StaffRole.ADMIN  # Django admin site for MSSP admins
    user.save()
    if not created:
        events.entitlements_changed(user.pk)  # role or activity may change what they see
    audit.record(
        "staff.created" if created else "staff.updated",
        obj=user,
        request=request,
        summary=f"staff {user.username} ({user.staff_role})",
        data={k: v for k, v in changes.items() if k not in ("password", "tenants", "leads")},
    )
    if "tenants" in changes:
        services.staff_set_tenants(user, changes["tenants"], request=request)
    if "leads" in changes:
        services.staff_set_tenants(user, changes["leads"], perm="lead_tenant", request=request)
    return user


class StaffChange(NamedTuple):
    """A staff member as changed, and the assignments the change set (for the page's
    message)."""

    member: User
    tenants: list[Tenant] | None
    leads: list[Tenant] | None


def update_staff(
    member: User, *, actor: User, access: Access, request: HttpRequest | None, **changes: Any
) -> StaffChange:
    if not policy.may_change_staff(access, changes):
        raise Refused(
            "Managers change which tenants staff work and lead; accounts and roles are the "
            "MSSP admins'."
        )
    if member.pk == actor.pk and changes.get("is_active") is False:
        raise Invalid("You cannot deactivate yourself.")
    save_staff(member, changes, created=False, request=request)
    return StaffChange(member, changes.get("tenants"), changes.get("leads"))


def _staff_changed(change: StaffChange) -> str:
    def names(tenants: list[Tenant]) -> str:
        return ", ".join(sorted(t.name for t in tenants))

    message = f"{change.member.username} saved."
    if change.tenants is not None:
        message = f"{change.member.username} now works {names(change.tenants) or 'no tenant'}"
        if change.leads is not None:
            message += f" and leads {names(change.leads) or 'none'}"
        message += "."
    return message


STAFF_UPDATE = Action(
    "staff.update",
    do=update_staff,
    check=check_changes_staff,
    serializer=StaffWriteSerializer,
    changes_target=True,
    done=_staff_changed,
    step_up=True,  # a second factor given recently (tenants.mfa)
)


# --- sessions (tenants.sessions) ---------------------------------------------------------------
SESSION_NOT_YOURS = "That is not one of your sessions."


def check_own_session(access: Access, target: UserSession) -> None:
    if not policy.owns_session(access, target):
        raise Refused(SESSION_NOT_YOURS)


def end_own_session(
    record: UserSession, *, actor: User, access: Access, request: HttpRequest | None
) -> UserSession:
    if not sessions.end(record, UserSession.EndReason.USER, actor=actor, request=request):
        raise Invalid("That session has ended already.", status_code=409)
    return record


SESSION_END = Action(
    "session.end",
    do=end_own_session,
    check=check_own_session,
    done=lambda record: f"The session on {record.device} was ended.",
)


def check_own_sessions(access: Access, target: User) -> None:
    if not access.is_authenticated or target.pk != access.user_id:
        raise Refused(SESSION_NOT_YOURS)


def end_other_sessions(
    user: User, *, actor: User, access: Access, request: HttpRequest | None
) -> int:
    """Every session of the user but the one this request came with."""
    current = sessions.record_of(request) if request is not None else None
    return sessions.end_all(
        user.pk, UserSession.EndReason.USER, actor=actor, request=request, keep=current
    )


SESSIONS_END_OTHERS = Action(
    "session.end_others",
    do=end_other_sessions,
    check=check_own_sessions,
    done=lambda count: f"{count} other session{'s' if count != 1 else ''} ended.",
)


def check_end_member_sessions(access: Access, target: Membership | User) -> None:
    if isinstance(target, Membership):
        if not policy.may_end_member_sessions(access, target):
            raise Refused(CHANGE_REFUSED)
    elif not policy.may_end_staff_sessions(access, target):
        raise Refused("Only MSSP admins end the sessions of MSSP staff.")


def end_user_sessions(
    target: Membership | User, *, actor: User, access: Access, request: HttpRequest | None
) -> int:
    """Every live session of a member (a customer admin's or an MSSP admin's) or of an MSSP
    staff member (an MSSP admin's)."""
    user = target.user if isinstance(target, Membership) else target
    return sessions.end_all(user.pk, UserSession.EndReason.ADMIN, actor=actor, request=request)


def check_end_staff_session(access: Access, target: UserSession) -> None:
    if not policy.may_end_staff_sessions(access, target.user):
        raise Refused("Only MSSP admins end the sessions of MSSP staff.")


def end_staff_session(
    record: UserSession, *, actor: User, access: Access, request: HttpRequest | None
) -> UserSession:
    """One session of an MSSP staff member (an MSSP admin's; the staff sessions page)."""
    if not sessions.end(record, UserSession.EndReason.ADMIN, actor=actor, request=request):
        raise Invalid("That session has ended already.", status_code=409)
    return record


STAFF_SESSION_END = Action(
    "session.end_staff",
    do=end_staff_session,
    check=check_end_staff_session,
    done=lambda record: f"The session of {record.user.username} on {record.device} was ended.",
)


USER_SESSIONS_END = Action(
    "session.end_user",
    do=end_user_sessions,
    check=check_end_member_sessions,
    done=lambda count: f"{count} session{'s' if count != 1 else ''} ended.",
)


def check_session_limits(access: Access, target: Tenant) -> None:
    if not policy.may_set_session_limits(access, target):
        raise Refused(CHANGE_REFUSED)


def set_session_limits(
    tenant: Tenant, *, actor: User, access: Access, request: HttpRequest | None, **limits: Any
) -> Tenant:
    before = {name: getattr(tenant, name) for name in limits}
    for name, value in limits.items():
        setattr(tenant, name, value)
    tenant.save(update_fields=[*limits, "updated_at"])
    sessions.apply_tenant_limits(tenant)
    audit.record(
        "tenant.session_limits",
        tenant=tenant,
        obj=tenant,
        request=request,
        summary=f"session limits of {tenant.slug} changed",
        data={name: {"from": before[name], "to": value} for name, value in limits.items()},
    )
    return tenant


SESSION_LIMITS_SET = Action(
    "tenant.session_limits",
    do=set_session_limits,
    check=check_session_limits,
    serializer=SessionLimitsSerializer,
    changes_target=True,
    done="Session limits saved.",
)


def set_mfa_required(
    tenant: Tenant, *, actor: User, access: Access, request: HttpRequest | None, mfa_required: bool
) -> Tenant:
    """From now on (true) every user of the tenant must have a second factor: a member
    without one is taken to enrolment at their next request (tenants.mfa)."""
    before = tenant.mfa_required
    tenant.mfa_required = mfa_required
    tenant.save(update_fields=["mfa_required", "updated_at"])
    audit.record(
        "tenant.mfa_required",
        tenant=tenant,
        obj=tenant,
        request=request,
        summary=f"second factor {'required' if mfa_required else 'optional'} for {tenant.slug}",
        data={"mfa_required": {"from": before, "to": mfa_required}},
    )
    return tenant


MFA_REQUIRED_SET = Action(
    "tenant.mfa_required",
    do=set_mfa_required,
    check=check_session_limits,  # the same people: its customer admins and MSSP admins
    serializer=SecondFactorPolicySerializer,
    changes_target=True,
    done=lambda tenant: (
        "Every member now needs a second factor."
        if tenant.mfa_required
        else "A second factor is now optional for members."
    ),
)


def set_device_notices(
    user: User,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    notify_new_device: bool,
) -> User:
    user.notify_new_device = notify_new_device
    user.save(update_fields=["notify_new_device"])
    audit.record(
        "auth.new_device_notices",
        actor=actor,
        tenant=access.customer_tenant_id,
        obj=user,
        request=request,
        summary=f"{user.username} turned new-device e-mails {'on' if notify_new_device else 'off'}",
        data={"notify_new_device": notify_new_device},
    )
    return user


DEVICE_NOTICES_SET = Action(
    "session.device_notices",
    do=set_device_notices,
    check=check_own_sessions,
    serializer=DeviceNoticeSerializer,
    done=lambda user: "New-device e-mails are " + ("on." if user.notify_new_device else "off."),
)


# --- the second factor: an admin's reset (a lost phone) -----------------------------------------
class SecondFactorReset(NamedTuple):
    user: User
    removed: list[str]  # the kinds removed: "recovery_codes", "totp", "webauthn"
    sessions_ended: int


def check_reset_second_factor(access: Access, target: Membership | User) -> None:
    if isinstance(target, Membership):
        if not policy.may_reset_member_second_factor(access, target):
            raise Refused(CHANGE_REFUSED)
    elif not policy.may_reset_staff_second_factor(access, target):
        raise Refused("Only MSSP admins reset the second factor of MSSP staff.")


def reset_second_factor(
    target: Membership | User, *, actor: User, access: Access, request: HttpRequest | None
) -> SecondFactorReset:
    """Delete every authenticator of the member (app, security keys, recovery codes) and end
    their sessions (their sockets close): where a second factor is mandatory for them, their
    next login takes them to enrolment (tenants.mfa). Audited in the member's tenant."""
    user = target.user if isinstance(target, Membership) else target
    if user.pk == actor.pk:
        raise Invalid(
            "You cannot reset your own second factor: change it on your Second factor page."
        )
    authenticators = Authenticator.objects.filter(user_id=user.pk)
    removed = sorted(set(authenticators.values_list("type", flat=True)))
    authenticators.delete()
    ended = sessions.end_all(user.pk, UserSession.EndReason.ADMIN, actor=actor, request=request)
    audit.record(
        "auth.mfa_reset",
        actor=actor,
        tenant=target.tenant_id if isinstance(target, Membership) else None,
        obj=user,
        request=request,
        summary=f"{actor.username} reset the second factor of {user.username}",
        data={"removed": removed, "sessions_ended": ended},
    )
    return SecondFactorReset(user, removed, ended)


def _second_factor_reset(reset: SecondFactorReset) -> str:
    if not reset.removed:
        return f"{reset.user.username} had no second factor; their sessions were ended."
    return (
        f"The second factor of {reset.user.username} was reset and their sessions ended: "
        "they set up a new one at their next login."
    )


SECOND_FACTOR_RESET = Action(
    "second_factor.reset",
    do=reset_second_factor,
    check=check_reset_second_factor,
    done=_second_factor_reset,
    step_up=True,  # a second factor given recently (tenants.mfa)
)
