"""Signed-in sessions: their records (UserSession), timeouts, ending them, new-device notices.

A session's record is made when it logs in (tenants.signals) and named in the session's own
data (SESSION_RECORD), so the key may rotate (a password change) and the record stays. Every
signed-in request reads that one row (tenants.middleware): ended, past the idle limit or past
the absolute limit, the request is signed out; otherwise `last_seen_at` is written at most once
a minute (TOUCH_EVERY), so most requests cost one small read. The live stream's sockets ask the
same question when they re-check (tenants.consumers), and ending a session tells its sockets at
once through the user's channel-layer group (tenants.events.session_digest_ended).

Limits: the MSSP's (SESSION_IDLE_MINUTES, SESSION_ABSOLUTE_MINUTES) for everyone; a tenant may
set stricter ones for its users (copied into their records so a request reads one row).

New devices: a browser gets a long-lived cookie of 32 random bytes at its first sign-in; only
its digest is stored, per user (KnownDevice). A sign-in whose cookie is missing or unknown for
this user is from a new device: the user is told by e-mail (unless they switched it off),
except at their very first sign-in, when every device is new. A cookie is per browser, not per
person, so clearing cookies makes a known browser new again: a false alarm, never a missed one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from allauth.account.internal.flows.login import get_authentication_records
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from . import audit, events, mail, network
from .jobs import enqueue
from .models import KnownDevice, Membership, Tenant, User, UserSession
from .rls import rls_bypass
from .useragent import describe

SESSION_RECORD = "_mssp_session"  # the session data's name for its record's id
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is bookkeeping: at most one write a minute
NEW_DEVICE_ATTR = "_mssp_new_device_cookie"  # the cookie a response must set (middleware)
RECORD_ATTR = "_mssp_session_record"  # the request's record, as check_request read it

ENDED_MESSAGES = {
    UserSession.EndReason.IDLE: "You were signed out after a period of inactivity. "
    "Sign in again to continue.",
    UserSession.EndReason.ABSOLUTE: "Your session reached its maximum length and was ended. "
    "Sign in again to continue.",
    UserSession.EndReason.USER: "This session was ended from your sessions page. "
    "Sign in again to continue.",
    UserSession.EndReason.ADMIN: "An administrator ended this session. Sign in again to continue.",
    UserSession.EndReason.LOGOUT: "This session was signed out. Sign in again to continue.",
}


# --- limits ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limits:
    idle_minutes: int
    absolute_minutes: int


def mssp_limits() -> Limits:
    return Limits(settings.SESSION_IDLE_MINUTES, settings.SESSION_ABSOLUTE_MINUTES)


def tenant_limits(tenant: Tenant) -> Limits:
    """What applies to the tenant's users: its own where stricter than the MSSP's."""
    mssp = mssp_limits()
    return Limits(
        min(mssp.idle_minutes, tenant.session_idle_minutes or mssp.idle_minutes),
        min(mssp.absolute_minutes, tenant.session_absolute_minutes or mssp.absolute_minutes),
    )


def limits_of(record: UserSession) -> Limits:
    mssp = mssp_limits()
    return Limits(
        min(mssp.idle_minutes, record.idle_minutes or mssp.idle_minutes),
        min(mssp.absolute_minutes, record.absolute_minutes or mssp.absolute_minutes),
    )


def deadline(record: UserSession) -> datetime:
    """When the session ends if nothing more happens: idle or absolute, whichever is first."""
    limits = limits_of(record)
    return min(
        record.last_seen_at + timedelta(minutes=limits.idle_minutes),
        record.signed_in_at + timedelta(minutes=limits.absolute_minutes),
    )


def timed_out(record: UserSession, now: datetime) -> str:
    """The timeout the session is past ("idle", "absolute"), or ""."""
    limits = limits_of(record)
    if now >= record.signed_in_at + timedelta(minutes=limits.absolute_minutes):
        return UserSession.EndReason.ABSOLUTE
    if now >= record.last_seen_at + timedelta(minutes=limits.idle_minutes):
        return UserSession.EndReason.IDLE
    return ""


def is_live(record: UserSession, now: datetime | None = None) -> bool:
    return record.ended_at is None and not timed_out(record, now or timezone.now())


def apply_tenant_limits(tenant: Tenant) -> int:
    """The tenant's limits changed: its users' open sessions follow at once."""
    user_ids = Membership.objects.for_tenant(tenant.pk).values_list("user_id", flat=True)
    return UserSession.objects.filter(user_id__in=list(user_ids), ended_at__isnull=True).update(
        idle_minutes=tenant.session_idle_minutes, absolute_minutes=tenant.session_absolute_minutes
    )


# --- who the user is -------------------------------------------------------------------------
def tenant_of(user: User) -> Tenant | None:
    """A customer user's tenant (None for MSSP staff). Around login there is no tenant context
    yet: read like the login audit reads it (tenants.signals)."""
    if user.is_mssp_staff:
        return None
    with rls_bypass("sessions: the tenant of a signing-in user"):
        membership = (
            Membership.objects.dangerously_unscoped("the tenant of a signing-in user")
            .select_related("tenant")
            .filter(user_id=user.pk)
            .first()
        )
    return membership.tenant if membership is not None else None


def digest_of(session_key: str) -> str:
    return events.session_digest(session_key)


def user_agent_of(request: HttpRequest) -> str:
    return str(request.META.get("HTTP_USER_AGENT", ""))[:300]


# --- the life of a session -------------------------------------------------------------------
def started(
    request: HttpRequest, user: User, *, recognise_device: bool = True
) -> UserSession | None:
    """A session logged in: its record, and the e-mail (after commit) when its browser is new
    to the user and they want to be told."""
    session = getattr(request, "session", None)
    if session is None:
        return None
    if session.session_key is None:
        session.save()
    agent = user_agent_of(request)
    tenant = tenant_of(user)
    now = timezone.now()
    record = UserSession.objects.create(
        user=user,
        key_digest=digest_of(session.session_key),
        signed_in_at=now,
        last_seen_at=now,
        ip=network.client_ip(request),
        user_agent=agent,
        device=describe(agent),
        idle_minutes=tenant.session_idle_minutes if tenant else None,
        absolute_minutes=tenant.session_absolute_minutes if tenant else None,
        # allauth's second-factor stage ran before this login (tenants.mfa)
        second_factor_at=now if _passed_second_factor(request, user) else None,
    )
    session[SESSION_RECORD] = str(record.pk)
    if recognise_device and _new_device(request, user, record):
        enqueue(
            "tenants.tasks.send_new_device_notice", tenant.pk if tenant else None, str(record.pk)
        )
    return record


def _passed_second_factor(request: HttpRequest, user: User) -> bool:
    """The login being completed passed allauth's second-factor stage (tenants.mfa)."""
    records = get_authentication_records(request, user)
    return any(record.get("method") == "mfa" for record in records)


