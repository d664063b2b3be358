"""Tenants' suppression and correlation rules."""

from __future__ import annotations

from rest_framework import mixins
from rest_framework.exceptions import PermissionDenied

from tenants import audit
from tenants.api.base import TenantNestedViewSet

from ..models import (
    CorrelationRule,
    SuppressionRule,
)
from ..rules import may_change_rules, may_see_rules
from .serializers import (
    CorrelationRuleSerializer,
    SuppressionRuleSerializer,
)


class TenantRuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantNestedViewSet,
):
    """Rules of one tenant. Read: MSSP staff of the tenant and its responders and admins;
    write: MSSP staff and the tenant's admins. Every change is audited."""

    cursor_ordering = "-created_at"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    audit_name = "rule"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not may_see_rules(self.access):
            raise PermissionDenied("Your role does not see rules.")
        writing = request.method not in ("GET", "HEAD", "OPTIONS")
        if writing and not may_change_rules(self.access):
            raise PermissionDenied("Only MSSP staff and this customer's admins change rules.")

    def _audit(self, action: str, rule) -> None:
        audit.record(
            f"{self.audit_name}.{action}",
            tenant=self.tenant,
            obj=rule,
            request=self.request._request,
            summary=f"{self.audit_name} '{rule.name}' {action}",
            data=self.get_serializer(rule).data,
        )

    def perform_create(self, serializer):
        self._audit("created", serializer.save(tenant=self.tenant, **self.creator_fields()))

    def perform_update(self, serializer):
        self._audit("updated", serializer.save())

    def perform_destroy(self, instance):
        self._audit("deleted", instance)
        instance.delete()

    def creator_fields(self) -> dict:
        return {}


class SuppressionRuleViewSet(TenantRuleViewSet):
    """Suppression rules: matching alerts are stored but raise no incident until the rule
    expires (at most 90 days ahead). The creator owns the rule."""

    scoped_model = SuppressionRule
    serializer_class = SuppressionRuleSerializer
    audit_name = "suppression_rule"

    def creator_fields(self) -> dict:
        return {"owner": self.request.user}

    def scope_queryset(self, queryset):
        return queryset.select_related("owner")


class CorrelationRuleViewSet(TenantRuleViewSet):
    """Correlation rules: alerts sharing the chosen fields within the window form one
    incident."""

    scoped_model = CorrelationRule
    serializer_class = CorrelationRuleSerializer
    audit_name = "correlation_rule"

    def creator_fields(self) -> dict:
        return {"created_by": self.request.user}
