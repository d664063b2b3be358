"""The response API's shapes; the pages post the same field names and are validated by these
same classes (tenants.actions), so each limit is stated once."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..models import ActionKind, ActionPolicy, ApprovalMode, ResponseAction

KEY_PATTERN = r"\A[A-Za-z0-9._:~-]{1,100}\Z"


class ResponseActionSerializer(serializers.ModelSerializer[Any]):
    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    requested_by = serializers.CharField(source="requested_by_name", read_only=True)
    decided_by = serializers.CharField(source="decided_by_name", read_only=True)
    in_force = serializers.BooleanField(read_only=True)
    in_force_words = serializers.CharField(read_only=True)
    reversal = serializers.CharField(read_only=True)

    class Meta:
        model = ResponseAction
        fields = [
            "id",
            "tenant",
            "incident",
            "connector",
            "connector_name",
            "action",
            "target",
            "reason",
            "status",
            "mode",
            "by_customer",
            "requested_by",
            "requested_at",
            "respond_by",
            "escalation_step",
            "decided_by",
            "decided_at",
            "decision_note",
            "started_at",
            "finished_at",
            "result_message",
            "reverses",
            "reversal",
            "in_force",
            "in_force_words",
            "lifted_at",
        ]
        read_only_fields = fields


class ActionRequestSerializer(serializers.Serializer[Any]):
    """Ask for an action on one target through one of the incident's tenant's connectors.
    `idempotency_key` (or the Idempotency-Key header): the same key again answers the first
    request's action and runs nothing twice."""

    connector = serializers.UUIDField()
    action = serializers.ChoiceField(choices=ActionKind.choices)
    target = serializers.CharField(max_length=255, trim_whitespace=True)
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    idempotency_key = serializers.RegexField(KEY_PATTERN, required=False, allow_blank=True)


class DecisionSerializer(serializers.Serializer[Any]):
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class RejectSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=1000)


class ReverseSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    idempotency_key = serializers.RegexField(KEY_PATTERN, required=False, allow_blank=True)


class ActionPolicySerializer(serializers.ModelSerializer[Any]):
    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    updated_by = serializers.CharField(
        source="updated_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = ActionPolicy
        fields = [
            "id",
            "tenant",
            "action",
            "mode",
            "approve_minutes",
            "escalations",
            "updated_by",
            "updated_at",
        ]
        read_only_fields = fields


class ActionPolicyChangeSerializer(serializers.Serializer[Any]):
    """What the contract says of one action: its mode, the approval clock, how many times an
    unanswered request is asked of the next step before it expires."""

    mode = serializers.ChoiceField(choices=ApprovalMode.choices, required=False)
    approve_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60, required=False)
    escalations = serializers.IntegerField(min_value=0, max_value=5, required=False)


class ActionPolicySetSerializer(ActionPolicyChangeSerializer):
    tenant = serializers.SlugField(max_length=63, required=False)
    action = serializers.ChoiceField(choices=ActionKind.choices)
    mode = serializers.ChoiceField(choices=ApprovalMode.choices)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs.pop("tenant", None)  # resolved by the view (tenants the caller sees)
        return attrs
