"""/api/v1/custom-field-library/: the MSSP's library of custom incident fields, which a
customer's admins (and MSSP staff, for the customers they manage) adopt into a customer with
`POST /api/v1/custom-fields/ {"from_library": "<id>"}` (cases.custom_fields.adoption_body).
Read-only here: MSSP admins keep the library in the Django admin."""

from __future__ import annotations

from rest_framework import mixins, serializers

from tenants.api.base import CallerScopedViewSet

from ..models import LibraryField


class LibraryFieldSerializer(serializers.ModelSerializer):
    class Meta:
        model = LibraryField
        fields = [
            "id",
            "key",
            "label",
            "help_text",
            "type",
            "choices",
            "required_for_categories",
            "required_for_statuses",
            "updated_at",
        ]
        read_only_fields = fields


class LibraryFieldViewSet(mixins.ListModelMixin, CallerScopedViewSet):
    """The MSSP's field library, for those who manage a customer's fields: MSSP staff and
    customers' admins (others see an empty list). It holds no customer's data."""

    scoped_model = LibraryField
    serializer_class = LibraryFieldSerializer
    cursor_ordering = ("label", "id")

    def rows_for(self, access):
        if access.is_mssp_staff or access.is_customer_admin:
            return LibraryField.objects.all()
        return LibraryField.objects.none()
