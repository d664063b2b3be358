"""Reports: a tenant's period summary, computed once and stored with its PDF and CSV."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from tenants.jobs import JobStatus, TrackedJob
from tenants.models import Tenant, TenantOwnedModel, new_public_id


class Report(TenantOwnedModel, TrackedJob):
    """One tenant's report over [period_start, period_end). `figures` holds everything the
    page, the PDF, the CSV and the API show, computed once, so all four show the same numbers.
    The PDF and CSV are stored in the row (under row-level security like the figures), so any
    daphne process serves them without a shared filesystem."""

    class Kind(models.TextChoices):
        ON_DEMAND = "on_demand", "On demand"
        SCHEDULED = "scheduled", "Scheduled"

    UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField(help_text="Exclusive: the report covers [start, end).")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.ON_DEMAND)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    step = models.CharField(max_length=200, blank=True, help_text="What generation is doing.")
    attempts = models.PositiveSmallIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    email_contacts = models.BooleanField(
        default=False, help_text="Email the tenant's report contacts when done."
    )
    figures = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    pdf = models.BinaryField(null=True, blank=True, editable=False)
    csv = models.BinaryField(null=True, blank=True, editable=False)
    pdf_size = models.PositiveIntegerField(default=0)
    csv_size = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    emailed_to = models.JSONField(default=list, blank=True)
    email_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "period_start", "period_end"],
                condition=models.Q(kind="scheduled"),
                name="report_one_scheduled_per_period",
            ),
            models.CheckConstraint(
                condition=models.Q(period_start__lt=models.F("period_end")),
                name="report_period_not_empty",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at", "-id"], name="report_tenant_created"),
            models.Index(
                fields=["updated_at"],
                name="report_unfinished",
                condition=models.Q(status__in=["queued", "running"]),
            ),
        ]

    def __str__(self) -> str:
        return f"report of {self.tenant_id} from {self.period_start:%Y-%m-%d %H:%M}"

    @property
    def period_label(self) -> str:
        """The period in the tenant's time zone, its exclusive end shown as the last day."""
        from .figures import period_label

        return period_label(self.tenant, self.period_start, self.period_end)


class ReportSchedule(TenantOwnedModel):
    """How often a tenant gets a scheduled report. A tenant without a row gets the default,
    monthly (the previous calendar month in the tenant's time zone)."""

    class Frequency(models.TextChoices):
        MONTHLY = "monthly", "Monthly"
        WEEKLY = "weekly", "Weekly (Monday to Monday)"
        OFF = "off", "No scheduled reports"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="+")
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default="monthly")
    email_contacts = models.BooleanField(
        default=True, help_text="Email each scheduled report to the tenant's report contacts."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.frequency} reports of {self.tenant_id}"


class IncidentReport(TenantOwnedModel):
    """The post-incident report of one incident, in the customer's name: four sections the
    analysts write and `facts`, a snapshot of the incident as its customer sees it
    (reports.incident_reports.incident_facts), taken when drafted and on "refresh facts".
    Drafted, approved by a supervisor other than its last editor (four eyes), then shared
    with the customer, who sees nothing of it before."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"
        SHARED = "shared", "Shared with the customer"

    SECTIONS = ("summary", "root_cause", "lessons_learned", "recommendations")
    SECTION_MAX = 20_000  # characters per section (the API's serializer states it once)

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    incident = models.OneToOneField(
        "alerts.Incident", on_delete=models.CASCADE, related_name="post_incident_report"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    summary = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    lessons_learned = models.TextField(blank=True)
    recommendations = models.TextField(blank=True)
    facts = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    facts_at = models.DateTimeField(help_text="When the facts were taken from the incident.")
    drafted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    drafted_at = models.DateTimeField()
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        help_text="Who last changed it (drafted, edited, refreshed): not its approver.",
    )
    edited_at = models.DateTimeField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    shared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    shared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "status"], name="incident_report_status")]

    def __str__(self) -> str:
        return f"post-incident report of {self.incident_id} ({self.status})"
