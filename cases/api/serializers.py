from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts.api.serializers import tlp_field
from alerts.models import Severity, Visibility
from tenants.text import single_line

from ..models import Attachment, CaseTemplate, Phase, Task, TaskStatus

MAX_TEMPLATE_TASKS = 50
MAX_DUE_MINUTES = 60 * 24 * 365


class TaskSerializer(serializers.ModelSerializer):
    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    owner = serializers.CharField(
        source="owner.username", read_only=True, default=None, allow_null=True
    )
    owner_team = serializers.CharField(
        source="owner_team.name", read_only=True, default=None, allow_null=True
    )
    customer_side = serializers.BooleanField(read_only=True)
    template = serializers.CharField(
        source="template.name", read_only=True, default=None, allow_null=True
    )
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None, allow_null=True
    )
    completed_by = serializers.CharField(
        source="completed_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Task
        fields = [
            "id",
            "tenant",
            "incident",
            "title",
            "description",
            "phase",
            "status",
            "visibility",
            "tlp",
            "owner",
            "owner_team",
            "customer_side",
            "due_at",
            "template",
            "created_by",
            "created_at",
            "updated_at",
            "completed_at",
            "completed_by",
        ]
        read_only_fields = fields


class TaskWriteSerializer(serializers.Serializer):
    """A new task, or the fields of one that change (PATCH: only those given)."""

    title = serializers.CharField(max_length=300)
    description = serializers.CharField(max_length=20_000, required=False, allow_blank=True)
    phase = serializers.ChoiceField(choices=Phase.choices)
    visibility = serializers.ChoiceField(
        choices=Visibility.choices,
        required=False,
        help_text="internal: MSSP only (staff's default); shared: the customer sees it. "
        "Customers add shared tasks.",
    )
    owner = serializers.CharField(
        max_length=150,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Username of someone who may see the incident (a customer's responder or "
        "admin for a task handed to the customer); null for nobody.",
    )
    team = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="An MSSP team, or this customer's own in-house team.",
    )
    due_at = serializers.DateTimeField(required=False, allow_null=True)
    tlp = tlp_field(required=False)

    def validate_title(self, value: str) -> str:
        value = single_line(value, 300)
        if not value:
            raise serializers.ValidationError("A task needs a title.")
        return value


class TaskStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=TaskStatus.choices)


class TemplateTaskSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    phase = serializers.ChoiceField(choices=Phase.choices)
    visibility = serializers.ChoiceField(
        choices=Visibility.choices, required=False, default=Visibility.INTERNAL
    )
    due_minutes = serializers.IntegerField(
        min_value=1,
        max_value=MAX_DUE_MINUTES,
        required=False,
        allow_null=True,
        help_text="Due this many minutes after the template is applied; none: no due time.",
    )
    customer_side = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Handed to the customer's in-house team (shared) when applied.",
    )

    def validate_title(self, value: str) -> str:
        value = single_line(value, 300)
        if not value:
            raise serializers.ValidationError("A task needs a title.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("customer_side"):
            attrs["visibility"] = Visibility.SHARED
        return attrs


class CaseTemplateSerializer(serializers.ModelSerializer):
    tenant = serializers.SlugField(
        max_length=63,
        required=False,
        allow_null=True,
        help_text="The customer this variant is for; null: the MSSP's library.",
    )
    tasks = TemplateTaskSerializer(many=True, max_length=MAX_TEMPLATE_TASKS)
    category = serializers.RegexField(
        r"^[\w .-]{1,100}$",
        max_length=100,
        error_messages={"invalid": "Letters, digits, spaces, '_', '-' and '.' only."},
    )
    default_severity = serializers.ChoiceField(
        choices=Severity.choices, required=False, allow_blank=True
    )
    custom_fields = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        allow_empty=True,
        help_text="Custom field values set on an incident that has none yet, by field key. A "
        "customer's own template is checked against its fields; the library's values apply to "
        "each customer whose field of that key takes them.",
    )

    class Meta:
        model = CaseTemplate
        fields = [
            "id",
            "tenant",
            "category",
            "name",
            "description",
            "default_severity",
            "tasks",
            "custom_fields",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # One per customer and category: cases.services.template_save answers the clash (the
        # model's own validator would read every customer's templates).
        validators: list = []
        extra_kwargs = {
            "name": {"max_length": 200},
            "description": {"max_length": 5000, "required": False},
        }

    def to_representation(self, instance: CaseTemplate) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["tenant"] = instance.tenant.slug if instance.tenant_id else None
        return data

    def validate_name(self, value: str) -> str:
        value = single_line(value, 200)
        if not value:
            raise serializers.ValidationError("A template needs a name.")
        return value

    def validate_category(self, value: str) -> str:
        return value.strip().lower()


class ApplyTemplateSerializer(serializers.Serializer):
    template = serializers.UUIDField(help_text="A library template, or this customer's own.")


# --- evidence ----------------------------------------------------------------------------------


class AttachmentSerializer(serializers.ModelSerializer):
    """An evidence file's record. `name` is display text only (cleaned of path components and
    control characters); the file is fetched from `download`."""

    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    uploaded_by = serializers.CharField(
        source="uploaded_by_name", read_only=True, help_text="Who added it."
    )
    deleted_by = serializers.CharField(
        source="deleted_by_name", read_only=True, allow_null=True, default=None
    )
    deleted = serializers.BooleanField(source="is_deleted", read_only=True)
    download = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = [
            "id",
            "tenant",
            "incident",
            "comment",
            "task",
            "name",
            "size",
            "sha256",
            "visibility",
            "tlp",
            "uploaded_by",
            "created_at",
            "deleted",
            "deleted_at",
            "deleted_by",
            "download",
        ]
        read_only_fields = fields

    def get_download(self, attachment: Attachment) -> str | None:
        """The download's path (none once deleted: the file is gone, the record stays)."""
        if attachment.deleted_at is not None:
            return None
        from django.urls import reverse

        return reverse(
            "incident-attachment-download",
            kwargs={"incident_pk": attachment.incident_id, "pk": attachment.pk},
        )


class CustodySerializer(serializers.Serializer):
    """One link of an evidence file's chain of custody (from the audit log)."""

    at = serializers.DateTimeField()
    action = serializers.ChoiceField(
        choices=["evidence.added", "evidence.downloaded", "evidence.deleted"]
    )
    actor = serializers.CharField(source="actor_name")
    ip = serializers.IPAddressField(allow_null=True)
    sha256 = serializers.CharField(allow_blank=True)


class AttachmentDetailSerializer(AttachmentSerializer):
    custody = serializers.SerializerMethodField()

    class Meta(AttachmentSerializer.Meta):
        fields = [*AttachmentSerializer.Meta.fields, "custody"]
        read_only_fields = fields

    @extend_schema_field(CustodySerializer(many=True))
    def get_custody(self, attachment: Attachment) -> list[dict[str, Any]]:
        rows = self.context.get("custody", [])
        return [
            CustodySerializer(
                {
                    "at": row.at,
                    "action": row.action,
                    "actor_name": row.actor_name,
                    "ip": row.ip,
                    "sha256": (row.data or {}).get("sha256", ""),
                }
            ).data
            for row in rows
        ]


class AttachmentUploadSerializer(serializers.Serializer):
    """multipart/form-data: the file, and optionally who sees it and the comment or task of
    this incident it belongs to."""

    file = serializers.FileField(
        allow_empty_file=True,
        max_length=None,
        help_text="The evidence file. At most EVIDENCE_MAX_BYTES (or the customer's stricter "
        "limit): larger is 413. Stored as is: never opened, unpacked or rendered.",
    )
    visibility = serializers.ChoiceField(
        choices=Visibility.choices,
        required=False,
        help_text="internal: MSSP only (staff's default); shared: the customer sees it. "
        "Customers add shared files.",
    )
    comment = serializers.UUIDField(
        required=False, allow_null=True, help_text="A comment of this incident."
    )
    task = serializers.UUIDField(
        required=False, allow_null=True, help_text="A task of this incident."
    )
    tlp = tlp_field(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("comment") and attrs.get("task"):
            raise serializers.ValidationError(
                {"task": ["A file belongs to a comment or a task, not both."]}
            )
        return attrs
