from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers

from alerts.models import Severity
from tenants.models import Tenant

from .. import normalise
from ..models import Indicator, IndicatorImport, IndicatorMatch, IndicatorType, RetroHunt, Tlp
from ..selectors import get_matches


class ScopeMixin:
    def get_scope(self, obj) -> str:
        return "global" if obj.tenant_id is None else "tenant"


class IndicatorSerializer(ScopeMixin, serializers.ModelSerializer):
    tenant = serializers.CharField(
        source="tenant.slug",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="The tenant's slug; null for a global (MSSP) indicator.",
    )
    scope = serializers.SerializerMethodField(help_text="global or tenant")
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Indicator
        fields = [
            "id",
            "tenant",
            "scope",
            "type",
            "value",
            "tlp",
            "confidence",
            "severity",
            "source",
            "description",
            "valid_from",
            "valid_until",
            "status",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class IndicatorCreateSerializer(serializers.Serializer):
    tenant = serializers.CharField(
        max_length=63,
        required=False,
        allow_null=True,
        help_text="A tenant's slug for that tenant's own indicator; leave out for a global "
        "one (MSSP staff). Customers always get their own tenant.",
    )
    type = serializers.ChoiceField(
        choices=IndicatorType.choices, required=False, help_text="Guessed from the value if absent."
    )
    value = serializers.CharField(max_length=2048, trim_whitespace=True)
    tlp = serializers.ChoiceField(choices=Tlp.choices, default=Tlp.AMBER)
    confidence = serializers.IntegerField(min_value=0, max_value=100, default=50)
    severity = serializers.ChoiceField(choices=Severity.choices, default=Severity.HIGH)
    source = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(
        max_length=5000, required=False, allow_blank=True, default=""
    )
    valid_from = serializers.DateTimeField(required=False)
    valid_until = serializers.DateTimeField(required=False, allow_null=True)

    def validate(self, data):
        try:
            if data.get("type"):
                kind, value = normalise.normalise(data["type"], data["value"])
            else:
                kind, value = normalise.guess(data["value"])
        except normalise.InvalidIndicator as exc:
            raise serializers.ValidationError({"value": str(exc)}) from None
        data["type"], data["value"] = kind, value
        start = data.get("valid_from") or timezone.now()
        if data.get("valid_until") and data["valid_until"] <= start:
            raise serializers.ValidationError({"valid_until": "Must be after valid_from."})
        access = self.context["access"]
        slug = data.get("tenant")
        if access.is_customer:
            own = Tenant.objects.filter(pk=access.customer_tenant_id, slug=slug)
            if slug and not own.exists():
                raise serializers.ValidationError({"tenant": f"No such tenant: '{slug}'."})
            data["tenant_id"] = access.customer_tenant_id
        elif slug:
            tenant = Tenant.objects.filter(slug=slug, pk__in=access.tenant_ids).first()
            if tenant is None:
                raise serializers.ValidationError({"tenant": f"No such tenant: '{slug}'."})
            data["tenant_id"] = tenant.pk
        else:
            data["tenant_id"] = None
        return data


class IndicatorUpdateSerializer(serializers.ModelSerializer):
    """A change of an indicator (PATCH): intel.actions' INDICATOR_UPDATE validates it with
    the indicator as its instance, partial (Action.changes_target)."""

    status = serializers.ChoiceField(
        choices=[(Indicator.Status.ACTIVE, "Active"), (Indicator.Status.REVOKED, "Revoked")],
        required=False,
    )

    class Meta:
        model = Indicator
        fields = [
            "tlp",
            "confidence",
            "severity",
            "source",
            "description",
            "valid_from",
            "valid_until",
            "status",
        ]
        extra_kwargs = {"confidence": {"min_value": 0, "max_value": 100}}

    def validate(self, data):
        start = data.get("valid_from", self.instance.valid_from if self.instance else None)
        until = data.get("valid_until", self.instance.valid_until if self.instance else None)
        if start and until and until <= start:
            raise serializers.ValidationError({"valid_until": "Must be after valid_from."})
        return data


class IndicatorCreatedSerializer(IndicatorSerializer):
    retro_hunt = serializers.SerializerMethodField(
        help_text="The retro-hunt started for it (null when it is not active)."
    )

    class Meta(IndicatorSerializer.Meta):
        fields = [*IndicatorSerializer.Meta.fields, "retro_hunt"]
        read_only_fields = fields

    def get_retro_hunt(self, obj) -> str | None:
        hunt = self.context.get("retro_hunt")
        return str(hunt.pk) if hunt else None


class ImportSerializer(ScopeMixin, serializers.ModelSerializer):
    tenant = serializers.CharField(
        source="tenant.slug", read_only=True, default=None, allow_null=True
    )
    scope = serializers.SerializerMethodField(help_text="global or tenant")
    progress = serializers.IntegerField(read_only=True, help_text="Per cent done.")
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = IndicatorImport
        fields = [
            "id",
            "tenant",
            "scope",
            "format",
            "filename",
            "size",
            "defaults",
            "status",
            "progress",
            "total",
            "processed",
            "created_count",
            "updated_count",
            "rejected_count",
            "errors",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ImportUploadSerializer(serializers.Serializer):
    """The options of an upload (form fields, or query parameters with a raw body)."""

    kind = serializers.ChoiceField(
        choices=IndicatorImport.Format.choices,
        help_text="What the list is: stix (a STIX 2.1 bundle), text (one value a line) or csv.",
    )
    file = serializers.FileField(
        required=False, help_text="The list (multipart); or send it as the raw body."
    )
    tenant = serializers.CharField(max_length=63, required=False, allow_blank=True)
    tlp = serializers.ChoiceField(choices=Tlp.choices, required=False)
    confidence = serializers.IntegerField(min_value=0, max_value=100, required=False)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    source = serializers.CharField(max_length=200, required=False, allow_blank=True)
    valid_until = serializers.DateTimeField(required=False)


class RetroHuntSerializer(ScopeMixin, serializers.ModelSerializer):
    tenant = serializers.CharField(
        source="tenant.slug", read_only=True, default=None, allow_null=True
    )
    scope = serializers.SerializerMethodField(help_text="global or tenant")
    progress = serializers.SerializerMethodField(
        help_text="Per cent of the alerts of the tenants the caller may see searched."
    )
    alerts_scanned = serializers.SerializerMethodField(
        help_text="Alerts searched, of the tenants the caller may see (null on a hunt recorded "
        "before this was counted per tenant that searched tenants the caller does not work)."
    )
    hits = serializers.SerializerMethodField(
        help_text="Matches found on alerts of the tenants the caller may see."
    )
    indicator = serializers.UUIDField(source="indicator_id", read_only=True, allow_null=True)
    indicator_import = serializers.UUIDField(
        source="indicator_import_id", read_only=True, allow_null=True
    )

    class Meta:
        model = RetroHunt
        fields = [
            "id",
            "tenant",
            "scope",
            "indicator",
            "indicator_import",
            "since",
            "until",
            "status",
            "progress",
            "alerts_scanned",
            "hits",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_progress(self, obj) -> int:
        return obj.seen_by(self.context["access"].tenant_ids)[1]

    def get_alerts_scanned(self, obj) -> int | None:
        return obj.seen_by(self.context["access"].tenant_ids)[0]

    def get_hits(self, obj) -> int:
        counts = self.context.get("hit_counts")
        if counts is not None:
            return counts.get(obj.pk, 0)
        return get_matches(self.context["access"]).filter(retro_hunt=obj).count()


class MatchSerializer(serializers.ModelSerializer):
    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    alert = serializers.UUIDField(source="alert_id", read_only=True)
    incident = serializers.UUIDField(source="incident_id", read_only=True, allow_null=True)
    retro_hunt = serializers.UUIDField(source="retro_hunt_id", read_only=True, allow_null=True)
    indicator = serializers.SerializerMethodField(
        help_text="The indicator's id: for MSSP staff, and for a customer's own indicators."
    )

    class Meta:
        model = IndicatorMatch
        fields = [
            "id",
            "tenant",
            "alert",
            "incident",
            "indicator",
            "retro_hunt",
            "origin",
            "observable_type",
            "observable_value",
            "indicator_type",
            "indicator_value",
            "indicator_global",
            "tlp",
            "confidence",
            "severity",
            "severity_raised_to",
            "matched_at",
        ]
        read_only_fields = fields

    def get_indicator(self, obj) -> str | None:
        access = self.context["access"]
        if obj.indicator_id and (access.is_mssp_staff or not obj.indicator_global):
            return str(obj.indicator_id)
        return None


class SightingLinkSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["incident", "alert"])
    id = serializers.UUIDField()
    at = serializers.DateTimeField()


class SightingTenantSerializer(serializers.Serializer):
    tenant = serializers.CharField()
    tenant_name = serializers.CharField()
    links = SightingLinkSerializer(many=True)


class SightingSerializer(serializers.Serializer):
    type = serializers.CharField()
    value = serializers.CharField()
    tenants = serializers.IntegerField(help_text="Other tenants you work that saw it.")
    seen = SightingTenantSerializer(many=True)
