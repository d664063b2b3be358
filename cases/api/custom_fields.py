"""/api/v1/custom-fields/: the definitions of the tenants' own incident fields. Thin adapters
over cases.actions (CREATE_FIELD, UPDATE_FIELD); the values live on the incidents
(/incidents/{id}/custom-fields/)."""

from __future__ import annotations

from rest_framework import mixins
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from tenants.actions import Invalid
from tenants.api.actions import api_perform
from tenants.api.base import TenantScopedViewSet
from tenants.models import Tenant
from tenants.permissions import ADMIN_TO_CHANGE

from .. import actions, custom_fields
from ..models import CustomField
from .field_serializers import CustomFieldSerializer


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
        body = None
        if isinstance(data, dict) and "from_library" in data:
            # Adopting a field of the MSSP's library: its definition, validated as any other.
            try:
                entry = custom_fields.library_entry(data["from_library"])
            except Invalid as exc:
                raise ValidationError(exc.detail) from None
            body = custom_fields.adoption_body(entry, data)
        field = api_perform(self, actions.CREATE_FIELD, tenant, data=body)
        return Response(CustomFieldSerializer(field).data, status=201)

    def partial_update(self, request, *args, **kwargs):
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
