"""The second factor (django-allauth's mfa app): who must have one, whether a session has given
it, and the step-up window of dangerous actions.

Who must: every MSSP staff account (a staff role or superuser), anyone with Django admin
access (is_staff), and the users of a tenant whose admin made it mandatory
(Tenant.mfa_required). Whether a session has: its record (tenants.sessions.UserSession) holds
`second_factor_at`, set when the login passed allauth's second-factor stage, when the account
enrolled in this session, or when the session gave a code later (allauth's reauthentication).
A session of an account that must and has not is held at enrolment or at the code page by
tenants.middleware.SecondFactorMiddleware: no page, no API call and no socket reaches data.

Step-up: an Action with `step_up = True` (tenants.actions) needs, inside a session, a second
factor (or, for an account without one, the password) given within STEP_UP_MINUTES. allauth
keeps each authentication of the session in the session's own data; the login counts, and
allauth's reauthentication page adds one. An account without a second factor that signs in
through its tenant's identity provider has no password to give: its sign-in at the provider
counts instead, and it steps up by signing in there again (/login/sso/reauthenticate/).
Token requests are not sessions: their token's scopes govern them (the API contract says so).
"""

from __future__ import annotations

import time
from typing import Any

from allauth.account.internal.flows.login import get_authentication_records
from allauth.core import context
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from . import sessions
from .models import Membership, User, UserSession
from .rls import rls_bypass

# The kinds that are a second factor of their own (recovery codes only stand in for them).
FACTOR_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def step_up_page() -> str:
    """Where this request's account steps up: its identity provider (an account without a
    second factor that signs in there), else allauth's reauthentication page."""
    request = context.request
    if request is not None and reauthenticates_at_idp(request):
        return reverse("sso-reauthenticate")
    return reverse("account_reauthenticate")


def step_up_message() -> str:
    request = context.request
    if request is not None and reauthenticates_at_idp(request):
        url = reverse("sso-reauthenticate")
        return (
            "This action needs you to sign in at your identity provider again (your last "
            f"sign-in was more than {settings.STEP_UP_MINUTES} minutes ago). Confirm it at "
            f"{url} in the browser, then repeat the request."
        )
    url = reverse("account_reauthenticate")
    return (
        "This action needs your second factor again (it was given more than "
        f"{settings.STEP_UP_MINUTES} minutes ago). Confirm it at {url} in the browser, then "
        "repeat the request."
    )


def reauthenticates_at_idp(request: HttpRequest) -> bool:
    """The session's account steps up at its tenant's identity provider
    (/login/sso/reauthenticate/): it has no second factor, and it signed in through single
    sign-on in this session or has no password to give."""
    from allauth.socialaccount.models import SocialAccount

    user = request.user
    if not user.is_authenticated or has_factor(user):
        return False
    assert isinstance(user, User)  # noqa: S101 (AUTH_USER_MODEL)
    if not SocialAccount.objects.filter(user_id=user.pk).exists():
        return False
    if not user.has_usable_password():
        return True
    return any(r.get("via") == "sso" for r in get_authentication_records(request, user))


# --- who must ----------------------------------------------------------------------------------
def tenant_requires(user: User) -> bool:
    """The user's tenant made a second factor mandatory. Around login there is no tenant
    context: read like tenants.sessions.tenant_of reads it."""
    with rls_bypass("mfa: whether a user's tenant requires a second factor"):
        return bool(
            Membership.objects.dangerously_unscoped("whether a user's tenant requires mfa")
            .filter(user_id=user.pk, tenant__mfa_required=True)
            .exists()
        )


def must_have(user: User | AnonymousUser) -> bool:
    """Whether the account may reach nothing without a second factor."""
    if not user.is_authenticated:
        return False
    assert isinstance(user, User)  # noqa: S101 (AUTH_USER_MODEL)
    if user.is_mssp_staff or user.is_staff:
        return True
    return tenant_requires(user)


