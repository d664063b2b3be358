"""Vulnerability findings: engagements (assessments and penetration tests), the assets they
cover, the findings on them, the scanner imports that bring them in, and each finding's
remediation clock.

Remediation clocks live here rather than as a `finding` column on `sla.SlaClock`: the SLA app
sits below this one (findings → sla → alerts → tenants), and a foreign key from its clock to a
finding would make it depend on findings. The clock has the SlaClock's shape (indexed
`due_at`/`at_risk_at`, `*_fired_at` markers, consumed time for pauses) and is swept in the same
once-a-second pass of `sla.tasks.sweep_clocks`, claimed the same way (FOR UPDATE SKIP LOCKED),
through the sweep hook the SLA app offers (`sla.services.register_sweep`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from alerts.models import Severity
from sla.models import ClockState
from tenants.jobs import TrackedJob
from tenants.models import Tenant, TenantOwnedModel, new_public_id

# Days to remediate, per severity, unless the tenant says otherwise (RemediationPolicy).
# None: not measured.
DEFAULT_REMEDIATION_DAYS: dict[str, int | None] = {
    "critical": 7,
    "high": 30,
    "medium": 90,
    "low": 120,
    "info": None,
}
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


class Scanner(models.TextChoices):
    NESSUS = "nessus", "Nessus (.nessus v2)"
    OPENVAS = "openvas", "OpenVAS / Greenbone XML report"
    NUCLEI = "nuclei", "Nuclei JSONL"
    CSV = "csv", "CSV (the portal's columns)"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_REMEDIATION = "in_remediation", "In remediation"
    REMEDIATED = "remediated", "Remediated"
    RISK_ACCEPTED = "risk_accepted", "Risk accepted"
    FALSE_POSITIVE = "false_positive", "False positive"


# Statuses in which a finding still needs work (and its remediation clock runs).
OPEN_FINDING_STATUSES = (FindingStatus.OPEN, FindingStatus.IN_REMEDIATION)


class Engagement(TenantOwnedModel):
    """A named assessment or penetration test: what was in scope, and when."""

    class Kind(models.TextChoices):
        ASSESSMENT = "assessment", "Vulnerability assessment"
        PENTEST = "pentest", "Penetration test"
        SCAN = "scan", "Recurring scan"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.ASSESSMENT)
    scope = models.TextField(blank=True, help_text="Hosts, ranges or applications in scope.")
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="engagement_unique_name"),
            models.CheckConstraint(
                name="engagement_dates_in_order",
                condition=models.Q(starts_on__isnull=True)
                | models.Q(ends_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Asset(TenantOwnedModel):
    """A host of a tenant, known by its normalised identifier (an IP address in canonical
    form, or a lower-case host name without a trailing dot) and its other names."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    identifier = models.CharField(max_length=255)
    ip = models.GenericIPAddressField(null=True, blank=True)
    hostname = models.CharField(max_length=255, blank=True)
    fqdn = models.CharField(max_length=255, blank=True)
    os = models.CharField(max_length=255, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["identifier"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "identifier"], name="asset_unique_identifier")
        ]
        indexes = [
            models.Index(fields=["tenant", "ip"], name="asset_tenant_ip"),
            models.Index(fields=["tenant", "hostname"], name="asset_tenant_hostname"),
            models.Index(fields=["tenant", "fqdn"], name="asset_tenant_fqdn"),
        ]

    def __str__(self) -> str:
        return self.identifier

    @property
    def names(self) -> list[str]:
        """Every name this asset goes by, identifier first."""
        found = [self.identifier]
        for name in (self.ip, self.fqdn, self.hostname):
            if name and name not in found:
                found.append(name)
        return found


