"""/api/v1/escalations/ (+ accept, decline, withdraw), /api/v1/incidents/{id}/escalate/ and
/api/v1/tenants/{slug}/escalation-policies/."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from alerts.models import Incident
from tenants import audit
from tenants.api.actions import api_perform
from tenants.api.base import TenantNestedViewSet, TenantScopedViewSet
from tenants.models import Team
from tenants.permissions import ADMIN_TO_CHANGE

from .. import actions, policy, targets
from ..models import Escalation, EscalationPolicy, StepAction
from .serializers import DeclineSerializer, EscalateSerializer


class EscalationSerializer(serializers.ModelSerializer):
    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    team = serializers.CharField(source="team.name", read_only=True, default=None, allow_null=True)
    schedule = serializers.CharField(
        source="schedule.name", read_only=True, default=None, allow_null=True
    )
    person = serializers.CharField(
        source="person.username", read_only=True, default=None, allow_null=True
    )
    requested_by = serializers.CharField(
        source="requested_by.username", read_only=True, default=None, allow_null=True
    )
    responded_by = serializers.CharField(
        source="responded_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Escalation
        fields = [
            "id",
            "tenant",
            "incident",
            "direction",
            "team",
            "schedule",
            "person",
            "status",
            "step_index",
            "requested_by",
            "requested_at",
            "respond_by",
            "responded_at",
            "responded_by",
            "note",
            "reason",
        ]
        read_only_fields = fields


class EscalationFilter(django_filters.FilterSet):
    # By id, not a model choice: django-filter's choice would look the incident up among all
    # tenants' incidents (an unscoped query, refused: a 500). The rows are scoped already, so
    # another tenant's incident id simply matches nothing.
    incident = django_filters.UUIDFilter(field_name="incident_id")

    class Meta:
        model = Escalation
        fields = ["status", "direction", "incident"]


class EscalationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Escalations of the caller's tenants. Customers never see MSSP-internal tier
    notices. Hand-offs to a customer are answered by its responders; requests for assistance
    by the MSSP staff who work the tenant."""

    scoped_model = Escalation
    serializer_class = EscalationSerializer
    cursor_ordering = "-requested_at"
    filterset_class = EscalationFilter

    def scope_queryset(self, queryset):
        queryset = policy.visible_escalations(self.access, queryset)
        return queryset.select_related(
            "tenant", "team", "schedule", "person", "requested_by", "responded_by"
        )

    def _perform(self, escalation_action):
        """Run the action (sla.actions) on this escalation and answer with it as it is now."""
        esc = api_perform(self, escalation_action, self.get_object())
        return Response(EscalationSerializer(self.get_queryset().get(pk=esc.pk)).data)

    @extend_schema(request=None, responses=EscalationSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        return self._perform(actions.ACCEPT)

    @extend_schema(request=DeclineSerializer, responses=EscalationSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        return self._perform(actions.DECLINE)

    @extend_schema(request=None, responses=EscalationSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        return self._perform(actions.WITHDRAW)


class IncidentEscalationViewSet(TenantScopedViewSet):
    """POST /incidents/{id}/escalate/: MSSP staff hand off to the in-house team, a NOC or a
    tier; a customer's responders and admins ask the MSSP for assistance ("to": "mssp")."""

    scoped_model = Incident
    serializer_class = EscalateSerializer

    @extend_schema(request=EscalateSerializer, responses={201: EscalationSerializer})
    @action(detail=True, methods=["post"])
    def escalate(self, request, pk=None):
        incident = self.get_object()
        esc = api_perform(self, actions.ESCALATE, incident)
        esc = (
            Escalation.objects.for_tenant(incident.tenant_id)
            .select_related("tenant", "team", "schedule", "person", "requested_by", "responded_by")
            .get(pk=esc.pk)
        )
        return Response(EscalationSerializer(esc).data, status=201)


class EscalationPolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = EscalationPolicy
        fields = ["id", "name", "steps", "repeat", "is_active", "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"repeat": {"max_value": 10}, "name": {"max_length": 200}}

    def validate_steps(self, steps):
        if not isinstance(steps, list) or not 1 <= len(steps) <= 20:
            raise serializers.ValidationError("steps is a list of 1 to 20 steps.")
        for number, step in enumerate(steps, start=1):
            if not isinstance(step, dict) or step.get("action") not in StepAction.values:
                raise serializers.ValidationError(
                    f"step {number}: action is one of {', '.join(StepAction.values)}."
                )
            unknown = (
                set(step)
                - {"action", *targets.TARGET_KEYS}
                - {
                    "wait_minutes",
                    "respond_minutes",
                    "if",
                }
            )
            if unknown:
                raise serializers.ValidationError(
                    f"step {number}: unknown key(s) {', '.join(sorted(unknown))}."
                )
            self._check_target(number, step)
            for key in ("wait_minutes", "respond_minutes"):
                value = step.get(key, 0)
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int)
                    or not 0 <= value <= 7 * 24 * 60
                ):
                    raise serializers.ValidationError(
                        f"step {number}: {key} is whole minutes, 0 to a week."
                    )
            conditions = step.get("if", {})
            if not isinstance(conditions, dict) or set(conditions) - {
                "severity",
                "category",
                "unacknowledged",
            }:
                raise serializers.ValidationError(
                    f"step {number}: 'if' takes severity, category and unacknowledged."
                )
        return steps

    def _check_target(self, number: int, step: dict) -> None:
        """The step's team, schedule or person is one this tenant's incidents may go to; a
        hand-off goes to the tenant's own people."""
        tenant = self.context["view"].tenant
        try:
            target = targets.step_target(tenant.pk, step)
        except targets.TargetMissing as exc:
            raise serializers.ValidationError(f"step {number}: {exc}.") from None
        team, person = target.named_team, target.person
        if step["action"] == StepAction.HANDOFF_IN_HOUSE:
            if team is not None and team.tenant_id != tenant.pk:
                raise serializers.ValidationError(
                    f"step {number}: a hand-off goes to this customer's own team or schedule."
                )
            if person is not None and person.is_mssp_staff:
                raise serializers.ValidationError(
                    f"step {number}: a hand-off goes to one of this customer's own people."
                )
        elif step["action"] == StepAction.NOTIFY_NOC:
            if team is not None and team.kind != Team.Kind.NOC:
                raise serializers.ValidationError(f"step {number}: that team is not a NOC.")
        else:  # the MSSP's own tiers and leads: internal, never a customer's people
            if (team is not None and team.tenant_id is not None) or (
                person is not None and not person.is_mssp_staff
            ):
                raise serializers.ValidationError(
                    f"step {number}: {StepAction(step['action']).label.lower()} names the "
                    "MSSP's own teams, schedules or staff."
                )


class EscalationPolicyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantNestedViewSet,
):
    """A tenant's escalation policy (one active at a time). Read: MSSP staff and the
    customer's responders and admins. Write: MSSP admins and leads."""

    scoped_model = EscalationPolicy
    serializer_class = EscalationPolicySerializer
    cursor_ordering = "-created_at"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_scope = ADMIN_TO_CHANGE

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        access = self.access
        if not policy.reads_escalation_policy(access):
            raise PermissionDenied("Your role does not see escalation policies.")
        if request.method not in ("GET", "HEAD", "OPTIONS") and not (
            policy.changes_escalation_policy(access)
        ):
            raise PermissionDenied("Only MSSP admins and leads change escalation policies.")

    def _audit(self, verb: str, policy) -> None:
        audit.record(
            f"escalation_policy.{verb}",
            tenant=self.tenant,
            obj=policy,
            request=self.request._request,
            data=EscalationPolicySerializer(policy).data,
        )

    def perform_create(self, serializer):
        if serializer.validated_data.get("is_active", True):
            EscalationPolicy.objects.for_tenant(self.tenant).update(is_active=False)
        self._audit("created", serializer.save(tenant=self.tenant))

    def perform_update(self, serializer):
        if serializer.validated_data.get("is_active"):
            EscalationPolicy.objects.for_tenant(self.tenant).exclude(
                pk=serializer.instance.pk
            ).update(is_active=False)
        self._audit("updated", serializer.save())

    def perform_destroy(self, instance):
        self._audit("deleted", instance)
        instance.delete()
