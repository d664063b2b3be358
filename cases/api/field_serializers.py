"""The API's body of a custom incident field's definition (cases.CustomField): the rules a
page's form and /api/v1/custom-fields/ share (cases.actions CREATE_FIELD, UPDATE_FIELD)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from tenants.actions import Invalid

from .. import custom_fields
from ..models import CustomField, FieldType


class CustomFieldSerializer(serializers.ModelSerializer):
    tenant = serializers.SlugField(
        max_length=63,
        required=False,
        help_text="The customer's slug (on create; implied for a customer's admin). A field "
        "stays with its customer.",
    )
    key = serializers.RegexField(
        custom_fields.KEY_RE,
        max_length=50,
        help_text="The values' name in incidents, filters (?cf.<key>=) and exports. Fixed once "
        "an incident holds a value.",
        error_messages={"invalid": custom_fields.KEY_RULE},
    )
    type = serializers.ChoiceField(choices=FieldType.choices)
    choices = serializers.JSONField(
        required=False, help_text="A choice field's values, in the order offered and sorted."
    )
    required_for_categories = serializers.JSONField(
        required=False, help_text="Incident categories that must have a value when they open."
    )
    required_for_statuses = serializers.JSONField(
        required=False, help_text="Statuses an incident may only move to with a value."
    )
    customer_visible = serializers.BooleanField(
        required=False,
        help_text="false: the MSSP's internal field, never shown to the customer (MSSP staff "
        "only).",
    )
    from_library = serializers.UUIDField(
        required=False,
        write_only=True,
        help_text="On create: adopt this field of the MSSP's library "
        "(/api/v1/custom-field-library/); its definition replaces key, label, help_text, type, "
        "choices and the requirements, which need not be given.",
    )

    class Meta:
        model = CustomField
        fields = [
            "id",
            "tenant",
            "key",
            "label",
            "help_text",
            "type",
            "choices",
            "position",
            "is_archived",
            "customer_visible",
            "required_for_categories",
            "required_for_statuses",
            "from_library",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list = []  # the key's clash is answered by cases.custom_fields
        extra_kwargs = {
            "label": {"max_length": 100},
            "help_text": {"max_length": 300, "required": False},
            "position": {"min_value": 0, "max_value": 10_000, "required": False},
        }

    def to_representation(self, instance: CustomField) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["tenant"] = instance.tenant.slug
        return data

    def validate_label(self, value: str) -> str:
        from tenants.text import single_line

        value = single_line(value, 100)
        if not value:
            raise serializers.ValidationError("Name the field.")
        return value

    def validate_help_text(self, value: str) -> str:
        from tenants.text import single_line

        return single_line(value, 300)

    def _clean(self, cleaner, value):
        try:
            return cleaner(value)
        except Invalid as exc:
            detail = exc.detail
            raise serializers.ValidationError(
                next(iter(detail.values())) if isinstance(detail, dict) else detail
            ) from None

    def validate_choices(self, value):
        return self._clean(custom_fields.clean_choices, value)

    def validate_required_for_categories(self, value):
        return self._clean(custom_fields.clean_categories, value)

    def validate_required_for_statuses(self, value):
        return self._clean(custom_fields.clean_statuses, value)
