"""What arrives and how it is worked: intake sources, alerts, incidents and their timeline."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.models import Team, Tenant, TenantOwnedModel, new_public_id


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
    # When the silence of this source was last raised as an alert (once per silence).
    silence_alerted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    key_rotated_at = models.DateTimeField(null=True, blank=True)
    # Optional HMAC signing: when set, every request must carry a fresh signature.
    signing_secret = models.CharField(max_length=100, blank=True, editable=False)

    # The intake key is the credential: a request presenting it may read the source it
    # unlocks before any tenant is known (tenants.rls sets mssp.intake_key to its digest).
    rls_also_visible_when = "key_digest = nullif(current_setting('mssp.intake_key', true), '')"

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


class Severity(models.TextChoices):
    INFO = "info", "Info"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


class Alert(TenantOwnedModel):
    """One normalised signal from one source."""

    class Status(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(IntakeSource, on_delete=models.PROTECT, related_name="alerts")
    # Redelivery identity: the sender's own id, or a digest of the record when it has none.
    dedup_key = models.CharField(max_length=255)
    source_ref = models.CharField(max_length=255, blank=True)
    fingerprint = models.CharField(max_length=128)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    severity_rank = models.PositiveSmallIntegerField()
    category = models.CharField(max_length=100, blank=True)
    observed_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    rule_id = models.CharField(max_length=255, blank=True)
    rule_name = models.TextField(blank=True)
    mitre = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    observables = models.JSONField(default=list, blank=True)
    raw = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.FIRING)
    ends_at = models.DateTimeField(null=True, blank=True)
    incident = models.ForeignKey(
        "Incident", on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    # Stored, never lost, but not raised: a suppression rule matched it.
    suppressed_by = models.ForeignKey(
        "SuppressionRule", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "dedup_key"], name="alert_unique_delivery")
        ]
        indexes = [
            models.Index(fields=["tenant", "-received_at"], name="alert_tenant_received"),
            models.Index(fields=["incident", "-received_at"], name="alert_incident_received"),
        ]

    def __str__(self) -> str:
        return self.title


class IncidentStatus(models.TextChoices):
    NEW = "new", "New"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    INVESTIGATING = "investigating", "Investigating"
    CONTAINED = "contained", "Contained"
    AWAITING_CUSTOMER = "awaiting_customer", "Awaiting customer"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = (
    IncidentStatus.NEW,
    IncidentStatus.ACKNOWLEDGED,
    IncidentStatus.INVESTIGATING,
    IncidentStatus.CONTAINED,
    IncidentStatus.AWAITING_CUSTOMER,
)


class Resolution(models.TextChoices):
    TRUE_POSITIVE = "true_positive", "True positive"
    FALSE_POSITIVE = "false_positive", "False positive"
    BENIGN = "benign", "Benign"
    DUPLICATE = "duplicate", "Duplicate"


NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)


class Origin(models.TextChoices):
    """How an incident came to be: grouped from intake, raised from a hunt's hit, reported by
    the customer, or opened by hand by an analyst (a phone call, a threat report)."""

    INTAKE = "intake", "Intake"
    HUNT = "hunt", "Hunt"
    CUSTOMER = "customer", "Raised by the customer"
    ANALYST = "analyst", "Opened by an analyst"


class Tlp(models.TextChoices):
    """Traffic Light Protocol 2.0: who may receive a piece of information (alerts.tlp says what
    each level means in this product)."""

    CLEAR = "clear", "TLP:CLEAR"
    GREEN = "green", "TLP:GREEN"
    AMBER = "amber", "TLP:AMBER"
    AMBER_STRICT = "amber+strict", "TLP:AMBER+STRICT"
    RED = "red", "TLP:RED"


class Pap(models.TextChoices):
    """Permissible Actions Protocol: what may be done with a piece of information (RED: only
    what cannot be detected, AMBER: passive look-ups, GREEN: active steps, CLEAR: anything)."""

    CLEAR = "clear", "PAP:CLEAR"
    GREEN = "green", "PAP:GREEN"
    AMBER = "amber", "PAP:AMBER"
    RED = "red", "PAP:RED"


class Incident(TenantOwnedModel):
    """The unit of work: alerts of one tenant grouped by fingerprint (and correlation)."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=500)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    severity_rank = models.PositiveSmallIntegerField()
    category = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=20, choices=IncidentStatus.choices, default=IncidentStatus.NEW
    )
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    # Alerts with this fingerprint join this incident while it is open.
    fingerprint = models.CharField(max_length=128)
    source = models.ForeignKey(
        IntakeSource, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    alert_count = models.PositiveIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    owner_team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    awaiting_reason = models.TextField(blank=True)
    # How it was opened; intake inserts rows in raw SQL (alerts.ingest), hence the db defaults.
    origin = models.CharField(
        max_length=10, choices=Origin.choices, default=Origin.INTAKE, db_default=Origin.INTAKE
    )
    # What the person who opened it by hand said (a customer's report, an analyst's notes);
    # intake's incidents have their alerts instead.
    description = models.TextField(blank=True, default="", db_default="")
    affected_assets = models.JSONField(default=list, db_default=[], blank=True)
    affected_people = models.JSONField(default=list, db_default=[], blank=True)
    # Who may receive it (alerts.tlp); GREEN by default: every member of the customer.
    tlp = models.CharField(
        max_length=15, choices=Tlp.choices, default=Tlp.GREEN, db_default=Tlp.GREEN
    )
    pap = models.CharField(
        max_length=10, choices=Pap.choices, default=Pap.GREEN, db_default=Pap.GREEN
    )
    # The tenant's own fields (cases.CustomField), by field key; validated on every write by
    # cases.custom_fields, never by the database.
    custom_fields = models.JSONField(default=dict, db_default={}, blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # The earliest deadline of its running SLA clocks, written by the SLA app (NO_DEADLINE when
    # none): the queue's first ordering key, so that the least time left comes first.
    respond_by = models.DateTimeField(default=NO_DEADLINE, db_default=NO_DEADLINE)
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    contained_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-severity_rank", "created_at"]
        constraints = [
            # One open incident per fingerprint and tenant: concurrent intake upserts into it.
            models.UniqueConstraint(
                fields=["tenant", "fingerprint"],
                condition=models.Q(status__in=[s.value for s in OPEN_STATUSES]),
                name="incident_one_open_per_fingerprint",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "status", "-severity_rank", "created_at"], name="incident_queue"
            ),
            # The urgency order (alerts.selectors.URGENCY) for each way the lists are read: all
            # incidents, the open ones (the queue), one owner's. A page's keys are read in order
            # from the index alone (the columns after the unique id, which never change the
            # order, answer the tenant check, row-level security and the common filters without
            # visiting the table), and the scan stops after a page, at page 1 as at page 500
            # (tenants.api.pagination.KeysetPagination). Trailing key columns rather than
            # INCLUDE, which SQLite (the embedded mode) lacks.
            models.Index(
                fields=["respond_by", "-severity_rank", "created_at", "id", "tenant"],
                name="incident_urgency",
            ),
            models.Index(
                fields=[
                    *("respond_by", "-severity_rank", "created_at", "id"),
                    *("tenant", "status", "severity", "owner", "owner_team"),
                ],
                condition=models.Q(status__in=[s.value for s in OPEN_STATUSES]),
                name="incident_open_urgency",
            ),
            models.Index(
                fields=[
                    *("owner", "respond_by", "-severity_rank", "created_at", "id"),
                    *("tenant", "status"),
                ],
                name="incident_owner_urgency",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Visibility(models.TextChoices):
    INTERNAL = "internal", "Internal (MSSP only)"
    SHARED = "shared", "Shared with the customer"


class IncidentEvent(TenantOwnedModel):
    """The timeline: every change to an incident, with who and when."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    kind = models.CharField(max_length=40)
    summary = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.SHARED
    )
    # Who may receive it (alerts.tlp); GREEN by default: every member of the customer.
    tlp = models.CharField(
        max_length=15, choices=Tlp.choices, default=Tlp.GREEN, db_default=Tlp.GREEN
    )

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["incident", "at"], name="incident_event_timeline")]


class Comment(TenantOwnedModel):
    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    author_name = models.CharField(max_length=150, blank=True)
    body = models.TextField()
    visibility = models.CharField(max_length=10, choices=Visibility.choices)
    # Who may receive it (alerts.tlp); GREEN by default: every member of the customer.
    tlp = models.CharField(
        max_length=15, choices=Tlp.choices, default=Tlp.GREEN, db_default=Tlp.GREEN
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]


class ContainmentAction(TenantOwnedModel):
    """What was done to limit impact: action, target, who, when, result."""

    class Result(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="containment")
    action = models.CharField(max_length=200)
    target = models.CharField(max_length=500)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    at = models.DateTimeField(default=timezone.now)
    result = models.CharField(max_length=20, choices=Result.choices, default=Result.PENDING)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]


class SuppressionRule(TenantOwnedModel):
    """Alerts matching every condition are stored but not raised (no incident) until the rule
    expires. Every rule has an owner and an expiry: suppression never silently outlives
    the reason it was made for."""

    CONDITIONS = ("rule_id", "title_contains", "category", "source", "severity", "observable")

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    reason = models.TextField()
    conditions = models.JSONField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    expires_at = models.DateTimeField()
    is_active = models.BooleanField(default=True)
    hit_count = models.PositiveIntegerField(default=0)
    last_hit_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class CorrelationRule(TenantOwnedModel):
    """Alerts that share the values of `group_by` within `window_minutes` of the group's last
    alert form one incident, whatever their own fingerprints."""

    FIELDS = (
        "rule_id",
        "category",
        "source",
        "title",
        "observable:ip",
        "observable:hostname",
        "observable:user",
        "observable:domain",
        "observable:hash",
        "observable:email",
        "observable:url",
    )

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    group_by = models.JSONField()
    window_minutes = models.PositiveIntegerField()
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.name


class Hunt(models.Model):
    """A saved search over alerts and their observables, run across the tenants whoever runs
    it works. Not tenant-owned: it names no tenant's data, only a query; its results are
    computed with the runner's own access every time (a scheduled run: its owner's, as it is
    then), so sharing a hunt never shares another analyst's tenants."""

    class Schedule(models.TextChoices):
        NONE = "", "On demand"
        HOURLY = "hourly", "Every hour"
        DAILY = "daily", "Every day"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Validated by alerts.hunts.HuntQuery: q, severity, source_kind, category, rule, mitre,
    # observable_type, observable_value, tenants (slugs; empty: every tenant the runner works).
    query = models.JSONField(default=dict)
    lookback_days = models.PositiveSmallIntegerField(default=7)
    shared = models.BooleanField(default=False, help_text="Other MSSP staff may see and run it.")
    schedule = models.CharField(max_length=10, choices=Schedule.choices, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(
                fields=["next_run_at"],
                condition=models.Q(next_run_at__isnull=False),
                name="hunt_due",
            )
        ]

    def __str__(self) -> str:
        return self.name


class HuntRun(models.Model):
    """One run of a hunt: when, by whom, and how many hits per tenant the runner may see (a
    page shows only the tenants its viewer works, whatever the runner saw)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    hunt = models.ForeignKey(Hunt, on_delete=models.CASCADE, related_name="runs")
    run_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    scheduled = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    hits = models.PositiveIntegerField(default=0)
    new_hits = models.PositiveIntegerField(default=0, help_text="Received since the last run.")
    per_tenant = models.JSONField(default=dict)  # {slug: hits}
    # {slug: hits received since the run before}; null on runs recorded before it was kept
    # (their total cannot be split, so it is shown only to a viewer who works all it counts)
    new_per_tenant = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["hunt", "-started_at"], name="hunt_run_latest")]

    def __str__(self) -> str:
        return f"{self.hunt} at {self.started_at:%Y-%m-%d %H:%M}"


class ObservableTag(models.TextChoices):
    """What is known about an observable: an indicator of compromise, known not to be one, or
    seen in the customer's environment (not yet judged)."""

    NONE = "", "Untagged"
    IOC = "ioc", "IOC"
    NOT_IOC = "not_ioc", "Not an IOC"
    SIGHTED = "sighted", "Sighted"


class ObservableSource(models.TextChoices):
    ALERT = "alert", "From an alert"
    ANALYST = "analyst", "Added by an analyst"
    CUSTOMER = "customer", "Added by the customer"


class IncidentObservable(TenantOwnedModel):
    """An observable of an incident: from its alerts (written by intake when they join it, one
    statement per batch) or added by hand, with what is known about it (its tag and note).

    One row per incident, type and value; `key` is 63 bits of BLAKE2b over "<type>\\0<value>"
    (alerts.observables.key_of, the same as intel's sightings), so that uniqueness and every
    lookup across the tenant's incidents (sightings, similar incidents) are bigint equality on
    an index: leakproof under row-level security, and a value may be a 2,000-character URL."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="observables")
    type = models.CharField(max_length=20)
    value = models.CharField(max_length=2000)
    key = models.BigIntegerField()
    tag = models.CharField(max_length=10, choices=ObservableTag.choices, blank=True, default="")
    note = models.TextField(blank=True, default="")
    source = models.CharField(max_length=10, choices=ObservableSource.choices)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.SHARED
    )
    # Who may receive it (alerts.tlp); GREEN by default: every member of the customer.
    tlp = models.CharField(
        max_length=15, choices=Tlp.choices, default=Tlp.GREEN, db_default=Tlp.GREEN
    )
    pap = models.CharField(
        max_length=10, choices=Pap.choices, default=Pap.GREEN, db_default=Pap.GREEN
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # How many of the incident's alerts carried it (0: added by hand), and when they were seen
    # (for one added by hand: when it was added, or what the person said).
    alert_count = models.PositiveIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["type", "value"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "key"], name="incident_observable_once"),
        ]
        indexes = [
            # Sightings and similar incidents: the tenant's incidents carrying these keys.
            models.Index(fields=["tenant", "key", "incident"], name="incident_observable_key"),
        ]

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


class IntakeLogEntry(TenantOwnedModel):
    """One accepted intake request whose alerts the pipeline has not run on yet (the durable
    intake log, alerts.intake.log). Appended in one statement before the 202; taken by a drain
    (oldest first, FOR UPDATE SKIP LOCKED), run through alerts.ingest and deleted in the
    drain's transaction. Rows that stay are the backlog (/healthz, the manager's view)."""

    id = models.BigAutoField(primary_key=True)  # the log's order: oldest first
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(IntakeSource, on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)
    # [{"id": the alert id the sender was given, "alert": the parsed record}], in batch order
    alerts = models.JSONField()
    # A row the pipeline failed on, alone, is set aside (kept, counted, never dropped).
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["id"], name="intake_log_pending", condition=models.Q(failed_at=None)
            ),
        ]

    def __str__(self) -> str:
        return f"intake log {self.pk} ({len(self.alerts)} alerts)"