def record_of(request: HttpRequest) -> UserSession | None:
    session = getattr(request, "session", None)
    record_id = session.get(SESSION_RECORD) if session is not None else None
    user = getattr(request, "user", None)
    if not record_id or user is None or not user.is_authenticated:
        return None
    try:
        return UserSession.objects.filter(pk=record_id, user_id=user.pk).first()
    except (ValueError, TypeError, ValidationError):  # not a UUID: no record of ours
        return None


def check_request(request: HttpRequest) -> str:
    """The signed-in request's session: "" when it may go on (seen, at most once a minute),
    otherwise why it ended (the middleware signs it out)."""
    user = request.user
    if not user.is_authenticated:
        return ""
    session = request.session
    if not session.get(SESSION_RECORD):
        # signed in before sessions had records: give it one, from now (no sign-in happened
        # here, so no new-device e-mail)
        started(request, user, recognise_device=False)  # type: ignore[arg-type]  # a User
        return ""
    record = record_of(request)
    setattr(request, RECORD_ATTR, record)  # the second-factor check reads it (tenants.mfa)
    now = timezone.now()
    if record is None:
        return UserSession.EndReason.USER
    if record.ended_at is not None:
        return record.end_reason or UserSession.EndReason.USER
    reason = timed_out(record, now)
    if reason:
        end(record, reason, request=request)
        return reason
    changes: dict[str, Any] = {}
    key_digest = digest_of(session.session_key or "")
    if record.key_digest != key_digest:  # the key rotated (a password change)
        changes["key_digest"] = key_digest
    if now - record.last_seen_at >= TOUCH_EVERY:
        changes |= {"last_seen_at": now, "ip": network.client_ip(request)}
    if changes:
        UserSession.objects.filter(pk=record.pk).update(**changes)
    return ""


