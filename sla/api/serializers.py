"""The inputs of the escalation actions (sla.actions): the API's request bodies, which the
pages' forms (sla.forms) are validated by too, so each limit is stated here once."""

from __future__ import annotations

from rest_framework import serializers

MAX_TEXT = 5000  # a decline's reason, an escalation's note
MAX_RESPOND_MINUTES = 7 * 24 * 60  # a week


class DeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_TEXT)


class EscalateSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=["in_house", "mssp", "noc", "tier"])
    team = serializers.UUIDField(required=False, allow_null=True)
    respond_minutes = serializers.IntegerField(
        min_value=1, max_value=MAX_RESPOND_MINUTES, required=False
    )
    note = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True)


class AssistanceSerializer(EscalateSerializer):
    """The inbox's request for assistance: the escalate input, asked of the MSSP (the only
    direction a customer's team asks for)."""

    to = serializers.ChoiceField(choices=["mssp"], default="mssp")
