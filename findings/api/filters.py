"""Filters of the findings list (API and page): tenant, status, severity, asset or host,
engagement, scanner, CVE, overdue, text."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils import timezone

from alerts.api.filters import CommaChoices, named_statuses
from alerts.models import Severity

from ..models import OPEN_FINDING_STATUSES, Finding, FindingStatus, Scanner


class FindingFilter(django_filters.FilterSet):
    tenant = django_filters.CharFilter(field_name="tenant__slug", max_length=63)
    status = django_filters.CharFilter(
        method="statuses", max_length=200, help_text="Comma-separated statuses, or 'open'."
    )
    severity = CommaChoices(choices=Severity.choices)
    asset = django_filters.UUIDFilter(field_name="asset_id")
    host = django_filters.CharFilter(
        method="on_host", max_length=255, help_text="IP address or host name of the asset."
    )
    engagement = django_filters.UUIDFilter(field_name="engagement_id")
    scanner = django_filters.ChoiceFilter(choices=Scanner.choices)
    cve = django_filters.CharFilter(method="with_cve", max_length=30)
    overdue = django_filters.BooleanFilter(
        method="is_overdue", help_text="Open and past the remediation due date."
    )
    awaiting_verification = django_filters.BooleanFilter(
        method="awaits_verification",
        help_text="Marked remediated by the customer (or no longer found by its scan), "
        "awaiting MSSP verification.",
    )
    q = django_filters.CharFilter(method="text", max_length=200, help_text="Text in the title.")

    class Meta:
        model = Finding
        fields: list[str] = []

    def statuses(self, queryset, name, value):
        wanted = named_statuses(
            value,
            open_statuses=OPEN_FINDING_STATUSES,
            known=FindingStatus.values,
            refusal=_refusal,
        )
        return queryset.filter(status__in=wanted)

    def on_host(self, queryset, name, value):
        value = value.strip().lower().rstrip(".")
        return queryset.filter(
            Q(asset__identifier=value)
            | Q(asset__hostname=value)
            | Q(asset__fqdn=value)
            | Q(asset__identifier__startswith=value + ".")
        )

    def with_cve(self, queryset, name, value):
        return queryset.filter(cves__icontains=value.strip().upper())

    def is_overdue(self, queryset, name, value):
        overdue = Q(status__in=OPEN_FINDING_STATUSES, clock__due_at__lt=timezone.now())
        return queryset.filter(overdue) if value else queryset.exclude(overdue)

    def awaits_verification(self, queryset, name, value):
        # A customer's claim on an open finding, or one remediated and unverified (how a
        # claim was recorded before claims kept the finding open).
        waiting = Q(status__in=OPEN_FINDING_STATUSES, remediation_claimed_at__isnull=False) | Q(
            status=FindingStatus.REMEDIATED, verified_at__isnull=True
        )
        return queryset.filter(waiting) if value else queryset.exclude(waiting)

    def text(self, queryset, name, value):
        return queryset.filter(Q(title__icontains=value) | Q(plugin_id=value))


def _refusal(part: str) -> str:
    statuses = ", ".join(FindingStatus.values)
    return f"'{part[:40]}' is not a status; one of open, {statuses}."
