"""Intake sources: each tenant's SIEMs and sensors and their intake keys (admin)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from tenants.api.actions import api_perform
from tenants.api.base import TenantNestedViewSet
from tenants.api.views import TenantAdministeredMixin

from ..models import IntakeSource
from ..sources import CREATE_SOURCE, REVOKE_SOURCE, ROTATE_SOURCE_KEY, UPDATE_SOURCE, SourceKey
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

    # Changes run the actions of alerts.sources, as the settings pages do.
    @extend_schema(request=IntakeSourceSerializer, responses={201: IntakeSourceWithKeySerializer})
    def create(self, request, tenant_slug=None):
        made = api_perform(self, CREATE_SOURCE, self.tenant, context=self.get_serializer_context())
        return self._with_key(made, status.HTTP_201_CREATED)

    @extend_schema(request=IntakeSourceUpdateSerializer, responses=IntakeSourceSerializer)
    def partial_update(self, request, tenant_slug=None, pk=None):
        source = api_perform(
            self, UPDATE_SOURCE, self.get_object(), context=self.get_serializer_context()
        )
        return Response(IntakeSourceSerializer(source).data)

    @extend_schema(request=None, responses={201: IntakeSourceWithKeySerializer})
    @action(detail=True, methods=["post"], url_path="rotate-key")
    def rotate_key(self, request, tenant_slug=None, pk=None):
        """A new key for the source; the old one stops working at once."""
        made = api_perform(self, ROTATE_SOURCE_KEY, self.get_object(), data={})
        return self._with_key(made, status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request, tenant_slug=None, pk=None):
        api_perform(self, REVOKE_SOURCE, self.get_object(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _with_key(self, made: SourceKey, code: int) -> Response:
        body = IntakeSourceSerializer(made.source).data
        body["key"] = made.key
        return Response(body, status=code)


# --- alerts and incidents ----------------------------------------------------------------------
