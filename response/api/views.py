"""/api/v1/incidents/{id}/actions/ (list, request), /api/v1/actions/ (+ approve, reject,
reverse) and /api/v1/action-policies/: thin adapters over response.actions."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from alerts.models import Incident
from tenants.api.actions import api_perform
from tenants.api.base import TenantScopedViewSet
from tenants.models import Tenant
from tenants.permissions import ADMIN_TO_CHANGE

from .. import actions
from ..models import ActionPolicy, ActionStatus, ResponseAction
from .serializers import (
    ActionPolicyChangeSerializer,
    ActionPolicySerializer,
    ActionPolicySetSerializer,
    ActionRequestSerializer,
    DecisionSerializer,
    RejectSerializer,
    ResponseActionSerializer,
    ReverseSerializer,
)

RELATED = ("tenant",)
LISTED = 500


def _fresh(row: ResponseAction) -> ResponseAction:
    found: ResponseAction = (
        ResponseAction.objects.for_tenant(row.tenant_id).select_related(*RELATED).get(pk=row.pk)
    )
    return found


class IncidentResponseViewSet(TenantScopedViewSet):
    """GET|POST /incidents/{id}/actions/: the incident's response actions (newest first) and a
    request for one. The request is answered 201 with the new action (running at once when
    the contract pre-approves it, else awaiting the customer's approval), or 200 with the
    action already asked for with the same idempotency key (or the same live action)."""

    scoped_model = Incident
    serializer_class = ResponseActionSerializer

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.select_related("tenant")

    @extend_schema(methods=["GET"], responses=ResponseActionSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request=ActionRequestSerializer,
        responses={200: ResponseActionSerializer, 201: ResponseActionSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                location=OpenApiParameter.HEADER,
                required=False,
                description="The same key again answers the first request (200), never a "
                "second run. The body's idempotency_key, when given, is used instead.",
            )
        ],
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)  # a plain list
    def actions(self, request: Request, pk: str | None = None) -> Response:
        incident: Incident = self.get_object()  # type: ignore[assignment]
        if request.method == "GET":
            rows = (
                ResponseAction.objects.for_tenant(incident.tenant_id)
                .filter(incident=incident)
                .select_related(*RELATED)
                .order_by("-requested_at", "-id")[:LISTED]
            )
            return Response(ResponseActionSerializer(rows, many=True).data)
        row = api_perform(self, actions.REQUEST, incident)
        created = getattr(row, "created", True)
        return Response(ResponseActionSerializer(_fresh(row)).data, status=201 if created else 200)


class ResponseActionFilter(django_filters.FilterSet):  # type: ignore[misc]
    # By id: the rows are scoped already, so another tenant's incident matches nothing.
    incident = django_filters.UUIDFilter(field_name="incident_id")
    status = django_filters.ChoiceFilter(choices=ActionStatus.choices)

    class Meta:
        model = ResponseAction
        fields = ["status", "incident"]


class ResponseActionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Response actions of the caller's tenants, newest first (`?status=awaiting_approval`:
    what waits for an answer). The customer's responders and admins approve or reject; whoever
    works the incident reverses an action in force (release, enable, unblock)."""

    scoped_model = ResponseAction
    serializer_class = ResponseActionSerializer
    cursor_ordering = "-requested_at"
    filterset_class = ResponseActionFilter

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.select_related(*RELATED)

    def _answer(self, row: ResponseAction, status: int = 200) -> Response:
        return Response(ResponseActionSerializer(_fresh(row)).data, status=status)

    @extend_schema(request=DecisionSerializer, responses=ResponseActionSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Approve an action awaiting approval: it runs at once. 409 when it is no longer
        awaiting (answered, expired)."""
        return self._answer(api_perform(self, actions.APPROVE, self.get_object()))

    @extend_schema(request=RejectSerializer, responses=ResponseActionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        """Reject an action awaiting approval (a reason is required): it never runs."""
        return self._answer(api_perform(self, actions.REJECT, self.get_object()))

    @extend_schema(
        request=ReverseSerializer,
        responses={200: ResponseActionSerializer, 201: ResponseActionSerializer},
    )
    @action(detail=True, methods=["post"])
    def reverse(self, request: Request, pk: str | None = None) -> Response:
        """Ask for the action that undoes this one (release the host, enable the user,
        unblock the address or domain), under that action's contract. 409 when this action
        is not in force."""
        row = api_perform(self, actions.REVERSE, self.get_object())
        return self._answer(row, 201 if getattr(row, "created", True) else 200)


class ActionPolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The contract's word per action (`?tenant=<slug>`): pre_approved, needs_approval (with
    its clock and escalations) or never. An action without a row needs approval within 15
    minutes, escalated once. POST sets one action's policy for a tenant (the caller's own
    for a customer's admin; `tenant` for MSSP leads, managers and admins); PATCH changes
    one. Both need a recent second factor in a session, and are audited."""

    scoped_model = ActionPolicy
    serializer_class = ActionPolicySerializer
    cursor_ordering = "-updated_at"
    http_method_names = ["get", "post", "patch", "head", "options"]
    required_scope = ADMIN_TO_CHANGE

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        slug = self.request.query_params.get("tenant")
        if slug:
            queryset = queryset.filter(tenant__slug=str(slug)[:63])
        return queryset.select_related("tenant", "updated_by")

    @extend_schema(
        parameters=[OpenApiParameter("tenant", str, description="Only this tenant's (slug).")]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def _tenant(self) -> Tenant:
        data = self.request.data
        slug = data.get("tenant") if isinstance(data, dict) else None
        if slug is None and self.access.customer_tenant_id is not None:
            return Tenant.objects.get(pk=self.access.customer_tenant_id)
        tenant = (
            Tenant.objects.filter(slug=slug, pk__in=sorted(self.access.tenant_ids)).first()
            if isinstance(slug, str)
            else None
        )
        if tenant is None:
            raise ValidationError({"tenant": ["No such customer among those you work."]})
        return tenant

    @extend_schema(
        request=ActionPolicySetSerializer,
        responses={200: ActionPolicySerializer, 201: ActionPolicySerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        tenant = self._tenant()
        existed = False
        data = request.data
        if isinstance(data, dict) and isinstance(data.get("action"), str):
            existed = (
                ActionPolicy.objects.for_tenant(tenant.pk).filter(action=data["action"]).exists()
            )
        row = api_perform(self, actions.SET_POLICY, tenant)
        row = ActionPolicy.objects.for_tenant(tenant.pk).select_related("tenant").get(pk=row.pk)
        return Response(ActionPolicySerializer(row).data, status=200 if existed else 201)

    @extend_schema(request=ActionPolicyChangeSerializer, responses=ActionPolicySerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = api_perform(self, actions.CHANGE_POLICY, self.get_object())
        row = ActionPolicy.objects.for_tenant(row.tenant_id).select_related("tenant").get(pk=row.pk)
        return Response(ActionPolicySerializer(row).data)
