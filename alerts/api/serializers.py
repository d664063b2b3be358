from rest_framework import serializers

from ..models import IntakeSource, SourceKind


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
