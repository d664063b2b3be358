"""Threat intelligence: indicators (global, the MSSP's, or one tenant's own), their imports,
the matches against alerts, and retro-hunts back through earlier alerts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from alerts.models import Alert, Incident, Severity, Tlp
from tenants.jobs import TrackedJob
from tenants.models import Tenant, TenantOwnedModel, new_public_id
from tenants.querysets import TenantScopedManager


class IndicatorType(models.TextChoices):
    IP = "ip", "IP address"
    CIDR = "cidr", "Network (CIDR)"
    DOMAIN = "domain", "Domain"
    URL = "url", "URL"
    MD5 = "md5", "MD5"
    SHA1 = "sha1", "SHA-1"
    SHA256 = "sha256", "SHA-256"
    EMAIL = "email", "Email address"


# Global rows (no tenant) that only MSSP staff transactions may see (row-level security).
STAFF_ONLY_GLOBAL = "tenant_id IS NULL AND coalesce(current_setting('mssp.staff', true), '') = 'on'"


class Indicator(models.Model):
    """A known-bad observable. `tenant` empty: the MSSP's (global), matched for every tenant;
    otherwise one tenant's own, matched for that tenant only."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    type = models.CharField(max_length=10, choices=IndicatorType.choices)
    # Canonical (intel.normalise); a network as "198.51.100.0/24", which is how intake finds
    # the networks that contain an address (intel.matching).
    value = models.CharField(max_length=2048)
    tlp = models.CharField(max_length=15, choices=Tlp.choices, default=Tlp.AMBER)
    confidence = models.PositiveSmallIntegerField(default=50)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.HIGH)
    source = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_import = models.ForeignKey(
        "IndicatorImport", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedManager()
    tenant_nullable_reason = "Global indicators are the MSSP's, matched for every tenant."
    # Global indicators are read by every transaction (intake of any tenant matches them; the
    # API decides what a customer may see of them) but written by MSSP staff only.
    rls_policy_sql = [
        "CREATE POLICY {policy} ON {table} USING (mssp_tenant_visible(tenant_id) OR "
        + STAFF_ONLY_GLOBAL
        + ") WITH CHECK (mssp_tenant_visible(tenant_id) OR "
        + STAFF_ONLY_GLOBAL
        + ")",
        "CREATE POLICY {policy}_read ON {table} FOR SELECT USING (tenant_id IS NULL)",
    ]

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "type", "value"],
                condition=models.Q(tenant__isnull=False),
                name="intel_indicator_unique_own",
            ),
            models.UniqueConstraint(
                fields=["type", "value"],
                condition=models.Q(tenant__isnull=True),
                name="intel_indicator_unique_global",
            ),
            models.CheckConstraint(
                condition=models.Q(confidence__lte=100), name="intel_indicator_confidence"
            ),
        ]
        indexes = [
            # Intake matches a batch's observables (and the networks around its addresses)
            # with one equality join on this.
            models.Index(
                fields=["value"],
                condition=models.Q(status="active"),
                name="intel_indicator_active_value",
            ),
            # The expiry sweep.
            models.Index(
                fields=["valid_until"],
                condition=models.Q(status="active", valid_until__isnull=False),
                name="intel_indicator_expiry",
            ),
            models.Index(fields=["tenant", "-created_at"], name="intel_indicator_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"

    @property
    def is_global(self) -> bool:
        return self.tenant_id is None

    @property
    def is_live(self) -> bool:
        now = timezone.now()
        return (
            self.status == self.Status.ACTIVE
            and self.valid_from <= now
            and (self.valid_until is None or self.valid_until > now)
        )


class IndicatorImport(TrackedJob):
    """One uploaded list (STIX 2.1 bundle, plain list, CSV), parsed in the background."""

    class Format(models.TextChoices):
        STIX = "stix", "STIX 2.1 bundle"
        TEXT = "text", "Plain list (one value a line)"
        CSV = "csv", "CSV"

    class Status(models.TextChoices):
        # JobStatus's members; QUEUED is stored, and shown by the API, as "pending".
        QUEUED = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    format = models.CharField(max_length=10, choices=Format.choices)
    filename = models.CharField(max_length=255, blank=True)
    # The uploaded text, kept until the import is done.
    content = models.TextField(blank=True)
    size = models.PositiveIntegerField(default=0)
    # Defaults for records that do not carry their own: tlp, confidence, severity, source,
    # valid_until (ISO), type (plain lists).
    defaults = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    # [{"index": n, "error": "..."}], the first MAX_ERRORS of them.
    errors = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)  # why the whole import failed
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    MAX_ERRORS = 1000

    objects = TenantScopedManager()
    tenant_nullable_reason = "Imports of global indicators are the MSSP's."
    rls_also_visible_when = STAFF_ONLY_GLOBAL

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_format_display()} import {self.filename or self.pk}"

    @property
    def progress(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return min(99, int(100 * self.processed / self.total)) if self.total else 0


class RetroHunt(TrackedJob):
    """A search of the last N days of alerts of the tenants an indicator (or an import's
    indicators) applies to, run in the background in chunks."""

    class Status(models.TextChoices):
        # JobStatus's members; QUEUED is stored, and shown by the API, as "pending".
        QUEUED = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    indicator = models.ForeignKey(
        Indicator, on_delete=models.CASCADE, null=True, blank=True, related_name="retro_hunts"
    )
    indicator_import = models.ForeignKey(
        IndicatorImport,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="retro_hunts",
    )
    since = models.DateTimeField()
    until = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # The tenants searched, and where the search is: [tenant index, last received_at, last id].
    tenant_ids = models.JSONField(default=list, blank=True)
    cursor = models.JSONField(default=list, blank=True)
    alerts_total = models.PositiveIntegerField(default=0)
    alerts_scanned = models.PositiveIntegerField(default=0)
    hits = models.PositiveIntegerField(default=0)
    # {"<tenant id>": [alerts to search, alerts searched]}: what a viewer is shown is counted
    # over the tenants they work only (`seen_by`); the totals above are the worker's.
    per_tenant = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = TenantScopedManager()
    tenant_nullable_reason = "Hunts of global indicators span the MSSP's tenants."
    rls_also_visible_when = STAFF_ONLY_GLOBAL

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"retro-hunt {self.pk}"

    @property
    def progress(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.alerts_total:
            return 0
        return min(99, int(100 * self.alerts_scanned / self.alerts_total))

    def seen_by(self, tenant_ids) -> tuple[int | None, int]:
        """(alerts searched, per cent done) over the tenants `tenant_ids` only: a global hunt
        spans every tenant, and a viewer learns nothing of the alert volumes of the tenants
        they do not work. A hunt recorded before the counts were kept per tenant shows its
        totals only to a viewer who works every tenant it searched (else None, 0 / 100)."""
        if not self.per_tenant:
            if set(self.tenant_ids) <= set(tenant_ids):
                return self.alerts_scanned, self.progress
            return None, 100 if self.status == self.Status.DONE else 0
        mine = [counts for tenant, counts in self.per_tenant.items() if int(tenant) in tenant_ids]
        total = sum(counts[0] for counts in mine)
        scanned = sum(counts[1] for counts in mine)
        if self.status == self.Status.DONE:
            return scanned, 100
        return scanned, min(99, int(100 * scanned / total)) if total else 0


class IndicatorMatch(TenantOwnedModel):
    """An alert of this tenant carried an observable an indicator names. The indicator's
    details are copied: what the customer may see of a global indicator is this row, never
    the indicator itself."""

    class Origin(models.TextChoices):
        INTAKE = "intake", "At intake"
        RETRO_HUNT = "retro_hunt", "Retro-hunt"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    indicator = models.ForeignKey(
        Indicator, on_delete=models.SET_NULL, null=True, blank=True, related_name="matches"
    )
    retro_hunt = models.ForeignKey(
        RetroHunt, on_delete=models.SET_NULL, null=True, blank=True, related_name="matches"
    )
    origin = models.CharField(max_length=12, choices=Origin.choices)
    observable_type = models.CharField(max_length=20)
    observable_value = models.CharField(max_length=2048)
    indicator_type = models.CharField(max_length=10, choices=IndicatorType.choices)
    indicator_value = models.CharField(max_length=2048)
    indicator_global = models.BooleanField()
    tlp = models.CharField(max_length=15, choices=Tlp.choices)
    confidence = models.PositiveSmallIntegerField()
    severity = models.CharField(max_length=10, choices=Severity.choices)
    # False for matches on TLP:RED global indicators: MSSP staff only.
    customer_visible = models.BooleanField()
    severity_raised_to = models.CharField(max_length=10, blank=True)
    matched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-matched_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["alert", "indicator"], name="intel_match_once"),
        ]
        indexes = [
            models.Index(fields=["tenant", "-matched_at"], name="intel_match_tenant"),
            models.Index(fields=["incident"], name="intel_match_incident"),
            models.Index(fields=["retro_hunt"], name="intel_match_hunt"),
        ]


class Sighting(TenantOwnedModel):
    """This tenant saw this observable on this day (the first alert of the day carrying it):
    what the incident page counts across customers, one equality lookup on `key`. Written at
    intake with the matching (one statement per batch); kept INTEL_SIGHTING_DAYS."""

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # 63 bits of BLAKE2b over "<type>\0<value>" (intel.sightings.key_of): bigint equality is
    # leakproof, so row-level security leaves the index usable (jsonb containment is not)
    key = models.BigIntegerField()
    day = models.DateField()
    # Not foreign keys: checking them would cost intake a lookup a row; alerts are never
    # deleted but with their tenant, which deletes these rows too.
    alert_id = models.UUIDField()
    incident_id = models.UUIDField(null=True, blank=True)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "tenant", "day"], name="intel_sighting_once")
        ]
        indexes = [models.Index(fields=["day"], name="intel_sighting_day")]

    def __str__(self) -> str:
        return f"sighting {self.key} on {self.day}"
