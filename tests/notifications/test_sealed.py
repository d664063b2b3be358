"""Channel secrets are sealed at rest and survive a key rotation (tenants.sealed)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from notifications.models import Channel
from tenants.rls import rls_bypass
from tenants.sealed import SecretsUnreadable, hint, seal, unseal

pytestmark = pytest.mark.django_db


def test_sealed_secrets_open_only_with_the_portals_keys(settings):
    old = Fernet.generate_key().decode()
    settings.SECRETS_ENCRYPTION_KEYS = [old]
    token = seal({"url": "https://hooks.example/T/B/secret"})
    assert "secret" not in token and unseal(token) == {"url": "https://hooks.example/T/B/secret"}
    settings.SECRETS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(SecretsUnreadable):
        unseal(token)
    with pytest.raises(SecretsUnreadable):
        unseal(token[:-4] + "AAAA")  # tampered


def test_rotation_reseals_every_channel_with_the_newest_key(settings, two_tenants):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SECRETS_ENCRYPTION_KEYS = [old]
    with rls_bypass("test fixture"):
        channel = Channel.objects.create(
            tenant=two_tenants["a"], name="Slack", kind="slack", sealed_secrets=seal({"url": "u"})
        )
    settings.SECRETS_ENCRYPTION_KEYS = [new, old]  # the new key in front, the old still opens
    call_command("reseal_secrets")
    settings.SECRETS_ENCRYPTION_KEYS = [new]  # the old key dropped
    with rls_bypass("test"):
        channel.refresh_from_db()
    assert unseal(channel.sealed_secrets) == {"url": "u"}


def test_a_hint_shows_only_the_end_of_a_secret():
    assert hint("https://hooks.slack.com/services/T0/B0/abcdefgh") == "…efgh"
    assert hint("short") == "…"
