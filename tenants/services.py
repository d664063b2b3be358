"""Workflows of the tenants app: members, tokens, staff entitlements. Each writes the audit log."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from guardian.shortcuts import assign_perm, get_objects_for_user, remove_perm

from . import audit, events, policy
from .access import access_for
from .actions import Invalid
from .jobs import enqueue
from .mail import subject as mail_subject
from .models import ApiToken, Membership, Tenant, User

# tenants.permissions still reads the roles' scopes from here; the rule is tenants.policy's.


# --- tokens ------------------------------------------------------------------------------------
class TokenInvalid(Invalid, ValueError):
    """The token asked for cannot be issued: no scope, a retired scope, or one beyond the
    role (400)."""


class BeyondParent(TokenInvalid):
    """A token asked to mint a token with scopes it does not carry itself: the API answers
    403, as for any request beyond what its token carries."""

    status_code = 403


def token_issue(
    user: User,
    *,
    name: str,
    scopes: frozenset[str] | None = None,
    expires_at: datetime | None = None,
    parent: ApiToken | None = None,
    request: HttpRequest | None = None,
) -> tuple[str, ApiToken]:
    """Create a token; returns the raw token, which is never stored and never shown again.

    With `parent` (the token the request that mints this one came with), the new token has at
    most the parent's scopes (default: all of them) and expires no later than it, so a token
    can neither widen nor outlive itself; revoking the parent revokes it (token_revoke)."""
    allowed = policy.scopes_allowed(access_for(user))
    if parent is not None:
        allowed &= parent.granted_scopes
    scopes = allowed if scopes is None else frozenset(scopes)
    if scopes & ApiToken.RETIRED_SCOPES:
        raise TokenInvalid(
            "'intake' is not a token scope: a SIEM or sensor sends alerts with its intake "
            "source's own key (POST /api/v1/intake/{source}/)."
        )
    if not scopes:
        raise TokenInvalid("A token needs at least one scope.")
    if parent is not None and not scopes <= parent.granted_scopes:
        raise BeyondParent("A token cannot create a token with scopes it lacks.")
    if not scopes <= allowed:
        raise TokenInvalid("Your role cannot grant: " + ", ".join(sorted(scopes - allowed)) + ".")
    expires_at = expires_at or timezone.now() + settings.API_TOKEN_DEFAULT_TTL
    if parent is not None and parent.expires_at is not None:
        expires_at = min(expires_at, parent.expires_at)
    raw, prefix, digest = ApiToken.generate()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        digest=digest,
        scopes=sorted(scopes),
        expires_at=expires_at,
        parent=parent,
    )
    audit.record(
        "token.created",
        actor=user,
        tenant=tenant_id_of(user),
        obj=token,
        request=request,
        summary=f"API token '{name}' created"
        + (f" by token '{parent.name}' ({parent.prefix}…)" if parent is not None else ""),
        data={
            "scopes": token.scopes,
            "expires_at": expires_at.isoformat(),
            "parent": str(parent.pk) if parent is not None else None,
        },
    )
    return raw, token


def token_descendants(token: ApiToken) -> list[ApiToken]:
    """The tokens `token` minted, the tokens they minted, and so on."""
    found: list[ApiToken] = []
    seen = {token.pk}
    level = [token.pk]
    while level:
        children = list(ApiToken.objects.filter(parent_id__in=level).exclude(pk__in=seen))
        found += children
        seen |= {child.pk for child in children}
        level = [child.pk for child in children]
    return found


def token_revoke(token: ApiToken, *, request: HttpRequest | None = None) -> None:
    """Revoke `token` and every token it minted, recursively: none outlives its parent."""
    now = timezone.now()
    descendants = token_descendants(token)
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    children = ApiToken.objects.filter(
        pk__in=[child.pk for child in descendants], revoked_at__isnull=True
    )
    child_ids = sorted(str(pk) for pk in children.values_list("pk", flat=True))
    children.update(revoked_at=now)
    if updated or child_ids:
        audit.record(
            "token.revoked",
            tenant=tenant_id_of(token.user),
            obj=token,
            request=request,
            summary=f"API token '{token.name}' revoked"
            + (f" with {len(child_ids)} token(s) it created" if child_ids else ""),
            data={"children": child_ids} if child_ids else {},
        )
        events.entitlements_changed(token.user_id)  # its open sockets close


def tenant_id_of(user: User) -> int | None:
    """The customer tenant of `user` (None for MSSP staff), for audit entries."""
    return access_for(user).customer_tenant_id


# --- members -----------------------------------------------------------------------------------
def sync_responder_permission(membership: Membership, *, removed: bool = False) -> None:
    """Responders of a tenant hold guardian's respond_escalations on it: the permission that
    lets them accept or decline its escalations. Others do not."""
    tenant, user = membership.tenant, membership.user
    if membership.role == Membership.Role.RESPONDER and not removed:
        assign_perm("tenants.respond_escalations", user, tenant)
    else:
        remove_perm("tenants.respond_escalations", user, tenant)


def member_add(
    tenant: Tenant,
    *,
    username: str,
    email: str,
    role: str,
    password: str | None,
    request: HttpRequest | None = None,
) -> Membership:
    """A new customer user in `tenant`. Without a password they get a set-password link."""
    user = User(username=username, email=email)
    if password:
        validate_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    membership: Membership = Membership.objects.create(tenant=tenant, user=user, role=role)
    sync_responder_permission(membership)
    audit.record(
        "membership.created",
        tenant=tenant,
        obj=membership,
        request=request,
        summary=f"{username} added as {role}",
        data={"username": username, "role": role},
    )
    if not password:
        enqueue("tenants.tasks.send_set_password_link", tenant.pk, str(membership.pk))
    return membership


class LastAdmin(Invalid, ValueError):
    """The change would leave the tenant without a customer admin to manage it."""


def member_set_role(
    membership: Membership, role: str, *, request: HttpRequest | None = None
) -> Membership:
    """Raises LastAdmin rather than demote the tenant's only active admin."""
    previous = membership.role
    if previous == Membership.Role.ADMIN and role != Membership.Role.ADMIN:
        others = (
            Membership.objects.for_tenant(membership.tenant_id)
            .filter(role=Membership.Role.ADMIN, user__is_active=True)
            .exclude(pk=membership.pk)
        )
        if not others.exists():
            raise LastAdmin(
                f"{membership.user.username} is the only admin of {membership.tenant.name}: "
                "make someone else admin first."
            )
    if previous != role:
        membership.role = role
        membership.save(update_fields=["role"])
        sync_responder_permission(membership)
        audit.record(
            "membership.role_changed",
            tenant=membership.tenant_id,
            obj=membership,
            request=request,
            summary=f"{membership.user.username}: {previous} → {role}",
            data={"from": previous, "to": role},
        )
    return membership


