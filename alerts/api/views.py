from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from tenants.api.base import TenantScopedViewSet
from tenants.api.pagination import KeysetPagination
from tenants.models import Team, User

from .. import policy, services
from ..models import (
    Alert,
    Incident,
    IncidentEvent,
    Visibility,
)
from ..selectors import QUEUE_COUNT_CAP, URGENCY, pin_list_filters
from .filters import AlertFilter, IncidentFilter
from .serializers import (
    AlertDetailSerializer,
    AlertSerializer,
    AssignSerializer,
    BulkSerializer,
    CommentCreateSerializer,
    CommentSerializer,
    ContainmentSerializer,
    IncidentSerializer,
    MergeSerializer,
    TimelineEntrySerializer,
    TransitionSerializer,
)


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Alerts of the tenants the caller may see, newest first."""

    scoped_model = Alert
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    cursor_ordering = "-id"  # UUIDv7: the order they were received

    def scope_queryset(self, queryset):
        return queryset.select_related("tenant", "source")

    def get_serializer_class(self):
        return AlertDetailSerializer if self.action == "retrieve" else AlertSerializer

    @extend_schema(
        request=inline_serializer(
            "OpenIncident", {"reason": serializers.CharField(max_length=500, required=False)}
        ),
        responses={200: IncidentSerializer, 201: IncidentSerializer},
    )
    @action(detail=True, methods=["post"], url_path="open-incident")
    def open_incident(self, request, pk=None):
        """A hunt's hit made an incident in its tenant (MSSP staff): 200 with the alert's open
        incident when it has one, else 201 with a new one (its SLA clocks started)."""
        if not self.access.is_mssp_staff:
            raise PermissionDenied("MSSP staff open incidents from alerts.")
        alert = self.get_object()
        reason = request.data.get("reason", "") if isinstance(request.data, dict) else ""
        if not isinstance(reason, str) or len(reason) > 500:
            raise ValidationError({"reason": "At most 500 characters of text."})
        incident, created = services.incident_open_for_alert(
            alert, actor=request.user, reason=reason
        )
        incident = (
            Incident.objects.for_tenant(incident.tenant_id)
            .select_related("tenant", "owner", "owner_team", "source")
            .get(pk=incident.pk)
        )
        return Response(IncidentSerializer(incident).data, status=201 if created else 200)


class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Incidents of the tenants the caller may see, most urgent first (severity, then age),
    with the actions of the workflow. Customers see shared comments and timeline entries only."""

    scoped_model = Incident
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter
    pagination_class = KeysetPagination
    keyset_ordering = URGENCY

    def scope_queryset(self, queryset):
        if self.action == "list":
            queryset = pin_list_filters(self.request.query_params, self.request.user, queryset)
        return queryset.select_related("tenant", "owner", "owner_team", "source")

    def _workable(self) -> Incident:
        incident = self.get_object()
        if not policy.can_work(self.access, incident):
            raise PermissionDenied("You may read this incident but not change it.")
        return incident

    def _run(self, change):
        try:
            with transaction.atomic():
                return change()
        except services.WorkflowError as exc:
            raise ValidationError({"detail": str(exc)}) from None

    def _incident(self, incident: Incident, code: int = 200) -> Response:
        incident = self.get_queryset().get(pk=incident.pk)
        return Response(IncidentSerializer(incident).data, status=code)

    @extend_schema(request=None, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        incident = self._workable()
        self._run(lambda: services.incident_acknowledge(incident, actor=request.user))
        return self._incident(incident)

    @extend_schema(request=TransitionSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        incident = self._workable()
        serializer = TransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        self._run(
            lambda: services.incident_transition(
                incident,
                data["status"],
                actor=request.user,
                reason=data.get("reason", ""),
                resolution=data.get("resolution", ""),
            )
        )
        return self._incident(incident)

    @extend_schema(request=None, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def claim(self, request, pk=None):
        incident = self._workable()
        self._run(
            lambda: services.incident_assign(incident, actor=request.user, owner=request.user)
        )
        return self._incident(incident)

    @extend_schema(request=AssignSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        incident = self._workable()
        serializer = AssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        owner, team = self._assignee(incident, serializer.validated_data)
        self._run(
            lambda: services.incident_assign(incident, actor=request.user, owner=owner, team=team)
        )
        return self._incident(incident)

    def _assignee(self, incident: Incident, data: dict) -> tuple[User | None, Team | None]:
        owner = team = None
        if data.get("owner"):
            owner = User.objects.filter(username=data["owner"], is_active=True).first()
            # Anyone who may not own it reads as unknown (no hint whether the name exists).
            if owner is None or not policy.may_own(owner, incident):
                raise ValidationError({"owner": "No such user may work this incident."})
        if data.get("team"):
            team = (
                Team.objects.dangerously_unscoped("teams: MSSP or this tenant's")
                .filter(pk=data["team"])
                .filter(Q(tenant__isnull=True) | Q(tenant_id=incident.tenant_id))
                .first()
            )
            if team is None:
                raise ValidationError({"team": "No such team for this incident."})
        return owner, team

    @extend_schema(request=MergeSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        incident = self._workable()
        serializer = MergeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        into = (
            Incident.objects.for_tenant(incident.tenant_id)
            .filter(pk=serializer.validated_data["into"])
            .first()
        )
        if into is None:
            raise ValidationError({"into": "No such incident of this customer."})
        merged = self._run(lambda: services.incident_merge(incident, into, actor=request.user))
        return self._incident(merged)

    @extend_schema(methods=["GET"], responses=CommentSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=CommentCreateSerializer, responses={201: CommentSerializer}
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)  # a plain list
    def comments(self, request, pk=None):
        incident = self.get_object()
        if request.method == "GET":
            comments = incident.comments.order_by("created_at", "id")
            if not self.access.is_mssp_staff:
                comments = comments.filter(visibility=Visibility.SHARED)
            return Response(CommentSerializer(comments, many=True).data)
        if not self.access.works:
            raise PermissionDenied("Your role reads incidents but does not comment.")
        serializer = CommentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        visibility = data.get("visibility", Visibility.INTERNAL)
        if not self.access.is_mssp_staff:
            if data.get("visibility") == Visibility.INTERNAL:
                raise ValidationError({"visibility": "Customers post shared comments."})
            visibility = Visibility.SHARED
        comment = self._run(
            lambda: services.incident_comment(
                incident, author=request.user, body=data["body"], visibility=visibility
            )
        )
        return Response(CommentSerializer(comment).data, status=201)

    @extend_schema(responses=TimelineEntrySerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)  # a plain list
    def timeline(self, request, pk=None):
        incident = self.get_object()
        entries = (
            IncidentEvent.objects.for_tenant(incident.tenant_id)
            .filter(incident=incident)
            .order_by("at", "id")
        )
        if not self.access.is_mssp_staff:
            entries = entries.filter(visibility=Visibility.SHARED)
        return Response(TimelineEntrySerializer(entries[:2000], many=True).data)

    @extend_schema(methods=["GET"], responses=ContainmentSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=ContainmentSerializer, responses={201: ContainmentSerializer}
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)  # a plain list
    def containment(self, request, pk=None):
        if request.method == "GET":
            incident = self.get_object()
            return Response(ContainmentSerializer(incident.containment.all(), many=True).data)
        incident = self._workable()
        serializer = ContainmentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        record = self._run(
            lambda: services.incident_contain(
                incident,
                actor=request.user,
                action=data["action"],
                target=data["target"],
                result=data.get("result", "pending"),
                notes=data.get("notes", ""),
            )
        )
        return Response(ContainmentSerializer(record).data, status=201)

    @extend_schema(
        request=BulkSerializer,
        responses=inline_serializer(
            "BulkResult", {"results": serializers.ListField(child=serializers.DictField())}
        ),
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """One action on many incidents; each reports ok or its own error. An id the caller
        cannot see reports 'not found', exactly like one that does not exist."""
        serializer = BulkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        found = {i.pk: i for i in self.get_queryset().filter(pk__in=data["ids"])}
        results = []
        for incident_id in data["ids"]:
            incident = found.get(incident_id)
            if incident is None:
                results.append({"id": str(incident_id), "ok": False, "error": "Not found."})
                continue
            try:
                if not policy.can_work(self.access, incident):
                    raise services.WorkflowError("You may read this incident but not change it.")
                with transaction.atomic():
                    self._bulk_one(incident, data)
                results.append({"id": str(incident_id), "ok": True})
            except (services.WorkflowError, ValidationError) as exc:
                detail = exc.detail if isinstance(exc, ValidationError) else str(exc)
                results.append({"id": str(incident_id), "ok": False, "error": str(detail)})
        return Response({"results": results})

    def _bulk_one(self, incident: Incident, data: dict) -> None:
        owner = None
        if data["action"] == "assign":
            owner, _ = self._assignee(incident, {"owner": data.get("owner")})
        services.incident_bulk_action(
            incident,
            data["action"],
            actor=self.request.user,
            owner=owner,
            status=data.get("status", ""),
            reason=data.get("reason", ""),
            resolution=data.get("resolution", ""),
        )


class QueueViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """The work queue: open incidents of every tenant the caller works, most urgent first,
    with a capped count. Same filters as /incidents/."""

    scoped_model = Incident
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter
    pagination_class = KeysetPagination
    keyset_ordering = URGENCY
    count_cap = QUEUE_COUNT_CAP

    def scope_queryset(self, queryset):
        if "status" not in self.request.query_params:
            queryset = queryset.filter(status__in=services.open_statuses())
        queryset = pin_list_filters(self.request.query_params, self.request.user, queryset)
        return queryset.select_related("tenant", "owner", "owner_team", "source")