class ScanImport(TenantOwnedModel, TrackedJob):
    """One uploaded scanner file and its import, which runs in the background
    (findings.tasks.run_import): the whole file is read once to check and count it, then
    imported in chunks, each committing its progress (a tenants.jobs.TrackedJob)."""

    MAX_ERRORS = 1000  # per-record errors kept in the report; the count goes on

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Scanner.choices)
    file_name = models.CharField(max_length=255)
    size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    # The file itself, kept until the import is over (workers may run on other machines).
    content = models.BinaryField(editable=False)
    engagement = models.ForeignKey(
        Engagement, on_delete=models.SET_NULL, null=True, blank=True, related_name="imports"
    )
    # Decided when the file is uploaded, by whom: MSSP staff's scans (and the system's own, a
    # scanner integration) verify what they no longer find; a customer's only proposes it.
    verifies_remediation = models.BooleanField(
        default=False,
        help_text="What it no longer finds is remediated and verified (an MSSP's scan); "
        "otherwise it awaits MSSP verification (a customer's).",
    )
    position = models.PositiveIntegerField(default=0, help_text="Records processed so far.")
    total = models.PositiveIntegerField(null=True, blank=True, help_text="Records in the file.")
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    closed_count = models.PositiveIntegerField(default=0)
    proposed_count = models.PositiveIntegerField(
        default=0, help_text="Findings it no longer finds, now awaiting MSSP verification."
    )
    rejected_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    detail = models.TextField(blank=True, help_text="Why the import failed as a whole.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["updated_at"],
                name="scan_import_unfinished",
                condition=models.Q(status__in=["queued", "running"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.status})"

    @property
    def progress(self) -> int:
        """Percent done."""
        if self.status == self.Status.DONE:
            return 100
        if not self.total:
            return 0
        return min(99, int(100 * self.position / self.total))


class Finding(TenantOwnedModel):
    """One vulnerability on one asset. The dedup key (scanner, asset, plugin or template id,
    port) is unique per tenant: a re-import updates the finding, a unique constraint decides."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="findings")
    engagement = models.ForeignKey(
        Engagement, on_delete=models.SET_NULL, null=True, blank=True, related_name="findings"
    )
    scanner = models.CharField(max_length=10, choices=Scanner.choices)
    plugin_id = models.CharField(max_length=255, help_text="Plugin, NVT or template id.")
    port = models.CharField(max_length=32, blank=True, help_text="e.g. 443/tcp")
    dedup_key = models.CharField(max_length=64)
    title = models.CharField(max_length=500)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    severity_rank = models.PositiveSmallIntegerField()
    cvss_score = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)
    cvss_vector = models.CharField(max_length=200, blank=True)
    cves = models.JSONField(default=list, blank=True)
    description = models.TextField(blank=True)
    solution = models.TextField(blank=True)
    evidence = models.TextField(blank=True)
    references = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=20, choices=FindingStatus.choices, default=FindingStatus.OPEN
    )
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    remediated_at = models.DateTimeField(null=True, blank=True)
    remediated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A customer's "remediated" (marked, or its own scan no longer finding it) is a claim: the
    # finding stays open, its clock runs, until MSSP staff (or an MSSP scan) verify it. Set
    # only while the finding is open and awaits that.
    remediation_claimed_at = models.DateTimeField(null=True, blank=True)
    remediation_claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    risk_accepted_until = models.DateField(null=True, blank=True)
    # The instant the acceptance ends: the end of `risk_accepted_until` in the tenant's zone.
    risk_expires_at = models.DateTimeField(null=True, blank=True)
    risk_reason = models.TextField(blank=True)
    risk_accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    risk_accepted_at = models.DateTimeField(null=True, blank=True)
    # Set by the sweep when the remediation clock breaches (and kept): a critical finding past
    # its due date raises the priority of incidents on its asset.
    overdue_since = models.DateTimeField(null=True, blank=True)
    last_import = models.ForeignKey(
        ScanImport, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-severity_rank", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "dedup_key"], name="finding_unique_dedup"),
            models.CheckConstraint(
                name="finding_risk_acceptance_complete",
                condition=~models.Q(status="risk_accepted")
                | (models.Q(risk_accepted_until__isnull=False) & ~models.Q(risk_reason="")),
            ),
        ]
        indexes = [
            # The list's order (keyset pages), with the usual filters answered from the index.
            models.Index(
                fields=["-severity_rank", "id", "tenant", "status"], name="finding_severity_order"
            ),
            models.Index(fields=["asset", "status"], name="finding_asset_status"),
            models.Index(
                fields=["risk_expires_at"],
                name="finding_risk_expiry",
                condition=models.Q(status="risk_accepted"),
            ),
            models.Index(
                fields=["tenant"],
                name="finding_overdue_critical",
                condition=models.Q(
                    severity="critical",
                    status__in=["open", "in_remediation"],
                    overdue_since__isnull=False,
                ),
            ),
            models.Index(fields=["tenant", "remediated_at"], name="finding_tenant_remediated"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_FINDING_STATUSES

    @property
    def awaits_verification(self) -> bool:
        """A customer's claim of remediation that MSSP staff have not verified. (A finding
        remediated and unverified is the same claim as recorded before claims kept the
        finding open.)"""
        if self.is_open:
            return self.remediation_claimed_at is not None
        return self.status == FindingStatus.REMEDIATED and self.verified_at is None


class FindingEvent(TenantOwnedModel):
    """A finding's timeline: imports, status changes, risk acceptances, SLA firings."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    kind = models.CharField(max_length=40)
    summary = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["finding", "at"], name="finding_event_timeline")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.summary}"


class RemediationPolicy(TenantOwnedModel):
    """A tenant's own remediation target for one severity, in days (empty: not measured).
    Severities without a row use DEFAULT_REMEDIATION_DAYS."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    severity = models.CharField(max_length=10, choices=Severity.choices)
    days = models.PositiveIntegerField(null=True, blank=True)
    at_risk_percent = models.PositiveSmallIntegerField(default=75)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant_id", "severity"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "severity"], name="remediation_policy_per_tenant"
            )
        ]

    def __str__(self) -> str:
        return f"{self.severity}: {self.days} days ({self.tenant_id})"


class RemediationClock(TenantOwnedModel):
    """The remediation target of one finding, on the SLA engine's model: running while the
    finding is open or in remediation (a customer's claim of remediation included, until the
    MSSP verifies it), met when it is remediated, paused while its risk is accepted or it is a
    false positive, resumed with its deadline moved by the pause when it reopens. Breaches and
    at-risk warnings fire once each (`*_fired_at`)."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    finding = models.OneToOneField(Finding, on_delete=models.CASCADE, related_name="clock")
    target_days = models.PositiveIntegerField()
    at_risk_percent = models.PositiveSmallIntegerField(default=75)
    state = models.CharField(max_length=10, choices=ClockState.choices, default=ClockState.RUNNING)
    started_at = models.DateTimeField()
    consumed_seconds = models.FloatField(default=0)
    resumed_at = models.DateTimeField()
    paused_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    at_risk_at = models.DateTimeField(null=True, blank=True)
    met_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    at_risk_fired_at = models.DateTimeField(null=True, blank=True)
    breach_fired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at"]
        indexes = [
            models.Index(
                fields=["due_at"],
                name="remediation_clock_due",
                condition=models.Q(state__in=["running", "at_risk"], breach_fired_at__isnull=True),
            ),
            models.Index(
                fields=["at_risk_at"],
                name="remediation_clock_at_risk",
                condition=models.Q(state="running", at_risk_fired_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"remediation of {self.finding_id} ({self.state})"
