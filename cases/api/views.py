"""/api/v1/: tasks of incidents (/incidents/{id}/tasks/, /tasks/) and case templates
(/case-templates/). Thin adapters over cases.actions."""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.db.models import Q
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, renderers
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from alerts.api.serializers import ClassifiedSerializer, ClassifySerializer
from alerts.models import Incident
from tenants.actions import Invalid
from tenants.api.actions import api_perform
from tenants.api.base import TenantScopedViewSet
from tenants.api.errors import PayloadTooLarge
from tenants.api.parsers import SafeJSONParser
from tenants.models import AuditEvent
from tenants.permissions import ADMIN_TO_CHANGE

from .. import actions, evidence, policy
from ..models import Attachment, CaseTemplate, Task, TaskStatus
from .serializers import (
    ApplyTemplateSerializer,
    AttachmentDetailSerializer,
    AttachmentSerializer,
    AttachmentUploadSerializer,
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

    @extend_schema(request=ClassifySerializer, responses=ClassifiedSerializer)
    @action(detail=True, methods=["post"])
    def classify(self, request, pk=None):
        """Set the TLP (and PAP) of the incident, or of one of its comments, tasks, evidence
        files or observables (alerts.tlp). MSSP staff set any level; a customer's responders
        and admins set CLEAR to AMBER+STRICT on what they wrote (RED: 400; what the MSSP wrote:
        403). Audited and on the timeline."""
        item = api_perform(self, actions.CLASSIFY, self.get_object())
        kind = type(item)._meta.model_name
        return Response(
            ClassifiedSerializer(
                {
                    "item": "observable" if kind == "incidentobservable" else kind,
                    "id": item.pk,
                    "tlp": item.tlp,
                    "pap": getattr(item, "pap", None),
                }
            ).data
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


# --- evidence ----------------------------------------------------------------------------------

ATTACHMENT_RELATED = ("tenant",)
CUSTODY_ACTIONS = ("evidence.added", "evidence.downloaded", "evidence.deleted")
CUSTODY_SHOWN = 1000


class DownloadRenderer(renderers.BaseRenderer):
    """Lets a client ask for the file's own type (Accept: application/octet-stream); an error
    in answer to such a request is still the contract's JSON."""

    media_type = "application/octet-stream"
    format = "bin"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return json.dumps(data).encode()


class EvidenceMissing(APIException):
    status_code = 410
    default_detail = evidence.MISSING
    default_code = "gone"


class IncidentAttachmentViewSet(TenantScopedViewSet):
    """GET|POST /incidents/{id}/attachments/: an incident's evidence files (a customer reads
    the shared ones only) and the upload (multipart/form-data)."""

    scoped_model = Incident
    serializer_class = AttachmentSerializer
    parser_classes = [MultiPartParser, SafeJSONParser]

    def scope_queryset(self, queryset):
        return queryset.select_related("tenant")

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body (the session's CSRF check does, at authentication):
        # the file is streamed to a temporary file and hashed as it arrives.
        self.upload = evidence.receive_with_hashing(request) if request.method == "POST" else None
        return super().initialize_request(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        if request.method == "POST" and evidence.declared_too_large(request):
            raise PayloadTooLarge(evidence.too_large_message(settings.EVIDENCE_MAX_BYTES))
        super().initial(request, *args, **kwargs)

    @extend_schema(methods=["GET"], responses=AttachmentSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": AttachmentUploadSerializer},
        responses={201: AttachmentSerializer},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)  # a plain list
    def attachments(self, request, pk=None):
        """Evidence files: SHA-256 and size computed as the file arrives, stored under a
        random key, never opened. Upload: MSSP staff and the customer's responders and admins
        (viewers read); larger than the limit: 413 and nothing stored; more files than the
        incident may hold: 400."""
        incident = self.get_object()
        if request.method == "GET":
            rows = policy.visible_attachments(
                self.access,
                Attachment.objects.for_tenant(incident.tenant_id).filter(incident=incident),
            ).select_related(*ATTACHMENT_RELATED)
            return Response(
                AttachmentSerializer(rows.order_by("created_at", "id")[:500], many=True).data
            )
        data = request.data
        if self.upload is not None and self.upload.too_large:
            raise PayloadTooLarge(evidence.too_large_message(settings.EVIDENCE_MAX_BYTES))
        if hasattr(data, "getlist") and len(data.getlist("file")) > 1:
            raise ValidationError({"file": "One file per upload."})
        attachment = api_perform(self, actions.ADD_ATTACHMENT, incident, data=data)
        return Response(AttachmentSerializer(attachment).data, status=201)


class AttachmentViewSet(mixins.RetrieveModelMixin, TenantScopedViewSet):
    """/incidents/{incident_pk}/attachments/{id}/: one evidence file with its chain of custody
    (from the audit log); `download/` hands the file back as a download no browser renders;
    DELETE (MSSP staff or whoever added it) removes the file and keeps its record and hash."""

    scoped_model = Attachment
    serializer_class = AttachmentDetailSerializer
    http_method_names = ["get", "delete", "head", "options"]

    def scope_queryset(self, queryset):
        if getattr(self, "swagger_fake_view", False):  # the schema's generator: no request
            return queryset.none()
        try:
            incident = uuid.UUID(str(self.kwargs.get("incident_pk", "")))
        except ValueError:
            raise Http404 from None
        rows = policy.visible_attachments(self.access, queryset.filter(incident_id=incident))
        return rows.select_related(*ATTACHMENT_RELATED)

    def _detail(self, attachment: Attachment) -> Response:
        # A RED file's entries are in the MSSP's own log (alerts.tlp), which only staff read.
        logs = [attachment.tenant_id]
        custody = (
            (
                AuditEvent.objects.dangerously_unscoped(
                    "a file's custody: its tenant's and MSSP's"
                ).filter(Q(tenant_id__in=logs) | Q(tenant__isnull=True))
                if self.access.is_mssp_staff
                else AuditEvent.objects.for_tenant(attachment.tenant_id)
            )
            .filter(
                object_type="cases.attachment",
                object_id=str(attachment.pk),
                action__in=CUSTODY_ACTIONS,
            )
            .order_by("at", "id")[:CUSTODY_SHOWN]
        )
        rows = list(custody)
        if not self.access.is_mssp_staff:
            for row in rows:  # the MSSP's own addresses are its own
                row.ip = None
        context = {**self.get_serializer_context(), "custody": rows}
        return Response(AttachmentDetailSerializer(attachment, context=context).data)

    def retrieve(self, request, *args, **kwargs):
        return self._detail(self.get_object())

    @extend_schema(responses=AttachmentDetailSerializer)
    def destroy(self, request, *args, **kwargs):
        """Delete an evidence file (MSSP staff, or whoever added it): the file is removed, its
        record, name and SHA-256 stay, with the deletion in its chain of custody. Twice: 410."""
        attachment = api_perform(self, actions.DELETE_ATTACHMENT, self.get_object(), data={})
        return self._detail(attachment)

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            410: OpenApiResponse(description="The file was deleted; its record remains."),
        }
    )
    @action(
        detail=True, methods=["get"], renderer_classes=[renderers.JSONRenderer, DownloadRenderer]
    )
    def download(self, request, *args, **kwargs):
        """The file, always as a download (Content-Disposition: attachment, octet-stream,
        nosniff, a sandbox CSP), streamed; each download is in the chain of custody."""
        attachment = api_perform(self, actions.DOWNLOAD_ATTACHMENT, self.get_object(), data={})
        try:
            return evidence.download_response(attachment)
        except FileNotFoundError:
            raise EvidenceMissing() from None  # a handled error: the audit entry rolls back
