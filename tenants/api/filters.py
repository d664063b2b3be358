"""Date-time query parameters (`?since=`, `?until=`, `?at__gte=`, `?from=`): ISO 8601, turned
into UTC before any query sees them.

Python accepts a UTC offset up to ±23:59 and PostgreSQL only up to ±15:59, so
`?until=2026-01-17T13:47:11-20:50` reached the database as it came and failed there (a 500);
in UTC it is an ordinary moment. At the ends of the calendar (year 1 with a positive offset,
year 9999 with a negative one) there is no such moment in UTC: a 400 naming the parameter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from ..models import AuditEvent

OUT_OF_RANGE = "This date-time is out of range (years 1 to 9999, in UTC)."


def to_utc(moment: datetime) -> datetime:
    """`moment` in UTC (a naive one is taken as UTC); ValueError beyond the calendar."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(OUT_OF_RANGE) from None


# django-filter ships no type information: its classes are Any to the checker.
class UTCDateTimeField(IsoDateTimeField):  # type: ignore[misc]
    def to_python(self, value: Any) -> datetime | None:
        moment: datetime | None = super().to_python(value)
        if moment is None:
            return None
        try:
            return to_utc(moment)
        except ValueError:
            raise forms.ValidationError(OUT_OF_RANGE, code="invalid") from None


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):  # type: ignore[misc]
    """An ISO 8601 date-time filter whose value reaches the query in UTC."""

    field_class = UTCDateTimeField


class AuditEventFilter(django_filters.FilterSet):  # type: ignore[misc]
    at__gte = UTCDateTimeFilter(field_name="at", lookup_expr="gte")
    at__lt = UTCDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = {"action": ["exact", "startswith"], "actor_name": ["exact"]}
