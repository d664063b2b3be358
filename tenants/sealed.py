"""Secrets held for tenants (webhook URLs, API keys, signing secrets), encrypted at rest.

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`): a row's secrets are one sealed
JSON object, readable only with a key the database does not hold. `SECRETS_ENCRYPTION_KEYS`
lists Fernet keys, newest first: the first seals, every one opens (MultiFernet), so a key is
rotated by putting a new one in front and re-sealing (`manage.py reseal_secrets`) before the
old one is dropped. Without it the key is derived from SECRET_KEY (HKDF): right for the demo,
but then changing SECRET_KEY loses every stored secret, so a deployment sets its own."""

from __future__ import annotations

import base64
import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register


class SecretsUnreadable(ValueError):
    """Sealed with a key this portal no longer has (or tampered with)."""


def _derived_key() -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mssp sealed secrets")
    return base64.urlsafe_b64encode(hkdf.derive(settings.SECRET_KEY.encode()))


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys] or [Fernet(_derived_key())])


def _keys() -> tuple[str, ...]:
    return tuple(settings.SECRETS_ENCRYPTION_KEYS)


def seal(secrets: dict[str, str]) -> str:
    """The secrets as one token to store."""
    if not secrets:
        return ""
    return _fernet(_keys()).encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()


def unseal(token: str) -> dict[str, str]:
    """The secrets a token holds ({} for none)."""
    if not token:
        return {}
    try:
        opened = json.loads(_fernet(_keys()).decrypt(token.encode()))
    except (InvalidToken, ValueError) as exc:
        raise SecretsUnreadable(
            "the stored secrets cannot be read with this portal's keys"
        ) from exc
    return {str(name): str(value) for name, value in opened.items()}


def reseal(token: str) -> str:
    """The same secrets sealed with the newest key."""
    return _fernet(_keys()).rotate(token.encode()).decode() if token else ""


def hint(value: str, keep: int = 4) -> str:
    """What a page may show of a secret: its last few characters."""
    return f"…{value[-keep:]}" if len(value) > keep * 2 else "…"


@register(Tags.security, deploy=True)
def check_keys(**kwargs: object) -> list[CheckMessage]:
    """manage.py check --deploy: the portal has keys of its own, and each is a Fernet key."""
    keys = list(settings.SECRETS_ENCRYPTION_KEYS)
    if not keys:
        return [
            Warning(
                "SECRETS_ENCRYPTION_KEYS is not set: channel secrets are sealed with a key "
                "derived from SECRET_KEY, and changing SECRET_KEY would lose them all.",
                hint="Set it to a Fernet key (Fernet.generate_key()); see README, Configuration.",
                id="mssp.W001",
            )
        ]
    found: list[CheckMessage] = []
    for position, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:
            found.append(
                Error(
                    f"SECRETS_ENCRYPTION_KEYS: key {position} is not a Fernet key.", id="mssp.E001"
                )
            )
    return found
