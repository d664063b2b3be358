"""Telling people: a tenant's channels (where messages go), its subscriptions (which events go
to which channel) and the deliveries (one message to one channel: the outbox and the
delivery log in one table)."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import models
from django.utils import timezone

from alerts.models import Incident, Severity
from tenants.models import Team, Tenant, TenantOwnedModel, new_public_id
from tenants.outbox import OutboxRow


class Kind(models.TextChoices):
    EMAIL = "email", "E-mail"
    SLACK = "slack", "Slack (incoming webhook)"
    SLACK_APP = "slack_app", "Slack (app with buttons)"
    TEAMS = "teams", "Microsoft Teams (Workflows webhook)"
    PAGERDUTY = "pagerduty", "PagerDuty (Events API v2)"
    OPSGENIE = "opsgenie", "Opsgenie (Alert API)"
    SMS = "sms", "SMS"
    VOICE = "voice", "Voice call"
    WEBHOOK = "webhook", "Signed webhook (Standard Webhooks)"


class Event(models.TextChoices):
    """What a subscription can ask to be told of (each from a live-stream event)."""

    INCIDENT_OPENED = "incident.opened", "Incident opened"
    INCIDENT_COMMENT = "incident.comment", "Shared comment"
    INCIDENT_STATUS = "incident.status", "Incident status changed"
    INCIDENT_CONTAINMENT = "incident.containment", "Containment recorded"
    INCIDENT_REPORT_SHARED = "incident.report_shared", "Post-incident report shared"
    SLA_AT_RISK = "sla.at_risk", "SLA at risk"
    SLA_BREACHED = "sla.breached", "SLA breached"
    ESCALATION_REQUESTED = "escalation.requested", "Escalation offered"
    ESCALATION_ACCEPTED = "escalation.accepted", "Escalation accepted"
    ESCALATION_DECLINED = "escalation.declined", "Escalation declined"
    ESCALATION_EXPIRED = "escalation.expired", "Escalation expired"
    FINDING_OVERDUE = "finding.overdue", "Finding past its remediation date"
    REPORT_READY = "report.ready", "Report ready"
    # response actions on the customer's own tools (response.services)
    ACTION_APPROVAL_REQUESTED = "action.approval_requested", "Response action awaiting approval"
    ACTION_COMPLETED = "action.completed", "Response action finished"


class Destination(models.Model):
    """What every channel is, whoever owns it (a tenant's Channel, an MSSP team's
    TeamChannel): where messages go. Secrets (a webhook URL, an API key, a signing secret) are
    sealed (tenants.sealed), shown once when made and never sent to a browser again: pages
    and the API show `hint`."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    target = models.CharField(max_length=254, blank=True, help_text="E-mail address or phone.")
    sealed_secrets = models.TextField(blank=True, editable=False)
    hint = models.CharField(max_length=60, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class Channel(Destination, TenantOwnedModel):
    """Where a tenant's messages go: its contacts', its in-house team's."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="channels")

    class Meta:
        ordering = ["name", "created_at"]


class TeamChannel(Destination):
    """Where an MSSP team's messages go (a tier's Slack channel, the NOC's PagerDuty service):
    the MSSP's own, not any tenant's (so not row-level secured, and never in a customer's
    view). It is told of every escalation addressed to its team; and, when it names tenants,
    of those tenants' events it asks for (`events`, `min_severity`, as a Subscription), with
    the same customer-safe messages as a tenant's channels. It never hears of a tenant it does
    not name. Only MSSP teams (tiers, the MSSP's NOC) have them: a customer's team's channels
    are its tenant's Channels."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="channels")
    events = models.JSONField(default=list, blank=True)
    min_severity = models.CharField(max_length=10, choices=Severity.choices, blank=True)
    tenants = models.ManyToManyField(
        Tenant, through="TeamChannelTenant", blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name", "created_at"]

    def hear_of(self, tenants: Iterable[Tenant]) -> None:
        """Name exactly these tenants (the caller's context must admit each: the links are
        row-level secured like any tenant's row)."""
        chosen = {tenant.pk for tenant in tenants}
        links = TeamChannelTenant.objects.dangerously_unscoped("a team channel's own links")
        links.filter(team_channel=self).exclude(tenant_id__in=sorted(chosen)).delete()
        kept = set(links.filter(team_channel=self).values_list("tenant_id", flat=True))
        TeamChannelTenant.objects.bulk_create(
            [TeamChannelTenant(team_channel=self, tenant_id=pk) for pk in sorted(chosen - kept)]
        )
        getattr(self, "_prefetched_objects_cache", {}).pop("tenants", None)  # read anew


class TeamChannelTenant(TenantOwnedModel):
    """A tenant a team channel hears of: the tenant's row (row-level secured), so that a
    caller or a transaction that does not see the tenant does not see the link either."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    team_channel = models.ForeignKey(TeamChannel, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team_channel", "tenant"], name="team_channel_hears_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.team_channel_id} hears of {self.tenant_id}"


class Subscription(TenantOwnedModel):
    """Which events go to a channel: the listed ones (none listed: every one), about incidents
    of at least `min_severity`, of one of `categories` and from one of `sources` (each empty:
    any) where the event is an incident's."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="subscriptions")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="subscriptions")
    events = models.JSONField(default=list, blank=True)
    min_severity = models.CharField(max_length=10, choices=Severity.choices, blank=True)
    # Incident categories, case-folded ("phishing"); an incident's category matches one
    # exactly, ignoring case.
    categories = models.JSONField(default=list, blank=True, db_default=[])
    # Intake source kinds (alerts.models.SourceKind: "wazuh", "suricata"...): an incident that
    # came through a source of one of them. An incident raised by hand has no source.
    sources = models.JSONField(default=list, blank=True, db_default=[])
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{', '.join(self.events) or 'every event'} → {self.channel_id}"


class ContactMethod(models.Model):
    """One of a person's own ways to be reached (OnCall's "contact method"): their e-mail, a
    phone for SMS or calls, their Slack or PagerDuty. Not tenant data: it is the person's, and
    only they see and change it. Secrets are sealed as a channel's are."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_methods"
    )
    label = models.CharField(max_length=100)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    target = models.CharField(max_length=254, blank=True)
    sealed_secrets = models.TextField(blank=True, editable=False)
    hint = models.CharField(max_length=60, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_kind_display()})"


class NotificationRule(models.Model):
    """A step of a person's own paging sequence: "this contact method, `delay_minutes` after
    the page, unless it is acknowledged by then" ("Slack now; SMS after 5 min; then call")."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_rules"
    )
    contact_method = models.ForeignKey(
        ContactMethod, on_delete=models.CASCADE, related_name="rules"
    )
    delay_minutes = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["delay_minutes", "created_at"]

    def __str__(self) -> str:
        return f"{self.contact_method} after {self.delay_minutes} min"


class Page(TenantOwnedModel):
    """A person paged about an incident (an escalation step, a hand-off): their notification
    rules are walked, one delivery each, until the incident or the hand-off is answered."""

    class Status(models.TextChoices):
        PAGING = "paging", "Paging"
        ANSWERED = "answered", "Answered"
        EXHAUSTED = "exhausted", "Every rule tried"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+")
    escalation_id = models.UUIDField(null=True, blank=True)  # the escalation it is about
    direction = models.CharField(max_length=20, blank=True)  # that escalation's
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PAGING)
    next_rule = models.PositiveSmallIntegerField(default=0)
    next_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["next_at"], name="page_due", condition=models.Q(status="paging"))
        ]

    def __str__(self) -> str:
        return f"page {self.user_id} about {self.incident_id} ({self.status})"


