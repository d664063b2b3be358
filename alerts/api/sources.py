"""Intake sources: each tenant's SIEMs and sensors and their intake keys (admin)."""

from __future__ import annotations

from django.db import IntegrityError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from tenants.api.base import TenantNestedViewSet
from tenants.api.views import TenantAdministeredMixin

from .. import services
from ..models import (
    IntakeSource,
)
from .serializers import (
    IntakeSourceSerializer,
    IntakeSourceUpdateSerializer,
    IntakeSourceWithKeySerializer,
)


class IntakeSourceViewSet(
    TenantAdministeredMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantNestedViewSet
):
    """A tenant's SIEMs and sensors. The intake key is shown once, at creation or rotation.
    Deleting a source disables it (its alerts keep pointing at it) and voids its key."""

    scoped_model = IntakeSource
    serializer_class = IntakeSourceSerializer
    cursor_ordering = "-created_at"
    filterset_fields = ["kind", "status"]

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "tenant": getattr(self, "tenant", None)}

    @extend_schema(request=IntakeSourceSerializer, responses={201: IntakeSourceWithKeySerializer})
    def create(self, request, tenant_slug=None):
        serializer = IntakeSourceSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        source = IntakeSource(tenant=self.tenant, **serializer.validated_data)
        try:
            key = services.source_create(source, request=request._request)
        except IntegrityError:
            raise ValidationError(
                {"name": "This tenant already has a source of that name."}
            ) from None
        return self._with_key(source, key, status.HTTP_201_CREATED)

    @extend_schema(request=IntakeSourceUpdateSerializer, responses=IntakeSourceSerializer)
    def partial_update(self, request, tenant_slug=None, pk=None):
        source = self.get_object()
        serializer = IntakeSourceUpdateSerializer(
            source, data=request.data, partial=True, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        serializer.save()
        services.source_updated(source, serializer.validated_data, request=request._request)
        return Response(IntakeSourceSerializer(source).data)

    @extend_schema(request=None, responses={201: IntakeSourceWithKeySerializer})
    @action(detail=True, methods=["post"], url_path="rotate-key")
    def rotate_key(self, request, tenant_slug=None, pk=None):
        """A new key for the source; the old one stops working at once."""
        source = self.get_object()
        key = services.source_rotate_key(source, request=request._request)
        return self._with_key(source, key, status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request, tenant_slug=None, pk=None):
        source = self.get_object()
        services.source_revoke(source, request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _with_key(self, source: IntakeSource, key: str, code: int) -> Response:
        body = IntakeSourceSerializer(source).data
        body["key"] = key
        return Response(body, status=code)


# --- alerts and incidents ----------------------------------------------------------------------
