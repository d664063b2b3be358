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


# --- security keys (WebAuthn) without a browser -------------------------------------------------
class SoftKey:
    """A security key in software: an ES256 key pair that answers allauth's WebAuthn challenges
    as a real key would (attestation "none", user present and verified). The pages' origin is
    http://localhost, the relying party "localhost": send the requests with HTTP_HOST=localhost
    (WebAuthn refuses an IP address, and fido2 takes http on localhost only)."""

    ORIGIN = "http://localhost"
    RP_ID = "localhost"

    def __init__(self) -> None:
        import secrets

        from cryptography.hazmat.primitives.asymmetric import ec

        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(32)
        self.counter = 0

    def _rp_id_hash(self) -> bytes:
        import hashlib

        return hashlib.sha256(self.RP_ID.encode()).digest()

    def registration(self, challenge: str) -> dict:
        """The browser's answer to navigator.credentials.create() for `challenge` (websafe
        base64, from the session's WebAuthn state), as webauthn-json posts it."""
        from fido2.cose import ES256
        from fido2.utils import websafe_encode
        from fido2.webauthn import (
            Aaguid,
            AttestationObject,
            AttestedCredentialData,
            AuthenticatorData,
            CollectedClientData,
        )

        flags = AuthenticatorData.FLAG.UP | AuthenticatorData.FLAG.UV | AuthenticatorData.FLAG.AT
        credential = AttestedCredentialData.create(
            Aaguid.NONE,
            self.credential_id,
            ES256.from_cryptography_key(self.private_key.public_key()),
        )
        auth_data = AuthenticatorData.create(self._rp_id_hash(), flags, 0, credential)
        client_data = CollectedClientData.create("webauthn.create", challenge, self.ORIGIN)
        attestation = AttestationObject.create("none", auth_data, {})
        return {
            "id": websafe_encode(self.credential_id),
            "rawId": websafe_encode(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(bytes(client_data)),
                "attestationObject": websafe_encode(bytes(attestation)),
            },
            "clientExtensionResults": {"credProps": {"rk": False}},
        }

    def assertion(self, challenge: str) -> dict:
        """The browser's answer to navigator.credentials.get() for `challenge`."""
        import hashlib

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from fido2.utils import websafe_encode
        from fido2.webauthn import AuthenticatorData, CollectedClientData

        self.counter += 1
        flags = AuthenticatorData.FLAG.UP | AuthenticatorData.FLAG.UV
        auth_data = bytes(AuthenticatorData.create(self._rp_id_hash(), flags, self.counter))
        client_data = bytes(CollectedClientData.create("webauthn.get", challenge, self.ORIGIN))
        signature = self.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": websafe_encode(self.credential_id),
            "rawId": websafe_encode(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(client_data),
                "authenticatorData": websafe_encode(auth_data),
                "signature": websafe_encode(signature),
            },
            "clientExtensionResults": {},
        }


def webauthn_challenge(client) -> str:
    """The challenge of the WebAuthn ceremony the client's last page began (allauth keeps it
    in the session)."""
    return client.session["mfa.webauthn.state"]["challenge"]


def add_security_key(user, name: str = "Desk key") -> SoftKey:
    """Give `user` a security key (no recovery codes), as enrolment stores one: the key."""
    from allauth.mfa.webauthn.internal.auth import WebAuthn

    key = SoftKey()
    WebAuthn.add(user, name, key.registration("c2V0dXA"))
    return key
