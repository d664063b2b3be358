"""/api/v1/custom-fields/: the definitions of the tenants' own incident fields. Thin adapters
over cases.actions (CREATE_FIELD, UPDATE_FIELD); the values live on the incidents
(/incidents/{id}/custom-fields/)."""

from __future__ import annotations

from typing import Any

from rest_framework import mixins, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from tenants.actions import Invalid
from tenants.api.actions import api_perform
from tenants.api.base import TenantScopedViewSet
from tenants.models import Tenant
from tenants.permissions import ADMIN_TO_CHANGE

from .. import custom_fields
from ..models import CustomField, FieldType


def _refusal(exc: Invalid) -> Any:
    detail = exc.detail
    if isinstance(detail, dict):
        return {name: (m if isinstance(m, list) else [m]) for name, m in detail.items()}
    return detail


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


class CustomFieldViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    TenantScopedViewSet,
):
    """The custom incident fields of the customers the caller sees (?tenant=<slug> for one),
    in their order. MSSP leads, managers and admins change any of them; a customer's admins
    their own tenant's customer-visible ones. A customer never sees the MSSP's internal fields.
    Fields are archived (is_archived), never deleted: incidents keep their values."""

    scoped_model = CustomField
    serializer_class = CustomFieldSerializer
    cursor_ordering = ("position", "id")
    http_method_names = ["get", "post", "patch", "head", "options"]
    required_scope = ADMIN_TO_CHANGE

    def scope_queryset(self, queryset):
        if not self.access.is_mssp_staff:
            queryset = queryset.filter(customer_visible=True)
        slug = self.request.query_params.get("tenant")
        if slug:
            queryset = queryset.filter(tenant__slug=slug[:63])
        return queryset.select_related("tenant")

    def create(self, request, *args, **kwargs):
        data = request.data
        slug = data.get("tenant") if isinstance(data, dict) else None
        tenant = field_tenant(self.access, slug if isinstance(slug, str) else None)
        from .. import actions

        field = api_perform(self, actions.CREATE_FIELD, tenant)
        return Response(CustomFieldSerializer(field).data, status=201)

    def partial_update(self, request, *args, **kwargs):
        from .. import actions

        field = api_perform(self, actions.UPDATE_FIELD, self.get_object())
        return Response(CustomFieldSerializer(field).data)

    def update(self, request, *args, **kwargs):
        return self.partial_update(request, *args, **kwargs)


def field_tenant(access, slug: str | None) -> Tenant:
    """The tenant a new field is for: a customer's own, or the one MSSP staff name among those
    they see; any other reads as missing."""
    if access.customer_tenant_id is not None and not slug:
        slug = Tenant.objects.filter(pk=access.customer_tenant_id).values_list("slug", flat=True)
        slug = slug.first()
    tenant = Tenant.objects.filter(slug=slug or "", pk__in=access.tenant_ids).first()
    if tenant is None:
        raise ValidationError({"tenant": ["No such customer among those you see."]})
    return tenant
