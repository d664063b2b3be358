"""Case work on an incident: tasks by incident-response phase, and case templates that give an
incident of a category its tasks and default severity."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from alerts.models import Comment, Incident, Severity, Tlp, Visibility
from tenants.models import Team, Tenant, TenantOwnedModel, new_public_id
from tenants.querysets import TenantScopedManager


class Phase(models.TextChoices):
    """NIST SP 800-61 / SANS PICERL."""

    PREPARATION = "preparation", "Preparation"
    IDENTIFICATION = "identification", "Identification"
    CONTAINMENT = "containment", "Containment"
    ERADICATION = "eradication", "Eradication"
    RECOVERY = "recovery", "Recovery"
    LESSONS_LEARNED = "lessons_learned", "Lessons learned"


PHASE_ORDER = {value: position for position, value in enumerate(Phase.values)}


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (TaskStatus.DONE, TaskStatus.CANCELLED)


class CaseTemplate(models.Model):
    """What an incident of one category gets: tasks (phase, visibility, due after so many
    minutes, handed to the customer's team or not), a default severity and custom field
    values. The MSSP's library has no tenant; a tenant's own variant of a category replaces the
    library's for it."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    category = models.CharField(max_length=100)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    default_severity = models.CharField(max_length=10, choices=Severity.choices, blank=True)
    # [{"title", "description", "phase", "visibility", "due_minutes", "customer_side"}]
    # (cases.api.serializers.TemplateTaskSerializer)
    tasks = models.JSONField(default=list)
    # Custom field values (cases.custom_fields) it sets on an incident where the incident has
    # none yet, by field key; a library template names keys that each customer may or may not
    # define, and only those a customer defines apply to its incidents.
    custom_fields = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedManager()
    tenant_nullable_reason = "The MSSP's template library belongs to no customer."
    # Applied when any tenant's incident opens, in that tenant's own context.
    rls_also_visible_when = "tenant_id IS NULL"

    class Meta:
        ordering = ["category", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "category"], name="casetemplate_one_per_tenant_category"
            ),
            models.UniqueConstraint(
                fields=["category"],
                condition=models.Q(tenant__isnull=True),
                name="casetemplate_one_library_per_category",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_library(self) -> bool:
        return self.tenant_id is None


class Task(TenantOwnedModel):
    """A piece of work on an incident. `internal` ones are the MSSP's alone: no customer page,
    API answer or stream event ever carries them."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    phase = models.CharField(max_length=20, choices=Phase.choices)
    status = models.CharField(max_length=20, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.INTERNAL
    )
    # Who may receive it (alerts.tlp); GREEN by default: every member of the customer.
    tlp = models.CharField(
        max_length=15, choices=Tlp.choices, default=Tlp.GREEN, db_default=Tlp.GREEN
    )
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
    due_at = models.DateTimeField(null=True, blank=True)
    template = models.ForeignKey(
        CaseTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    position = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["position", "created_at", "id"]
        indexes = [
            models.Index(fields=["incident", "position"], name="task_incident"),
            models.Index(fields=["tenant", "status", "due_at"], name="task_tenant_status"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def customer_side(self) -> bool:
        """Handed to the customer: its in-house team, or one of its members."""
        if self.owner_team_id is not None:
            return self.owner_team is not None and self.owner_team.tenant_id == self.tenant_id
        return self.owner is not None and not self.owner.is_mssp_staff

    @property
    def is_overdue(self) -> bool:
        return bool(self.due_at and not self.is_finished and self.due_at < timezone.now())


class Attachment(TenantOwnedModel):
    """An evidence file on an incident, optionally on one of its comments or tasks. The file
    is stored under a random key of its tenant (`evidence/<tenant id>/<uuid>`), never under the
    name the client gave, which is kept, cleaned, as display text only. Deleting keeps the row
    and its hash (the chain of custody) and removes the file."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="attachments")
    comment = models.ForeignKey(
        Comment, on_delete=models.SET_NULL, null=True, blank=True, related_name="attachments"
    )
    task = models.ForeignKey(
        Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="attachments"
    )
    name = models.CharField(max_length=255)
    storage_key = models.CharField(max_length=200, unique=True)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.INTERNAL
    )
    # Who may receive it (alerts.tlp); GREEN by default: every member of the customer.
    tlp = models.CharField(
        max_length=15, choices=Tlp.choices, default=Tlp.GREEN, db_default=Tlp.GREEN
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_by_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    deleted_by_name = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["incident", "created_at"], name="attachment_incident"),
            models.Index(fields=["tenant", "sha256"], name="attachment_tenant_sha256"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class EvidenceLimit(TenantOwnedModel):
    """A tenant's own evidence limits, stricter than the MSSP's (EVIDENCE_MAX_BYTES,
    EVIDENCE_MAX_PER_INCIDENT); empty means the MSSP's. Never looser: the proxy's body limit
    is the MSSP's."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="+")
    max_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    max_per_incident = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"evidence limits of tenant {self.tenant_id}"


class FieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    CHOICE = "choice", "Choice"
    DATE = "date", "Date"
    USER = "user", "User"


class CustomField(TenantOwnedModel):
    """One of a tenant's own fields on its incidents ("Business impact", "Root cause"). The
    values live on the incident (Incident.custom_fields, by `key`) and are validated on every
    write by cases.custom_fields. The key never changes once an incident holds a value; an
    archived field is offered nowhere but its stored values stay readable. `customer_visible`
    off makes it the MSSP's alone: no customer page, API answer, export or report shows it."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    key = models.SlugField(max_length=50)
    label = models.CharField(max_length=100)
    help_text = models.CharField(max_length=300, blank=True)
    type = models.CharField(max_length=10, choices=FieldType.choices)
    # For a choice field: the values offered, in the order shown and sorted by.
    choices = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField(default=0)
    is_archived = models.BooleanField(default=False)
    customer_visible = models.BooleanField(default=True)
    # Must have a value when an incident of one of these categories opens, or before an
    # incident moves to one of these statuses (e.g. "resolved": the root cause).
    required_for_categories = models.JSONField(default=list, blank=True)
    required_for_statuses = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "label", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="customfield_key_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.label


class LibraryField(models.Model):
    """A custom incident field the MSSP keeps in its library ("Business impact" with its
    usual choices): a definition, not a field of anyone's. A customer's admin (or MSSP staff
    for a customer they manage) adopts it, which makes the customer's own CustomField from it
    through the same validation and audit as any new field; later changes to the library do
    not reach fields already adopted. No tenant: MSSP admins keep it (the Django admin, whose
    form holds an entry to the rules of a customer's field: cases.admin)."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    key = models.SlugField(max_length=50, unique=True)
    label = models.CharField(max_length=100)
    help_text = models.CharField(max_length=300, blank=True)
    type = models.CharField(max_length=10, choices=FieldType.choices)
    choices = models.JSONField(default=list, blank=True)
    required_for_categories = models.JSONField(default=list, blank=True)
    required_for_statuses = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["label", "key"]

    def __str__(self) -> str:
        return self.label
