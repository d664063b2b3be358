import re
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from tenants.text import single_line

from ..intake.base import OBSERVABLE_TYPES
from ..models import (
    NO_DEADLINE,
    Alert,
    Comment,
    ContainmentAction,
    CorrelationRule,
    Incident,
    IncidentEvent,
    IntakeSource,
    ObservableTag,
    Origin,
    Pap,
    Resolution,
    Severity,
    SourceKind,
    SuppressionRule,
    Tlp,
    Visibility,
)
from ..observables import MAX_NOTE, parse


class IntakeSourceSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=SourceKind.choices)

    class Meta:
        model = IntakeSource
        fields = [
            "id",
            "name",
            "kind",
            "status",
            "key_prefix",
            "expected_interval_minutes",
            "last_seen_at",
            "created_at",
            "key_rotated_at",
        ]
        read_only_fields = [
            "id",
            "status",
            "key_prefix",
            "last_seen_at",
            "created_at",
            "key_rotated_at",
        ]

    def validate_name(self, value: str) -> str:
        tenant = self.context["tenant"]
        clash = IntakeSource.objects.for_tenant(tenant).filter(name=value)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError("This tenant already has a source of that name.")
        return value


class IntakeSourceUpdateSerializer(IntakeSourceSerializer):
    # Declared again: a declared field ignores Meta.read_only_fields.
    kind = serializers.ChoiceField(choices=SourceKind.choices, read_only=True)

    def validate(self, attrs):
        sent = self.initial_data.get("kind", self.instance.kind)
        if sent != self.instance.kind:  # said out loud rather than silently ignored
            raise serializers.ValidationError(
                {"kind": "The kind of a source cannot change: create a new source instead."}
            )
        return super().validate(attrs)

    class Meta(IntakeSourceSerializer.Meta):
        # The kind decides how payloads are parsed; a different kind is a different source.
        read_only_fields = [*IntakeSourceSerializer.Meta.read_only_fields, "kind"]
        fields = [*IntakeSourceSerializer.Meta.fields]


class IntakeSourceStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=IntakeSource.Status.choices)


class IntakeSourceWithKeySerializer(IntakeSourceSerializer):
    key = serializers.CharField(read_only=True, help_text="The intake key, shown this once.")

    class Meta(IntakeSourceSerializer.Meta):
        fields = [*IntakeSourceSerializer.Meta.fields, "key"]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):
    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    source_kind = serializers.CharField(source="source.kind", read_only=True)
    source_name = serializers.CharField(source="source.name", read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "tenant",
            "source",
            "source_kind",
            "source_name",
            "title",
            "severity",
            "category",
            "status",
            "observed_at",
            "received_at",
            "ends_at",
            "rule_id",
            "rule_name",
            "mitre",
            "tags",
            "observables",
            "fingerprint",
            "incident",
        ]
        read_only_fields = fields


class AlertDetailSerializer(AlertSerializer):
    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "description", "source_ref", "raw"]
        read_only_fields = fields


class IncidentSerializer(serializers.ModelSerializer):
    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    respond_by = serializers.SerializerMethodField(
        help_text="The earliest deadline of its running SLA clocks; null when none runs."
    )
    owner = serializers.CharField(
        source="owner.username", read_only=True, default=None, allow_null=True
    )
    owner_team = serializers.CharField(
        source="owner_team.name", read_only=True, default=None, allow_null=True
    )
    source_kind = serializers.CharField(
        source="source.kind", read_only=True, default=None, allow_null=True
    )
    opened_by = serializers.CharField(
        source="opened_by.username", read_only=True, default=None, allow_null=True
    )
    origin = serializers.ChoiceField(choices=Origin.choices, read_only=True)
    # Declared: a read-only model field loses allow_blank, and "" is the value until resolved.
    resolution = serializers.ChoiceField(
        choices=Resolution.choices, allow_blank=True, read_only=True
    )
    custom_fields = serializers.SerializerMethodField(
        help_text="The tenant's custom fields by key (text, number, choice, date as YYYY-MM-DD, "
        "user as a username); a customer never sees the MSSP's internal ones."
    )

    class Meta:
        model = Incident
        fields = [
            "id",
            "tenant",
            "title",
            "severity",
            "category",
            "status",
            "resolution",
            "alert_count",
            "first_seen",
            "last_seen",
            "owner",
            "owner_team",
            "source_kind",
            "awaiting_reason",
            "origin",
            "description",
            "affected_assets",
            "affected_people",
            "custom_fields",
            "tlp",
            "pap",
            "opened_by",
            "respond_by",
            "merged_into",
            "created_at",
            "updated_at",
            "acknowledged_at",
            "contained_at",
            "resolved_at",
            "closed_at",
        ]
        read_only_fields = fields

    def get_custom_fields(self, incident: Incident) -> dict[str, Any]:
        """Values the caller may see. The definitions of every tenant on a page are read once
        (kept in the context the list's rows share); without a request, customer-visible only."""
        from ..custom_fields import values_for

        cache = self.context.setdefault("_custom_fields", {})
        if incident.pk not in cache:
            view = self.context.get("view")
            access = getattr(view, "access", None)
            rows = getattr(self.parent, "instance", None) if self.parent is not None else None
            page = list(rows) if isinstance(rows, list) else [incident]
            if incident not in page:
                page.append(incident)
            cache.update(values_for(page, access))
        return cache[incident.pk]

    def get_respond_by(self, incident: Incident) -> str | None:
        if incident.respond_by is None or incident.respond_by == NO_DEADLINE:
            return None
        return serializers.DateTimeField().to_representation(incident.respond_by)


