"""Filters of the alert and incident lists (django-filter): tenant, status, severity, source,
owner, time range and text."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import django_filters
from django.db.models import Q
from rest_framework.exceptions import ValidationError

from tenants.api.filters import UTCDateTimeFilter

from ..models import (
    OPEN_STATUSES,
    Alert,
    Incident,
    IncidentStatus,
    Pap,
    Severity,
    SourceKind,
    Tlp,
)


class CommaChoices(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """?severity=high,critical"""


def named_statuses(
    value: str, *, open_statuses: Iterable, known: Iterable[str], refusal: Callable[[str], str]
) -> list[str]:
    """The statuses a ?status=a,b,open parameter names: 'open' stands for the open statuses; an
    unknown one is a 400 whose message refusal(part) words (each list says it its own way)."""
    wanted = set()
    for part in value.split(","):
        part = part.strip()
        if part == "open":
            wanted |= {status.value for status in open_statuses}
        elif part in known:
            wanted.add(part)
        elif part:
            raise ValidationError({"status": refusal(part)})
    return sorted(wanted)


class AlertFilter(django_filters.FilterSet):
    tenant = django_filters.CharFilter(field_name="tenant__slug")
    severity = CommaChoices(choices=Severity.choices)
    status = django_filters.ChoiceFilter(choices=Alert.Status.choices)
    source = django_filters.UUIDFilter(field_name="source_id")
    source_kind = django_filters.ChoiceFilter(field_name="source__kind", choices=SourceKind.choices)
    incident = django_filters.UUIDFilter(field_name="incident_id")
    since = UTCDateTimeFilter(field_name="received_at", lookup_expr="gte")
    until = UTCDateTimeFilter(field_name="received_at", lookup_expr="lt")
    q = django_filters.CharFilter(
        method="text", max_length=200, help_text="Text in the title or rule."
    )

    class Meta:
        model = Alert
        fields: list[str] = []

    def text(self, queryset, name, value):
        return queryset.filter(Q(title__icontains=value) | Q(rule_name__icontains=value))


class IncidentFilter(django_filters.FilterSet):
    tenant = django_filters.CharFilter(field_name="tenant__slug")
    status = django_filters.CharFilter(
        method="statuses", help_text="Comma-separated statuses, or 'open'."
    )
    severity = CommaChoices(choices=Severity.choices)
    source_kind = django_filters.ChoiceFilter(field_name="source__kind", choices=SourceKind.choices)
    owner = django_filters.CharFilter(
        method="owned_by", max_length=150, help_text="A username, 'me' or 'none'."
    )
    since = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")
    q = django_filters.CharFilter(field_name="title", lookup_expr="icontains", max_length=200)
    tlp = CommaChoices(choices=Tlp.choices, help_text="Comma-separated TLP levels.")
    pap = CommaChoices(choices=Pap.choices, help_text="Comma-separated PAP levels.")

    class Meta:
        model = Incident
        fields: list[str] = []

    def statuses(self, queryset, name, value):
        wanted = named_statuses(
            value,
            open_statuses=OPEN_STATUSES,
            known=IncidentStatus.values,
            refusal=lambda part: f"'{part}' is not a status.",
        )
        return queryset.filter(status__in=wanted)

    def owned_by(self, queryset, name, value):
        if value == "none":
            return queryset.filter(owner__isnull=True, owner_team__isnull=True)
        if value == "me":
            return queryset.filter(owner_id=self.request.user.pk)
        return queryset.filter(owner__username=value)