class Delivery(OutboxRow):
    """One message to one channel: written in the transaction of the event it tells of,
    delivered by the `notifications` queue (tenants.outbox), and kept as the tenant's delivery
    log. A failed delivery is dead-lettered (status failed) until staff retry it."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(
        Channel, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    # or an MSSP team's channel (then staff_only: the MSSP's own business)
    team_channel = models.ForeignKey(
        TeamChannel, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    # or, for a page, the paged person's own contact method (then the MSSP's business, not in
    # the customer's log unless the person is the customer's)
    contact_method = models.ForeignKey(
        ContactMethod, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    page = models.ForeignKey(
        Page, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # a page by e-mail to the person's account (they have no rules of their own)
    recipient = models.EmailField(blank=True)
    staff_only = models.BooleanField(default=False)  # the MSSP's own: not in the customer's log
    kind = models.CharField(max_length=12, choices=Kind.choices)
    event_type = models.CharField(max_length=40)
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    title = models.CharField(max_length=300)
    message = models.JSONField()  # notifications.message.Message, as sent
    answer = models.CharField(max_length=200, blank=True)  # what the receiver last said
    is_test = models.BooleanField(default=False)
    # A one-click answer from the message (notifications.links): who, which, when; once.
    acted = models.CharField(
        max_length=20,
        blank=True,
        choices=[
            ("acknowledge", "Acknowledged"),
            ("accept", "Accepted"),
            ("decline", "Declined"),
            ("approve", "Approved"),
            ("reject", "Rejected"),
        ],
    )
    acted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="delivery_once")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["tenant", "-created_at"], name="delivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.kind} ({self.status})"
