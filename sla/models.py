"""Time: SLA policies and the clocks they start on incidents."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from alerts.models import Incident, Severity
from tenants.models import Tenant, TenantOwnedModel, new_public_id
from tenants.outbox import OutboxRow
from tenants.querysets import TenantScopedManager


class Target(models.TextChoices):
    ACKNOWLEDGE = "acknowledge", "Acknowledge"
    NOTIFY = "notify", "Notify the customer"
    CONTAIN = "contain", "Contain"
    RESOLVE = "resolve", "Resolve"


class Coverage(models.TextChoices):
    ALWAYS = "24x7", "24x7"
    BUSINESS_HOURS = "business_hours", "The tenant's business hours"


class SlaPolicy(models.Model):
    """Targets for one severity: the MSSP's default contract (no tenant) or a tenant's own,
    which overrides the default for that severity. Minutes are covered minutes (business
    minutes under business-hours coverage); an empty target is not measured."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    severity = models.CharField(max_length=10, choices=Severity.choices)
    acknowledge_minutes = models.PositiveIntegerField(null=True, blank=True)
    notify_minutes = models.PositiveIntegerField(null=True, blank=True)
    contain_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolve_minutes = models.PositiveIntegerField(null=True, blank=True)
    coverage = models.CharField(max_length=20, choices=Coverage.choices, default=Coverage.ALWAYS)
    at_risk_percent = models.PositiveSmallIntegerField(default=75)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedManager()
    tenant_nullable_reason = "The MSSP's default contract template belongs to no customer."
    rls_also_visible_when = "tenant_id IS NULL"

    class Meta:
        ordering = ["tenant_id", "severity"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "severity"],
                name="sla_policy_per_tenant",
                condition=models.Q(tenant__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["severity"],
                name="sla_policy_default",
                condition=models.Q(tenant__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.severity} SLA of {self.tenant_id or 'the default contract'}"

    def minutes_for(self, target: str) -> int | None:
        return getattr(self, f"{target}_minutes")


class ClockState(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    AT_RISK = "at_risk", "At risk"
    MET = "met", "Met"
    BREACHED = "breached", "Breached"


class SlaClock(TenantOwnedModel):
    """One target on one incident. `due_at` and `at_risk_at` are indexed deadlines that the
    sweeper claims (FOR UPDATE SKIP LOCKED); `*_fired_at` make each firing happen once."""

    class Owner(models.TextChoices):
        MSSP = "mssp", "MSSP"
        CUSTOMER = "customer", "Customer (after an accepted hand-off)"
        NOC = "noc", "NOC (its internal target)"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="sla_clocks")
    target = models.CharField(max_length=20, choices=Target.choices)
    owner = models.CharField(max_length=10, choices=Owner.choices, default=Owner.MSSP)
    state = models.CharField(max_length=10, choices=ClockState.choices, default=ClockState.RUNNING)
    coverage = models.CharField(max_length=20, choices=Coverage.choices)
    target_minutes = models.PositiveIntegerField()
    at_risk_percent = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    # Covered seconds used before the current run (pauses excluded); the clock's deadlines
    # are computed from the moment it last (re)started.
    consumed_seconds = models.FloatField(default=0)
    resumed_at = models.DateTimeField()
    paused_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    at_risk_at = models.DateTimeField(null=True, blank=True)
    met_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    at_risk_fired_at = models.DateTimeField(null=True, blank=True)
    breach_fired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "target", "owner"],
                condition=models.Q(state__in=["running", "paused", "at_risk"]),
                name="sla_clock_one_live_per_target",
            ),
        ]
        indexes = [
            models.Index(
                fields=["due_at"],
                name="sla_clock_due",
                condition=models.Q(state__in=["running", "at_risk"], breach_fired_at__isnull=True),
            ),
            models.Index(
                fields=["at_risk_at"],
                name="sla_clock_at_risk",
                condition=models.Q(state="running", at_risk_fired_at__isnull=True),
            ),
            models.Index(fields=["tenant", "started_at"], name="sla_clock_tenant_started"),
        ]

    def __str__(self) -> str:
        return f"{self.target} of {self.incident_id} ({self.state})"


