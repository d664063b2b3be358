from __future__ import annotations

from rest_framework import serializers

from tenants.api.base import ScopedRelatedField
from tenants.models import Tenant

from ..models import (
    Asset,
    Engagement,
    Finding,
    FindingEvent,
    RemediationClock,
    RemediationPolicy,
    ScanImport,
    Scanner,
)


class AssetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Asset
        fields = ["id", "identifier", "ip", "hostname", "fqdn", "os", "first_seen", "last_seen"]
        read_only_fields = fields


class RemediationClockSerializer(serializers.ModelSerializer):
    class Meta:
        model = RemediationClock
        fields = [
            "target_days",
            "state",
            "started_at",
            "due_at",
            "at_risk_at",
            "met_at",
            "breached_at",
        ]
        read_only_fields = fields


class FindingSerializer(serializers.ModelSerializer):
    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    asset = AssetSerializer(read_only=True)
    engagement = serializers.PrimaryKeyRelatedField(read_only=True)
    remediation = serializers.SerializerMethodField()
    awaits_verification = serializers.BooleanField(read_only=True)

    class Meta:
        model = Finding
        fields = [
            "id",
            "tenant",
            "asset",
            "engagement",
            "scanner",
            "plugin_id",
            "port",
            "title",
            "severity",
            "cvss_score",
            "cvss_vector",
            "cves",
            "status",
            "first_seen",
            "last_seen",
            "remediated_at",
            "verified_at",
            "awaits_verification",
            "remediation_claimed_at",
            "risk_accepted_until",
            "risk_reason",
            "risk_accepted_at",
            "overdue_since",
            "remediation",
        ]
        read_only_fields = fields

    def get_remediation(self, finding) -> dict | None:
        clock = getattr(finding, "clock", None) if _has_clock(finding) else None
        return RemediationClockSerializer(clock).data if clock is not None else None


def _has_clock(finding) -> bool:
    try:
        finding.clock  # noqa: B018 (a reverse one-to-one raises when absent)
    except RemediationClock.DoesNotExist:
        return False
    return True


class FindingDetailSerializer(FindingSerializer):
    class Meta(FindingSerializer.Meta):
        fields = [
            *FindingSerializer.Meta.fields,
            "description",
            "solution",
            "evidence",
            "references",
        ]
        read_only_fields = fields


class FindingEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = FindingEvent
        fields = ["id", "at", "actor_name", "kind", "summary", "data"]
        read_only_fields = fields


class AcceptRiskSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=5000)
    until = serializers.DateField(help_text="Accepted to the end of this day (tenant's zone).")


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=5000)


class EngagementSerializer(serializers.ModelSerializer):
    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Engagement
        fields = ["id", "tenant", "name", "kind", "scope", "starts_on", "ends_on", "created_at"]
        read_only_fields = ["id", "tenant", "created_at"]
        # A name taken in the tenant is answered by the view (the database's constraint
        # decides); DRF's unique-together check would make the tenant a required input.
        validators: list = []

    def validate(self, attrs):
        starts = attrs.get("starts_on", getattr(self.instance, "starts_on", None))
        ends = attrs.get("ends_on", getattr(self.instance, "ends_on", None))
        if starts and ends and ends < starts:
            raise serializers.ValidationError({"ends_on": "The engagement ends before it starts."})
        return attrs


class EngagementCreateSerializer(EngagementSerializer):
    tenant = serializers.CharField(
        max_length=63, required=False, help_text="The tenant's slug (MSSP staff of several)."
    )

    class Meta(EngagementSerializer.Meta):
        read_only_fields = ["id", "created_at"]


class ScanImportSerializer(serializers.ModelSerializer):
    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    progress = serializers.IntegerField(read_only=True)

    class Meta:
        model = ScanImport
        fields = [
            "id",
            "tenant",
            "kind",
            "file_name",
            "size",
            "sha256",
            "engagement",
            "verifies_remediation",
            "status",
            "progress",
            "position",
            "total",
            "created_count",
            "updated_count",
            "closed_count",
            "proposed_count",
            "rejected_count",
            "errors",
            "detail",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ScanImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="The scanner's file: .nessus, OpenVAS XML, JSONL or CSV."
    )
    kind = serializers.ChoiceField(
        choices=Scanner.choices, required=False, help_text="The format; detected when omitted."
    )
    tenant = serializers.CharField(
        max_length=63, required=False, help_text="The tenant's slug (MSSP staff of several)."
    )
    engagement = ScopedRelatedField(Engagement, required=False, allow_null=True)


class RemediationPolicySerializer(serializers.ModelSerializer):
    tenant = serializers.SlugRelatedField(slug_field="slug", queryset=Tenant.objects.all())

    class Meta:
        model = RemediationPolicy
        fields = ["id", "tenant", "severity", "days", "at_risk_percent", "updated_at"]
        read_only_fields = ["id", "updated_at"]
        extra_kwargs = {
            "days": {"min_value": 1, "max_value": 3650},
            "at_risk_percent": {"min_value": 1, "max_value": 99},
        }
