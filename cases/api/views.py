"""/api/v1/: tasks of incidents (/incidents/{id}/tasks/, /tasks/) and case templates
(/case-templates/). Thin adapters over cases.actions."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from alerts.models import Incident
from tenants.actions import Invalid
from tenants.api.actions import api_perform
from tenants.api.base import TenantScopedViewSet
from tenants.permissions import ADMIN_TO_CHANGE

from .. import actions, policy
from ..models import CaseTemplate, Task, TaskStatus
from .serializers import (
    ApplyTemplateSerializer,
    CaseTemplateSerializer,
    TaskSerializer,
    TaskStatusSerializer,
    TaskWriteSerializer,
)

TASK_RELATED = ("tenant", "incident", "owner", "owner_team", "template", "created_by")


def _task(task: Task) -> Task:
    return (
        Task.objects.for_tenant(task.tenant_id)
        .select_related(*TASK_RELATED, "completed_by")
        .get(pk=task.pk)
    )


class IncidentTaskViewSet(TenantScopedViewSet):
    """GET|POST /incidents/{id}/tasks/ and POST /incidents/{id}/apply-template/. A customer
    reads the shared tasks only; an internal task never appears in a customer's answer."""

    scoped_model = Incident
    serializer_class = TaskSerializer

    def scope_queryset(self, queryset):
        return queryset.select_related("tenant")

    @extend_schema(methods=["GET"], responses=TaskSerializer(many=True))
    @extend_schema(methods=["POST"], request=TaskWriteSerializer, responses={201: TaskSerializer})
    @action(detail=True, methods=["get", "post"], pagination_class=None)  # a plain list
    def tasks(self, request, pk=None):
        incident = self.get_object()
        if request.method == "GET":
            rows = policy.visible_tasks(
                self.access, Task.objects.for_tenant(incident.tenant_id).filter(incident=incident)
            ).select_related(*TASK_RELATED, "completed_by")
            return Response(TaskSerializer(rows.order_by("position", "id")[:500], many=True).data)
        task = api_perform(self, actions.ADD_TASK, incident)
        return Response(TaskSerializer(_task(task)).data, status=201)

    @extend_schema(request=ApplyTemplateSerializer, responses={201: TaskSerializer(many=True)})
    @action(detail=True, methods=["post"], url_path="apply-template")
    def apply_template(self, request, pk=None):
        """Apply a case template (the library's or this customer's own; MSSP staff): its
        tasks are added, due from now. The same template twice is a 400."""
        tasks = api_perform(self, actions.APPLY_TEMPLATE, self.get_object())
        rows = Task.objects.for_tenants(self.access.tenant_ids).filter(pk__in=[t.pk for t in tasks])
        return Response(
            TaskSerializer(rows.select_related(*TASK_RELATED), many=True).data, status=201
        )


class TaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Tasks of the incidents the caller sees (shared ones only, for a customer), newest
    first; `?mine=1`: the caller's own and their teams'; `?incident=`, `?status=`."""

    scoped_model = Task
    serializer_class = TaskSerializer
    cursor_ordering = "-id"
    http_method_names = ["get", "patch", "post", "head", "options"]

    def scope_queryset(self, queryset):
        queryset = policy.visible_tasks(self.access, queryset)
        params = self.request.query_params
        if params.get("incident"):
            queryset = queryset.filter(incident_id=_uuid_param(params["incident"], "incident"))
        if params.get("status"):
            wanted = params["status"].split(",")
            if set(wanted) - set(TaskStatus.values):
                raise ValidationError(
                    {"status": f"One or more of {', '.join(TaskStatus.values)}, comma-separated."}
                )
            queryset = queryset.filter(status__in=wanted)
        if params.get("mine") in ("1", "true"):
            user = self.request.user
            queryset = queryset.filter(Q(owner=user) | Q(owner_team__members=user))
        return queryset.select_related(*TASK_RELATED, "completed_by")

    @extend_schema(
        parameters=[
            OpenApiParameter("incident", str, description="Only this incident's tasks."),
            OpenApiParameter("status", str, description="open, in_progress, done, cancelled."),
            OpenApiParameter("mine", bool, description="Only the caller's and their teams'."),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=TaskWriteSerializer, responses=TaskSerializer)
    def partial_update(self, request, pk=None):
        """Change a task's title, description, phase, due time, owner or visibility (whoever
        works the incident; customers their shared tasks)."""
        task = api_perform(self, actions.EDIT_TASK, self.get_object())
        return Response(TaskSerializer(_task(task)).data)

    @extend_schema(request=TaskStatusSerializer, responses=TaskSerializer)
    @action(detail=True, methods=["post"])
    def status(self, request, pk=None):
        """Move a task: open, in_progress, done, cancelled. A customer's responders and admins
        move the shared tasks handed to their side."""
        task = api_perform(self, actions.SET_TASK_STATUS, self.get_object())
        return Response(TaskSerializer(_task(task)).data)


def _uuid_param(value: str, name: str):
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationError({name: "Not an id."}) from None


class CaseTemplateViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantScopedViewSet,
):
    """Case templates: the MSSP's library (`tenant` null) and the variants of the customers the
    caller works (which replace the library's of their category for that customer). MSSP staff
    read them; leads, managers and admins change them. Customers see none."""

    scoped_model = CaseTemplate
    serializer_class = CaseTemplateSerializer
    include_mssp_rows = True
    cursor_ordering = "-id"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_scope = ADMIN_TO_CHANGE

    def scope_queryset(self, queryset):
        if not self.access.is_mssp_staff:
            return queryset.none()
        params = self.request.query_params
        if params.get("category"):
            queryset = queryset.filter(category=params["category"].strip().lower()[:100])
        if params.get("tenant") == "library":
            queryset = queryset.filter(tenant__isnull=True)
        return queryset.select_related("tenant")

    def create(self, request, *args, **kwargs):
        data = request.data
        slug = data.get("tenant") if isinstance(data, dict) else None
        try:
            tenant = actions.template_tenant(self.access, slug if isinstance(slug, str) else None)
        except Invalid as exc:
            raise ValidationError(exc.detail) from None
        template = api_perform(self, actions.CREATE_TEMPLATE, tenant)
        return Response(CaseTemplateSerializer(template).data, status=201)

    def partial_update(self, request, *args, **kwargs):
        template = api_perform(self, actions.UPDATE_TEMPLATE, self.get_object())
        return Response(CaseTemplateSerializer(template).data)

    def update(self, request, *args, **kwargs):
        return self.partial_update(request, *args, **kwargs)

    def destroy(self, request, *args, **kwargs):
        api_perform(self, actions.DELETE_TEMPLATE, self.get_object())
        return Response(status=204)