TLP_HELP = (
    "Traffic Light Protocol: clear, green (every member of the customer; the default), amber, "
    "amber+strict (the customer's responders and admins only), red (MSSP staff only; customers "
    "may not set it)."
)
PAP_HELP = (
    "Permissible Actions Protocol: clear, green (the default), amber (passive checks only), "
    "red (never compared with other customers' data, looked up outside or acted on)."
)


def tlp_field(**kwargs) -> serializers.ChoiceField:
    kwargs.setdefault("help_text", TLP_HELP)
    return serializers.ChoiceField(choices=Tlp.choices, **kwargs)


def pap_field(**kwargs) -> serializers.ChoiceField:
    kwargs.setdefault("help_text", PAP_HELP)
    return serializers.ChoiceField(choices=Pap.choices, **kwargs)


class CommentSerializer(serializers.ModelSerializer):
    tlp = tlp_field(read_only=True)

    class Meta:
        model = Comment
        fields = ["id", "author_name", "body", "visibility", "tlp", "created_at"]
        read_only_fields = ["id", "author_name", "created_at"]
        extra_kwargs = {"body": {"max_length": 20_000}}


class CommentCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=20_000)
    visibility = serializers.ChoiceField(
        choices=Visibility.choices,
        required=False,
        help_text="internal: MSSP only; shared: the customer sees it. Customers always post "
        "shared comments; MSSP staff default to internal.",
    )
    tlp = tlp_field(required=False)


class TimelineEntrySerializer(serializers.ModelSerializer):
    tlp = tlp_field(read_only=True)

    class Meta:
        model = IncidentEvent
        fields = ["id", "at", "actor_name", "kind", "summary", "data", "visibility", "tlp"]
        read_only_fields = fields


class ClassifySerializer(serializers.Serializer):
    """A new TLP (and PAP) for the incident or one item of it (POST .../classify/)."""

    tlp = tlp_field(required=False)
    pap = pap_field(required=False, help_text="Incidents and observables only. " + PAP_HELP)
    comment = serializers.UUIDField(required=False, help_text="One of the incident's comments.")
    task = serializers.UUIDField(required=False, help_text="One of the incident's tasks.")
    attachment = serializers.UUIDField(required=False, help_text="One of its evidence files.")
    observable = serializers.UUIDField(required=False, help_text="One of its observables.")

    ITEMS = ("comment", "task", "attachment", "observable")

    def validate(self, attrs):
        named = [name for name in self.ITEMS if attrs.get(name)]
        if len(named) > 1:
            raise serializers.ValidationError("Name one item at most: " + ", ".join(named) + ".")
        if "tlp" not in attrs and "pap" not in attrs:
            raise serializers.ValidationError("Give a tlp, a pap or both.")
        if "pap" in attrs and named and named[0] != "observable":
            raise serializers.ValidationError(
                {"pap": ["PAP is set on incidents and observables only."]}
            )
        return attrs


class ContainmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContainmentAction
        fields = ["id", "action", "target", "result", "notes", "actor_name", "at"]
        read_only_fields = ["id", "actor_name", "at"]
        extra_kwargs = {
            "action": {"max_length": 200},
            "target": {"max_length": 500},
            "notes": {"max_length": 5000, "required": False},
        }


