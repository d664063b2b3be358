"""What arrives: intake sources (and, in later work, alerts and incidents)."""

from __future__ import annotations

import hashlib
import secrets

from django.db import models

from tenants.models import Tenant, TenantOwnedModel, new_public_id


class SourceKind(models.TextChoices):
    GENERIC = "generic", "Generic JSON"
    WAZUH = "wazuh", "Wazuh"
    ELASTIC = "elastic", "Elastic Security"
    SPLUNK = "splunk", "Splunk"
    SURICATA = "suricata", "Suricata"
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    CEF = "cef", "CEF"


class IntakeSource(TenantOwnedModel):
    """One SIEM or sensor feeding one tenant. Its intake key is stored only as a digest."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISABLED = "disabled", "Disabled"

    KEY_PREFIX = "mssp_ik_"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="intake_sources")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    key_prefix = models.CharField(max_length=20, editable=False)
    key_digest = models.CharField(max_length=64, unique=True, editable=False)
    # A source silent for longer than this is itself worth an alert; null means "don't watch".
    expected_interval_minutes = models.PositiveIntegerField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    key_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="intake_source_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @staticmethod
    def digest_of(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    def set_new_key(self) -> str:
        """Give the source a fresh key; returns it (the only time it is ever visible)."""
        raw = self.KEY_PREFIX + secrets.token_urlsafe(32)
        self.key_prefix = raw[: len(self.KEY_PREFIX) + 6]
        self.key_digest = self.digest_of(raw)
        return raw