class Notification(OutboxRow):
    """One message to one recipient about one firing: written in the transaction that fired,
    delivered after commit by a task, retried from the table if the task is lost (the outbox
    kit, tenants.outbox). The unique key makes a second firing of the same thing impossible
    to notify twice."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    # Empty for firings that are not an incident's (a finding's remediation clock): the
    # payload then names what fired.
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    event_type = models.CharField(max_length=40)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recipient = models.CharField(max_length=500)
    webhook = models.ForeignKey(
        "tenants.Webhook", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    subject = models.CharField(max_length=300)
    payload = models.JSONField()

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="notification_once")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="notification_due",
                condition=models.Q(status="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.recipient} ({self.status})"


class StepAction(models.TextChoices):
    NOTIFY_TIER = "notify_tier", "Notify an MSSP tier"
    PAGE_LEAD = "page_lead", "Page the MSSP lead"
    HANDOFF_IN_HOUSE = "handoff_in_house", "Hand off to the in-house team"
    NOTIFY_NOC = "notify_noc", "Notify the NOC"


class EscalationPolicy(TenantOwnedModel):
    """A tenant's ordered escalation steps. Each step:
    {"action": StepAction, one target at most (sla.targets): "team": "<team id>", "schedule":
    "<on-call schedule id>" (whoever is on call then) or "person": <user id>; "wait_minutes": n
    (after the previous step), "respond_minutes": n (hand-offs), "if": {"severity": [...],
    "category": [...], "unacknowledged": true}}. The whole list repeats `repeat` more times.
    Frozen onto an incident when its escalation starts: later edits do not change it."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=200)
    steps = models.JSONField()
    repeat = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"],
                condition=models.Q(is_active=True),
                name="escalation_policy_one_active",
            )
        ]

    def __str__(self) -> str:
        return self.name


class EscalationRun(TenantOwnedModel):
    """A frozen policy walking on one incident: which step is next and when."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    incident = models.OneToOneField(
        Incident, on_delete=models.CASCADE, related_name="escalation_run"
    )
    policy = models.JSONField(help_text="The policy as it was when the run started.")
    next_step = models.PositiveSmallIntegerField(default=0)
    repeats_done = models.PositiveSmallIntegerField(default=0)
    # Null while a hand-off awaits an answer, and once the run is over.
    next_step_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_step_at"],
                name="escalation_run_due",
                condition=models.Q(finished_at__isnull=True, next_step_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"escalation of {self.incident_id}"


class Escalation(TenantOwnedModel):
    """One hand-off of an incident to a team, either way, or a notice to a NOC or tier."""

    class Direction(models.TextChoices):
        TO_CUSTOMER = "to_customer", "MSSP → in-house team"
        TO_MSSP = "to_mssp", "In-house team → MSSP"
        TO_NOC = "to_noc", "To the NOC"
        TO_TIER = "to_tier", "To an MSSP tier or lead"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"
        NOTIFIED = "notified", "Notified (no answer expected)"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="escalations")
    run = models.ForeignKey(
        EscalationRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="escalations"
    )
    step_index = models.PositiveSmallIntegerField(null=True, blank=True)
    direction = models.CharField(max_length=20, choices=Direction.choices)
    team = models.ForeignKey(
        "tenants.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A step may name whoever is on call on a schedule (its team is then `team`), or one person.
    schedule = models.ForeignKey(
        "oncall.Schedule", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    respond_by = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    responded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)
    reason = models.TextField(blank=True, help_text="Why it was declined.")

    class Meta:
        ordering = ["-requested_at"]
        indexes = [
            models.Index(
                fields=["respond_by"],
                name="escalation_pending_due",
                condition=models.Q(status="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.status} ({self.incident_id})"
