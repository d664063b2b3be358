"""Re-seal every stored channel secret with the newest key of SECRETS_ENCRYPTION_KEYS: run it
after putting a new key in front, and before dropping an old one (tenants.sealed)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from tenants.rls import rls_bypass
from tenants.sealed import reseal

from ...models import Channel


class Command(BaseCommand):
    help = "Re-seal every channel's secrets with the newest encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        done = 0
        with transaction.atomic(), rls_bypass("re-sealing every tenant's channel secrets"):
            channels = Channel.objects.dangerously_unscoped("re-sealing secrets").exclude(
                sealed_secrets=""
            )
            for channel in channels.select_for_update().only("pk", "sealed_secrets"):
                channel.sealed_secrets = reseal(channel.sealed_secrets)
                channel.save(update_fields=["sealed_secrets"])
                done += 1
        self.stdout.write(f"{done} channel(s) re-sealed with the newest key.")
