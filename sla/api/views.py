"""/api/v1/sla/: the effective policies of the caller's tenants, MSSP admins' overrides, and
the summary (MTTA, MTTC, MTTR and compliance per target) for a period."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from tenants import audit
from tenants.api.base import ScopedGenericAPIView, TenantScopedViewSet
from tenants.api.filters import to_utc
from tenants.models import Tenant
from tenants.permissions import ADMIN_TO_CHANGE

from ..models import SlaClock, SlaPolicy, Target
from ..selectors import get_sla_summary


class SlaPolicySerializer(serializers.ModelSerializer):
    tenant = serializers.SlugRelatedField(
        slug_field="slug", queryset=Tenant.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = SlaPolicy
        fields = [
            "id",
            "tenant",
            "severity",
            "acknowledge_minutes",
            "notify_minutes",
            "contain_minutes",
            "resolve_minutes",
            "coverage",
            "at_risk_percent",
            "updated_at",
        ]
        read_only_fields = ["id", "updated_at"]
        extra_kwargs = {
            f"{t}_minutes": {"min_value": 1, "max_value": 525_600} for t in Target.values
        } | {"at_risk_percent": {"min_value": 1, "max_value": 99}}


class SlaPolicyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantScopedViewSet,
):
    """Policies per severity: the MSSP default contract (tenant null) and tenant overrides.
    Everyone reads the default and their tenants' overrides; MSSP admins write. Deleting an
    override returns the tenant to the default. Running clocks keep the targets they started
    with."""

    scoped_model = SlaPolicy
    serializer_class = SlaPolicySerializer
    cursor_ordering = "id"
    include_mssp_rows = True
    mssp_rows_for_everyone = True  # the default contract is every customer's contract too
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_scope = ADMIN_TO_CHANGE

    def scope_queryset(self, queryset):
        return queryset.select_related("tenant")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method not in ("GET", "HEAD", "OPTIONS") and not self.access.is_mssp_admin:
            raise PermissionDenied("Only MSSP admins change SLA policies.")

    def perform_create(self, serializer):
        tenant = serializer.validated_data.get("tenant")
        if tenant is not None and tenant.pk not in self.access.tenant_ids:
            raise ValidationError({"tenant": "No such tenant."})
        exists = (
            SlaPolicy.objects.dangerously_unscoped("uniqueness")
            .filter(tenant=tenant, severity=serializer.validated_data["severity"])
            .exists()
        )
        if exists:
            raise ValidationError(
                {
                    "severity": "This tenant already has a policy for that "
                    "severity; change it instead."
                }
            )
        policy = serializer.save()
        audit.record(
            "sla_policy.created",
            tenant=tenant,
            obj=policy,
            request=self.request._request,
            data=SlaPolicySerializer(policy).data,
        )

    def perform_update(self, serializer):
        if (
            "tenant" in serializer.validated_data
            and serializer.validated_data["tenant"] != serializer.instance.tenant
        ):
            raise ValidationError({"tenant": "A policy does not move between tenants."})
        policy = serializer.save()
        audit.record(
            "sla_policy.updated",
            tenant=policy.tenant_id,
            obj=policy,
            request=self.request._request,
            data=SlaPolicySerializer(policy).data,
        )

    def perform_destroy(self, instance):
        if instance.tenant_id is None:
            raise ValidationError({"detail": "The default contract is changed, not deleted."})
        audit.record(
            "sla_policy.deleted",
            tenant=instance.tenant_id,
            obj=instance,
            request=self.request._request,
            data=SlaPolicySerializer(instance).data,
        )
        instance.delete()


class SlaSummaryView(ScopedGenericAPIView):
    """MTTA, MTTC and MTTR (mean covered time to the target, paused time excluded) and
    compliance (share of decided clocks met) per target, for clocks started in [from, to).
    Customers get exactly the MSSP's figures for their own tenant."""

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str),
            OpenApiParameter("to", str),
            OpenApiParameter("tenant", str),
            OpenApiParameter("severity", str),
            OpenApiParameter("owner", str, enum=SlaClock.Owner.values),
        ],
        responses=inline_serializer(
            "SlaSummary",
            {
                "from": serializers.DateTimeField(),
                "to": serializers.DateTimeField(),
                "owner": serializers.CharField(),
                "targets": serializers.DictField(),
                "mtta_seconds": serializers.FloatField(allow_null=True),
                "mttc_seconds": serializers.FloatField(allow_null=True),
                "mttr_seconds": serializers.FloatField(allow_null=True),
            },
        ),
    )
    def get(self, request):
        params = request.query_params
        end = self._time(params.get("to"), "to") or timezone.now()
        start = self._time(params.get("from"), "from") or end - timedelta(days=30)
        if start >= end:
            raise ValidationError({"from": "from must be before to."})
        tenant_ids = self.access.tenant_ids
        if params.get("tenant"):
            tenant_ids = frozenset(
                Tenant.objects.filter(slug=params["tenant"], pk__in=tenant_ids).values_list(
                    "pk", flat=True
                )
            )
        owner = params.get("owner") or SlaClock.Owner.MSSP
        if owner not in SlaClock.Owner.values:
            raise ValidationError({"owner": f"One of {', '.join(SlaClock.Owner.values)}."})
        return Response(
            get_sla_summary(
                tenant_ids, start, end, severity=params.get("severity") or None, owner=owner
            )
        )

    @staticmethod
    def _time(value: str | None, name: str) -> datetime | None:
        if not value:
            return None
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError({name: "An ISO 8601 date-time, e.g. 2026-11-01T00:00:00Z."})
        try:  # an offset PostgreSQL refuses (-20:50), or beyond the calendar in UTC
            return to_utc(parsed)
        except ValueError as exc:
            raise ValidationError({name: str(exc)}) from None
