"""/api/v1/hunts/: saved hunts of MSSP staff (their own and the shared ones), run on demand or
on a schedule across the tenants the runner works; results page through like the alert list."""

from __future__ import annotations

from django.db import models
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from tenants.access import Access
from tenants.api.actions import api_perform
from tenants.api.base import CallerScopedViewSet
from tenants.api.pagination import CursorPagination

from ..hunts import (
    CREATE_HUNT,
    DELETE_HUNT,
    HUNTS_ARE_FOR_STAFF,
    RUN_HUNT,
    UPDATE_HUNT,
    HuntSerializer,
    hunt_alerts,
    hunts_for,
    run_counts,
    viewer_slugs,
)
from ..models import Hunt, HuntRun
from .serializers import AlertSerializer


class HuntRunSerializer(serializers.ModelSerializer):
    """A run as its viewer may see it: every count over the viewer's tenants only (context
    `mine`: their slugs; alerts.hunts.run_counts)."""

    run_by = serializers.CharField(
        source="run_by.username", read_only=True, default=None, allow_null=True
    )
    hits = serializers.IntegerField(read_only=True, help_text="Hits on your tenants.")
    new_hits = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Hits on your tenants received since the run before (null on an old run "
        "that counted tenants you do not work).",
    )
    per_tenant = serializers.DictField(
        child=serializers.IntegerField(), read_only=True, help_text="Hits per tenant of yours."
    )

    class Meta:
        model = HuntRun
        fields = [
            "id",
            "run_by",
            "scheduled",
            "status",
            "started_at",
            "finished_at",
            "hits",
            "new_hits",
            "per_tenant",
        ]
        read_only_fields = fields

    def to_representation(self, run):
        body = super().to_representation(run)
        body.update(run_counts(run, self.context["mine"]))
        return body


class HuntViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    CallerScopedViewSet,
):
    """Hunts: MSSP staff only. Anyone of them may run a shared hunt; only its owner changes
    or deletes it. Results are always the caller's own: the tenants the caller works."""

    scoped_model = Hunt
    serializer_class = HuntSerializer
    cursor_ordering = "name"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not self.access.is_mssp_staff:  # reads too; each change is its action's check
            raise PermissionDenied(HUNTS_ARE_FOR_STAFF)

    def rows_for(self, access: Access) -> models.QuerySet:
        return hunts_for(access).select_related("owner")

    # Changes run the actions of alerts.hunts, as the pages do.
    def create(self, request, *args, **kwargs):
        hunt = api_perform(self, CREATE_HUNT, None)
        return Response(self.get_serializer(hunt).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        hunt = api_perform(self, UPDATE_HUNT, self.get_object())
        return Response(self.get_serializer(hunt).data)

    def destroy(self, request, *args, **kwargs):
        api_perform(self, DELETE_HUNT, self.get_object(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={201: HuntRunSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Run it now: hits per tenant the caller works, and how many arrived since the last
        run. The hits themselves are at results/."""
        run = api_perform(self, RUN_HUNT, self.get_object(), data={})
        body = HuntRunSerializer(run, context={"mine": viewer_slugs(self.access)}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses=HuntRunSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)  # a plain list
    def runs(self, request, pk=None):
        runs = list(self.get_object().runs.select_related("run_by")[:50])
        context = {"mine": viewer_slugs(self.access)}
        return Response(HuntRunSerializer(runs, many=True, context=context).data)

    @extend_schema(responses=AlertSerializer(many=True))
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        """The hunt's hits, newest first, cursor-paginated like /alerts/."""
        hunt = self.get_object()
        alerts = hunt_alerts(self.access, hunt.query, hunt.lookback_days).select_related(
            "tenant", "source"
        )
        paginator = CursorPagination()
        paginator.ordering = "-id"
        page = paginator.paginate_queryset(alerts, request, view=None)
        return paginator.get_paginated_response(AlertSerializer(page, many=True).data)