class CustomFieldValues(serializers.DictField):
    """A partial update of an incident's custom fields, {key: value}; null or "" clears one.
    The values are checked against the tenant's fields by cases.custom_fields."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.JSONField(allow_null=True), **kwargs)


class TransitionSerializer(serializers.Serializer):
    status = serializers.CharField(max_length=30)
    reason = serializers.CharField(max_length=MAX_NOTE, required=False, allow_blank=True)
    resolution = serializers.CharField(max_length=30, required=False, allow_blank=True)
    custom_fields = CustomFieldValues(
        required=False,
        help_text="Custom field values to set with the move (those the status requires).",
    )


class CustomFieldValuesSerializer(serializers.Serializer):
    custom_fields = CustomFieldValues(
        help_text='{key: value}; keys not given keep their values, null or "" clears one.'
    )


class AssignSerializer(serializers.Serializer):
    owner = serializers.CharField(
        max_length=150, required=False, allow_null=True, help_text="Username, or null for nobody."
    )
    team = serializers.UUIDField(required=False, allow_null=True)


class MergeSerializer(serializers.Serializer):
    into = serializers.UUIDField(help_text="The incident to merge this one into.")


class IdListField(serializers.ListField):
    """A list of ids whose errors name each bad item by its position as text ("0"), as JSON
    shows it anyway, so that a page can say them too (tenants.actions.error_sentence)."""

    def run_child_validation(self, data):
        try:
            return super().run_child_validation(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):
                raise
            raise serializers.ValidationError(
                {str(position): errors for position, errors in exc.detail.items()}
            ) from None


class BulkSerializer(serializers.Serializer):
    ids = IdListField(child=serializers.UUIDField(), min_length=1, max_length=500)
    action = serializers.ChoiceField(choices=["acknowledge", "claim", "transition", "assign"])
    status = serializers.CharField(max_length=30, required=False)
    reason = serializers.CharField(max_length=MAX_NOTE, required=False, allow_blank=True)
    resolution = serializers.CharField(max_length=30, required=False, allow_blank=True)
    owner = serializers.CharField(max_length=150, required=False, allow_null=True)


class SuppressionRuleSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(
        source="owner.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = SuppressionRule
        fields = [
            "id",
            "name",
            "reason",
            "conditions",
            "owner",
            "expires_at",
            "is_active",
            "hit_count",
            "last_hit_at",
            "created_at",
        ]
        read_only_fields = ["id", "owner", "hit_count", "last_hit_at", "created_at"]
        extra_kwargs = {"name": {"max_length": 200}, "reason": {"max_length": 5000}}

    def validate_conditions(self, value):
        from .. import rules

        try:
            return rules.validate_conditions(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_expires_at(self, value):
        from datetime import timedelta

        from django.utils import timezone

        now = timezone.now()
        if value <= now:
            raise serializers.ValidationError("The expiry must be in the future.")
        if value > now + timedelta(days=MAX_SUPPRESSION_DAYS):
            raise serializers.ValidationError(
                f"Suppress for at most {MAX_SUPPRESSION_DAYS} days; renew it if still needed."
            )
        return value


MAX_SUPPRESSION_DAYS = 90


class CorrelationRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = CorrelationRule
        fields = ["id", "name", "group_by", "window_minutes", "is_active", "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {
            "name": {"max_length": 200},
            "window_minutes": {"min_value": 1, "max_value": 7 * 24 * 60},
        }

    def validate_group_by(self, value):
        from .. import rules

        try:
            return rules.validate_group_by(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


# What a customer's urgency means as a severity (the SLA policy's key).
URGENCY_SEVERITY = {"low": "low", "normal": "medium", "urgent": "high", "emergency": "critical"}
URGENCY_CHOICES = [
    ("low", "Low: it can wait for business hours"),
    ("normal", "Normal: look at it today"),
    ("urgent", "Urgent: something is happening now"),
    ("emergency", "Emergency: business stopped or data leaving"),
]


class AffectedField(serializers.ListField):
    """Assets or people named in a report: short one-line names, at most 100."""

    def __init__(self, **kwargs):
        super().__init__(
            child=serializers.CharField(max_length=200, allow_blank=False),
            max_length=100,
            required=False,
            **kwargs,
        )

    def to_internal_value(self, data):
        if isinstance(data, str):  # a page's text box: one per line or comma
            data = [part for part in re.split(r"[\n,]+", data) if part.strip()]
        if isinstance(data, list) and len(data) > 100:
            raise serializers.ValidationError("At most 100 of them.")
        values = super().to_internal_value(data)
        return list(dict.fromkeys(single_line(value, 200) for value in values if value.strip()))


class NewIncidentSerializer(serializers.Serializer):
    """A customer's report or an analyst's incident opened by hand (POST /api/v1/incidents/)."""

    tenant = serializers.SlugField(
        max_length=63,
        required=False,
        help_text="The customer's slug. MSSP staff name one they work; a customer's own "
        "tenant is implied.",
    )
    title = serializers.CharField(max_length=500, help_text="What happened, in a line.")
    description = serializers.CharField(
        max_length=20_000, required=False, allow_blank=True, help_text="The whole story."
    )
    occurred_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When it happened (ISO 8601); now if absent."
    )
    category = serializers.RegexField(
        r"^[\w .-]{0,100}$",
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="phishing, ransomware, account_compromise, ddos, malware, …: picks the case "
        "template.",
        error_messages={"invalid": "Letters, digits, spaces, '_', '-' and '.' only."},
    )
    urgency = serializers.ChoiceField(
        choices=URGENCY_CHOICES,
        required=False,
        help_text="How urgent it is for you: low, normal, urgent, emergency (the severity "
        "low, medium, high, critical).",
    )
    severity = serializers.ChoiceField(
        choices=Severity.choices,
        required=False,
        help_text="MSSP staff only; without it or an urgency: the category's template's "
        "default, else medium.",
    )
    affected_assets = AffectedField(help_text="Hosts, addresses, applications.")
    affected_people = AffectedField(help_text="Users, mailboxes, people involved.")
    custom_fields = CustomFieldValues(
        required=False,
        help_text="The customer's custom fields, {key: value}; those its category requires "
        "must be given.",
    )
    tlp = tlp_field(required=False)
    pap = pap_field(required=False)

    def validate_title(self, value: str) -> str:
        value = single_line(value, 500)
        if not value:
            raise serializers.ValidationError("Say in a few words what happened.")
        return value

    def validate_occurred_at(self, value):
        if value is not None and value > timezone.now() + timedelta(minutes=5):
            raise serializers.ValidationError("This is in the future; when did it happen?")
        return value

    def validate(self, attrs):
        access = self.context.get("access")
        if attrs.get("severity") and access is not None and not access.is_mssp_staff:
            raise serializers.ValidationError(
                {"severity": "Say how urgent it is (urgency); the SOC sets the severity."}
            )
        if "urgency" in attrs:
            mapped = URGENCY_SEVERITY[attrs.pop("urgency")]
            attrs.setdefault("severity", mapped)
        return attrs


class PromoteSerializer(serializers.Serializer):
    alerts = IdListField(
        child=serializers.UUIDField(),
        min_length=1,
        max_length=100,
        help_text="Alerts of the incident's own customer to move into it.",
    )


class ObservableWriteSerializer(serializers.Serializer):
    """Adding: `type` and `value` (normalised as intake normalises them), optionally `tag`,
    `note`, `visibility`. Changing (PATCH): `tag`, `note`, `visibility`; a type and value
    never change (remove the observable and add the right one)."""

    type = serializers.ChoiceField(choices=[(t, t) for t in OBSERVABLE_TYPES])
    value = serializers.CharField(trim_whitespace=False, max_length=None)
    tag = serializers.ChoiceField(choices=ObservableTag.choices, required=False, allow_blank=True)
    note = serializers.CharField(max_length=MAX_NOTE, required=False, allow_blank=True)
    visibility = serializers.ChoiceField(
        choices=Visibility.choices,
        required=False,
        help_text="internal: MSSP only; shared: the customer sees it. Customers' observables "
        "are shared; MSSP staff default to internal.",
    )
    tlp = tlp_field(required=False)
    pap = pap_field(required=False)

    def validate(self, attrs):
        if self.instance is not None:
            if "type" in attrs or "value" in attrs:
                raise serializers.ValidationError(
                    {
                        "value": "An observable's type and value do not change: remove it and add "
                        "the right one."
                    }
                )
            return attrs
        try:
            attrs["observable"] = parse(attrs.pop("type"), attrs.pop("value"))
        except ValueError as exc:
            raise serializers.ValidationError({"value": str(exc)}) from None
        return attrs


RAISE_MAX_FILES = 10  # files raised with an incident at once; more go on its page afterwards


class NewIncidentWithFilesSerializer(NewIncidentSerializer):
    """The raise form (/incidents/new/): an incident and the files that come with it, kept as
    its evidence (alerts.extensions.incident_files). The API opens with JSON and then uploads
    each file to the incident's attachments: one file and one answer at a time."""

    attachments = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True, max_length=None),
        required=False,
        max_length=RAISE_MAX_FILES,
        error_messages={
            "max_length": "Attach at most {max_length} files when raising an incident; add "
            "more on its page once it is raised."
        },
    )
    attachment_visibility = serializers.ChoiceField(
        choices=Visibility.choices,
        required=False,
        help_text="MSSP staff: who sees the files (internal by default). Customers' are shared.",
    )


class ClassifiedSerializer(serializers.Serializer):
    """What a classification answers: the item and its levels now."""

    item = serializers.ChoiceField(
        choices=["incident", "comment", "task", "attachment", "observable"]
    )
    id = serializers.UUIDField()
    tlp = tlp_field()
    pap = pap_field(allow_null=True, help_text="Incidents and observables; null for others.")
