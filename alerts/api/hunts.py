"""/api/v1/hunts/: saved hunts of MSSP staff (their own and the shared ones), run on demand or
on a schedule across the tenants the runner works; results page through like the alert list."""

from __future__ import annotations

from django.db import models
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from tenants import audit
from tenants.access import Access
from tenants.api.base import CallerScopedViewSet
from tenants.api.pagination import CursorPagination

from ..hunts import MAX_LOOKBACK_DAYS, HuntQuery, hunt_alerts, hunt_run, hunts_for, schedule_next
from ..models import Hunt, HuntRun
from .serializers import AlertSerializer


class HuntRunSerializer(serializers.ModelSerializer):
    run_by = serializers.CharField(source="run_by.username", read_only=True, default=None)

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


class HuntSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    query = HuntQuery()
    lookback_days = serializers.IntegerField(min_value=1, max_value=MAX_LOOKBACK_DAYS, default=7)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)

    class Meta:
        model = Hunt
        fields = [
            "id",
            "name",
            "description",
            "owner",
            "query",
            "lookback_days",
            "shared",
            "schedule",
            "next_run_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "owner", "next_run_at", "created_at", "updated_at"]


def visible_per_tenant(run: HuntRun | None, access: Access) -> dict[str, int]:
    """A run's counts, for the tenants the viewer works only (a shared hunt's run by someone
    who works more tenants must not tell the viewer about the others)."""
    if run is None:
        return {}
    from tenants.models import Tenant

    mine = set(Tenant.objects.filter(pk__in=access.tenant_ids).values_list("slug", flat=True))
    return {slug: n for slug, n in run.per_tenant.items() if slug in mine}


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
        if not self.access.is_mssp_staff:
            raise PermissionDenied("Hunts are for MSSP staff.")

    def rows_for(self, access: Access) -> models.QuerySet:
        return hunts_for(access).select_related("owner")

    def _own(self) -> Hunt:
        hunt = self.get_object()
        if hunt.owner_id != self.request.user.pk:
            raise PermissionDenied("Only its owner changes a hunt; you may run it.")
        return hunt

    def perform_create(self, serializer):
        hunt = serializer.save(owner=self.request.user)
        schedule_next(hunt)
        hunt.save(update_fields=["next_run_at"])
        audit.record("hunt.created", obj=hunt, request=self.request._request, summary=hunt.name)

    def perform_update(self, serializer):
        self._own()
        hunt = serializer.save()
        schedule_next(hunt)
        hunt.save(update_fields=["next_run_at"])
        audit.record("hunt.updated", obj=hunt, request=self.request._request, summary=hunt.name)

    def perform_destroy(self, instance):
        self._own()
        audit.record(
            "hunt.deleted", obj=instance, request=self.request._request, summary=instance.name
        )
        instance.delete()

    @extend_schema(request=None, responses={201: HuntRunSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Run it now: hits per tenant the caller works, and how many arrived since the last
        run. The hits themselves are at results/."""
        run = hunt_run(self.get_object(), self.access)
        body = HuntRunSerializer(run).data
        body["per_tenant"] = visible_per_tenant(run, self.access)
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses=HuntRunSerializer(many=True))
    @action(detail=True, methods=["get"])
    def runs(self, request, pk=None):
        runs = list(self.get_object().runs.select_related("run_by")[:50])
        body = HuntRunSerializer(runs, many=True).data
        for row, run in zip(body, runs, strict=True):
            row["per_tenant"] = visible_per_tenant(run, self.access)
        return Response(body)

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