def member_remove(membership: Membership, *, request: HttpRequest | None = None) -> None:
    """A customer user belongs to exactly one tenant: leaving it ends the account."""
    user = membership.user
    audit.record(
        "membership.removed",
        tenant=membership.tenant_id,
        obj=membership,
        request=request,
        summary=f"{user.username} removed",
        data={"username": user.username},
    )
    ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    sync_responder_permission(membership, removed=True)
    membership.delete()
    user.is_active = False
    user.save(update_fields=["is_active"])
    events.entitlements_changed(user.pk)


def member_send_set_password_link(tenant_id: int, membership_id: str) -> bool:
    """Send the link once: the membership row is locked and marked in the same transaction."""
    membership = (
        Membership.objects.for_tenant(tenant_id)
        .select_for_update()
        .select_related("user", "tenant")
        .filter(pk=membership_id)
        .first()
    )
    if membership is None or membership.invited_at is not None:
        return False
    user = membership.user
    if user.has_usable_password() or not user.email:
        return False
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = f"{settings.PORTAL_BASE_URL}/reset/{uid}/{token}/"
    send_mail(
        subject=mail_subject(f"Your {membership.tenant.name} security portal account"),
        message=(
            f"Hello {user.username},\n\nan account was created for you on the security portal "
            f"of {membership.tenant.name}. Choose your password here:\n\n{link}\n\n"
            "The link works once and expires in a few days. Then sign in with the username "
            f"{user.username}.\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
    membership.invited_at = timezone.now()
    membership.save(update_fields=["invited_at"])
    return True


# --- staff -------------------------------------------------------------------------------------
def staff_tenants(user: User, perm: str = "work_tenant") -> list[Tenant]:
    return list(
        get_objects_for_user(
            user,
            f"tenants.{perm}",
            klass=Tenant,
            accept_global_perms=False,
            with_superuser=False,
        )
    )


@transaction.atomic
def staff_set_tenants(
    user: User,
    tenants: list[Tenant],
    *,
    perm: str = "work_tenant",
    request: HttpRequest | None = None,
) -> None:
    """Make `user` work exactly `tenants` (guardian object permissions), audited per change."""
    current = {t.pk: t for t in staff_tenants(user, perm)}
    wanted = {t.pk: t for t in tenants}
    for tenant_id in wanted.keys() - current.keys():
        assign_perm(perm, user, wanted[tenant_id])
        audit.record(
            "permission.granted",
            tenant=tenant_id,
            obj=user,
            request=request,
            summary=f"{user.username} may now {perm.replace('_', ' ')} {wanted[tenant_id].slug}",
            data={"permission": perm, "user": user.username},
        )
    for tenant_id in current.keys() - wanted.keys():
        remove_perm(perm, user, current[tenant_id])
        audit.record(
            "permission.revoked",
            tenant=tenant_id,
            obj=user,
            request=request,
            summary=f"{user.username} no longer may {perm.replace('_', ' ')} "
            f"{current[tenant_id].slug}",
            data={"permission": perm, "user": user.username},
        )
    if wanted.keys() != current.keys():
        events.entitlements_changed(user.pk)