def has_factor(user: User | AnonymousUser) -> bool:
    """The account has enrolled a second factor (TOTP or a security key)."""
    if not user.is_authenticated:
        return False
    return bool(Authenticator.objects.filter(user_id=user.pk, type__in=FACTOR_TYPES).exists())


def why_must(user: User) -> str:
    if user.is_mssp_staff or user.is_staff:
        return "MSSP staff accounts need a second factor"
    return "Your organisation requires a second factor"


# --- the session -------------------------------------------------------------------------------
def session_record(request: HttpRequest) -> UserSession | None:
    if hasattr(request, sessions.RECORD_ATTR):
        record: UserSession | None = getattr(request, sessions.RECORD_ATTR)
        return record
    return sessions.record_of(request)


def session_passed(request: HttpRequest) -> bool:
    record = session_record(request)
    return record is not None and record.second_factor_at is not None


def mark_session(request: HttpRequest) -> None:
    """The session's user gave their second factor in this request."""
    record = session_record(request)
    if record is None:
        return
    now = timezone.now()
    UserSession.objects.filter(pk=record.pk).update(second_factor_at=now)
    record.second_factor_at = now


def confirm_page(user: User) -> str | None:
    """Where the account confirms its second factor: the code page (an authenticator app),
    the security-key page (keys only), or None without a factor."""
    types = set(
        Authenticator.objects.filter(user_id=user.pk, type__in=FACTOR_TYPES).values_list(
            "type", flat=True
        )
    )
    if Authenticator.Type.TOTP in types:
        return reverse("mfa_reauthenticate")
    if Authenticator.Type.WEBAUTHN in types:
        return reverse("mfa_reauthenticate_webauthn")
    return None


def gate_target(user: User) -> str:
    """Where a session that must give a second factor goes: the page that confirms it, or
    enrolment."""
    return confirm_page(user) or reverse("mfa_activate_totp")


def gate_message(user: User) -> str:
    page = confirm_page(user)
    if page is not None:
        return (
            f"{why_must(user)}: confirm yours at {page} in the browser before using this session."
        )
    return (
        f"{why_must(user)}: set one up at {reverse('mfa_activate_totp')} in the browser "
        "before using this session."
    )


def stepped_up(request: HttpRequest) -> bool:
    """The session gave its strongest factor within the step-up window: the second factor if
    the account has one, else its password (the login counts; so does reauthentication).
    For an account without a second factor that signs in through its tenant's identity
    provider, a sign-in there is that password: provisioning.sso records the login and each
    re-authentication at the provider (/login/sso/reauthenticate/, checked to be fresh and the
    same subject) as a "password" record with via="sso"."""
    user = request.user
    if not user.is_authenticated:
        return False
    wanted = {"mfa"} if has_factor(user) else {"mfa", "password"}
    window = settings.STEP_UP_MINUTES * 60
    now = time.time()
    return any(
        r.get("method") in wanted and now - float(r.get("at", 0)) < window
        for r in get_authentication_records(request, user)
    )


def is_session_request(request: Any) -> bool:
    """Authenticated by its session (a signed-in browser), not by an API token."""
    from django.contrib.auth import SESSION_KEY

    from .models import ApiToken

    if isinstance(getattr(request, "auth", None), ApiToken):
        return False
    session = getattr(request, "session", None)
    return session is not None and SESSION_KEY in session


# --- codes outside the browser (the API's password login) --------------------------------------
def verify_code(user: User, code: str) -> Authenticator | None:
    """The authenticator a TOTP code or an unused recovery code belongs to (a recovery code
    is spent by this); None for a wrong, reused or empty code."""
    code = "".join(code.split())
    if not code:
        return None
    for authenticator in Authenticator.objects.filter(user_id=user.pk).order_by("type"):
        if authenticator.type == Authenticator.Type.TOTP:
            if TOTP(authenticator).validate_code(code):
                return authenticator
        elif authenticator.type == Authenticator.Type.RECOVERY_CODES:
            if RecoveryCodes(authenticator).validate_code(code):
                return authenticator
    return None
