"""The second factor in tests: real TOTP codes (allauth's own algorithm), enrolling a user
without the browser, and the conftest rule for tests that are not about it.

Tests not about the second factor sign in with `client.force_login` / `client.login`: their
session then counts as having given the second factor just now (tests/conftest.py,
`second_factor_sessions`), as a real login through /login/ with a code would. Production never
does this: there, only allauth's second-factor stage, enrolment or reauthentication mark a
session. Tests about the second factor mark theirs `@pytest.mark.password_only`, or log in
through the pages.
"""

from __future__ import annotations

import time

from allauth.account.internal.flows.login import (
    _AUTHENTICATION_METHODS_USER_SESSION_KEY,
    AUTHENTICATION_METHODS_SESSION_KEY,
)
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import (
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from allauth.mfa.utils import encrypt
from django.conf import settings
from django.utils import timezone

from tenants.models import UserSession
from tenants.sessions import SESSION_RECORD


def totp_code(secret: str, at: float | None = None) -> str:
    """The code an authenticator app shows for `secret` now (or at `at`)."""
    counter = int(at if at is not None else time.time()) // settings.MFA_TOTP_PERIOD
    return format_hotp_value(hotp_value(secret, counter))


def other_code(secret: str) -> str:
    """A code of the same secret that is valid at no time near now."""
    return totp_code(secret, time.time() + 3600)


def enrol(user, secret: str | None = None) -> str:
    """Give `user` a TOTP device (and recovery codes), as enrolment would: its secret."""
    secret = secret or generate_totp_secret()
    Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": encrypt(secret)}
    )
    RecoveryCodes.activate(user)
    return secret


def recovery_codes(user) -> list[str]:
    rc = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    return RecoveryCodes(rc).get_unused_codes()


def mark_passed(client) -> None:
    """The client's session has given its second factor now (as a login with a code does)."""
    session = client.session
    record_id = session.get(SESSION_RECORD)
    user_id = session.get("_auth_user_id")
    if not record_id or not user_id:
        return
    UserSession.objects.filter(pk=record_id).update(second_factor_at=timezone.now())
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        {"method": "password", "at": time.time()},
        {"method": "mfa", "at": time.time(), "type": "totp"},
    ]
    session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(user_id)
    session.save()


PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory


def secret_of(user) -> str:
    from allauth.mfa.utils import decrypt

    totp = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    return decrypt(totp.data["secret"])


def fresh_code(user) -> str:
    """A valid code for the user's device that allauth has not yet seen used (a code is
    accepted once; tests log the same user in more than once within 30 seconds)."""
    from django.core.cache import cache

    code = totp_code(secret_of(user))
    cache.delete(f"allauth.mfa.totp.used?user={user.pk}&code={code}")
    return code


def log_in(client, user, password: str = PASSWORD, **extra):
    """Log in through the pages as a person would: the password, then (when the account has
    or must have one: it is enrolled first) the code from the authenticator app. The last
    response."""
    from django.urls import reverse

    from tenants import mfa

    if mfa.must_have(user) and not mfa.has_factor(user):
        enrol(user)
    response = client.post("/login/", {"username": user.username, "password": password}, **extra)
    if response.status_code == 302 and response["Location"].startswith(reverse("mfa_authenticate")):
        response = client.post(reverse("mfa_authenticate"), {"code": fresh_code(user)}, **extra)
    return response