def end(
    record: UserSession,
    reason: str,
    *,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> bool:
    """End one session: its next request is signed out, its sockets close now. False when it
    had ended already."""
    now = timezone.now()
    with transaction.atomic():
        ended = UserSession.objects.filter(pk=record.pk, ended_at__isnull=True).update(
            ended_at=now, end_reason=reason, ended_by=actor
        )
        if not ended:
            return False
        record.ended_at, record.end_reason, record.ended_by = now, reason, actor
        timeout = reason in (UserSession.EndReason.IDLE, UserSession.EndReason.ABSOLUTE)
        if reason != UserSession.EndReason.LOGOUT:
            owner = record.user
            tenant = tenant_of(owner)
            audit.record(
                "auth.session_timeout" if timeout else "auth.session_ended",
                actor=None if timeout else actor,
                tenant=tenant,
                obj=owner,
                request=request,
                summary=(
                    f"{owner.username}'s session on {record.device} "
                    + (
                        f"timed out ({reason})"
                        if timeout
                        else f"ended by {actor.username if actor else 'the system'}"
                    )
                ),
                data={
                    "session": str(record.pk),
                    "reason": reason,
                    "device": record.device,
                    "session_ip": record.ip,
                },
            )
        events.session_digest_ended(record.user_id, record.key_digest)
    return True


def ended_at_logout(request: HttpRequest) -> UserSession | None:
    """The session logged out: its record ends (the logout's audit entry is the signal's)."""
    record = record_of(request)
    if record is not None:
        end(record, UserSession.EndReason.LOGOUT, actor=record.user, request=request)
    return record


def live_sessions(user_id: int) -> list[UserSession]:
    """The user's sessions that have not ended and are within their limits, newest first."""
    return live_sessions_of([user_id]).get(user_id, [])


def live_sessions_of(user_ids: list[int]) -> dict[int, list[UserSession]]:
    """live_sessions of several users in one query (the staff sessions page): by user id."""
    now = timezone.now()
    rows = UserSession.objects.filter(user_id__in=user_ids, ended_at__isnull=True).order_by(
        "-last_seen_at", "-signed_in_at"
    )
    by_user: dict[int, list[UserSession]] = {}
    for row in rows:
        if not timed_out(row, now):
            by_user.setdefault(row.user_id, []).append(row)
    return by_user


def end_all(
    user_id: int,
    reason: str,
    *,
    actor: User | None,
    request: HttpRequest | None,
    keep: UserSession | None = None,
) -> int:
    """End every live session of the user (but `keep`): how many ended."""
    count = 0
    for record in live_sessions(user_id):
        if keep is not None and record.pk == keep.pk:
            continue
        count += end(record, reason, actor=actor, request=request)
    return count


# --- new devices -----------------------------------------------------------------------------
def _device_digest(token: str) -> str:
    return hashlib.sha256(f"mssp-device:{token}".encode()).hexdigest()


def _new_device(request: HttpRequest, user: User, record: UserSession) -> bool:
    """Whether the user should be told of this sign-in: a browser new to them, not their very
    first, and they have not turned the e-mails off. Records the browser either way."""
    token = request.COOKIES.get(settings.DEVICE_COOKIE_NAME, "")
    if not (20 <= len(token) <= 100 and token.isascii()):
        token = ""
    known = None
    if token:
        known = KnownDevice.objects.filter(user=user, digest=_device_digest(token)).first()
    if known is not None:
        KnownDevice.objects.filter(pk=known.pk).update(
            last_seen_at=timezone.now(), device=record.device
        )
        return False
    first_ever = not KnownDevice.objects.filter(user=user).exists()
    if not token:
        token = secrets.token_urlsafe(32)
        setattr(request, NEW_DEVICE_ATTR, token)
    KnownDevice.objects.create(user=user, digest=_device_digest(token), device=record.device)
    return not first_ever and user.notify_new_device and bool(user.email)


def set_device_cookie(request: HttpRequest, response: HttpResponse) -> None:
    token = getattr(request, NEW_DEVICE_ATTR, None)
    if token:
        response.set_cookie(
            settings.DEVICE_COOKIE_NAME,
            token,
            max_age=settings.DEVICE_COOKIE_AGE,
            httponly=True,
            secure=settings.SESSION_COOKIE_SECURE,
            samesite="Lax",
        )


def send_new_device_notice(session_id: str) -> bool:
    """Send the e-mail about a sign-in from a new device (tenants.tasks runs this); False when
    there is nobody to tell any more."""
    record = UserSession.objects.select_related("user").filter(pk=session_id).first()
    if record is None or not record.user.email or not record.user.notify_new_device:
        return False
    title, body = new_device_notice(record)
    send_mail(mail.subject(title), body, settings.DEFAULT_FROM_EMAIL, [record.user.email])
    return True


def new_device_notice(record: UserSession) -> tuple[str, str]:
    """The e-mail's subject and body."""
    user = record.user
    when = timezone.localtime(record.signed_in_at).strftime("%Y-%m-%d %H:%M %Z")
    link = f"{settings.PORTAL_BASE_URL}/account/sessions/"
    return (
        "New sign-in to your security portal account",
        f"Hello {user.username},\n\n"
        f"your account signed in from a device it has not used before:\n\n"
        f"  Device:  {record.device}\n"
        f"  Address: {record.ip or 'unknown'}\n"
        f"  When:    {when}\n\n"
        "If this was you, there is nothing to do. If not, end that session and change your "
        f"password now:\n\n{link}\n\n"
        "You can turn these e-mails off on the same page.\n",
    )
