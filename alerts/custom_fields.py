"""The incident lists' side of custom fields: filter by a field's value (`?cf.<key>=a,b`) and
sort by a field (`?ordering=cf.<key>` or `-cf.<key>`), for the API and the queue page alike.

The fields themselves (their keys, types and who sees them) are cases', asked through
alerts.extensions.custom_fields(). A customer may neither filter nor sort by the MSSP's
internal fields: such a key reads as unknown, as one that does not exist does, so a filter
cannot probe an internal field's values. The lists are already limited to the caller's
tenants; a key only ever matches values on those tenants' incidents.

Sorting pages by a keyset of its own, (has no value, the value, id), so a cursor seeks as the
urgency order's does; with no index on the value, PostgreSQL sorts the filtered rows for each
page (figures: docs/PERFORMANCE.md, "Queue sorted by a custom field")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.db.models import Case, FloatField, IntegerField, Q, QuerySet, TextField, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError

from tenants.access import Access

from . import extensions

PREFIX = "cf."
KEY_RE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
MAX_FILTERS = 10
MAX_VALUES = 20
SORT_MISSING, SORT_VALUE = "cf_missing", "cf_sort"

# The incident lists' parameters, for the API schema.
LIST_PARAMETERS = [
    OpenApiParameter(
        "ordering",
        str,
        description="cf.<key> or -cf.<key>: by a custom field's value (incidents without one "
        "last), instead of the urgency order.",
    ),
    OpenApiParameter(
        "cf.<key>",
        str,
        description="Incidents whose custom field <key> holds one of these comma-separated "
        "values, e.g. ?cf.business_impact=high,critical (several such filters combine).",
    ),
]


def _fields(access: Access) -> dict[str, list[Any]]:
    """Field key -> the definitions of that key among the caller's tenants that they see."""
    provider = extensions.custom_fields()
    if provider is None:
        return {}
    found: dict[str, list[Any]] = {}
    for fields in provider.definitions_for(access.tenant_ids, staff=access.is_mssp_staff).values():
        for field in fields:
            found.setdefault(field.key, []).append(field)
    return found


def _known_key(name: str, key: str, fields: Mapping[str, list[Any]]) -> str:
    if not KEY_RE.fullmatch(key) or key not in fields:
        raise ValidationError({name: "No such custom field."})
    return key


def _as_number(text: str) -> int | float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return int(number) if number.is_integer() else number


def filter_incidents(
    params: Mapping[str, Any], queryset: QuerySet[Any], access: Access
) -> QuerySet[Any]:
    """`?cf.<key>=v1,v2`: incidents whose field holds one of the values (a number field
    matches 12 and 12.0 alike)."""
    names = [name for name in params if isinstance(name, str) and name.startswith(PREFIX)]
    if not names:
        return queryset
    if len(names) > MAX_FILTERS:
        raise ValidationError({"cf": f"At most {MAX_FILTERS} custom field filters."})
    fields = _fields(access)
    for name in names:
        key = _known_key(name, name[len(PREFIX) :], fields)
        raw = params.get(name)
        raw = raw if isinstance(raw, str) else ""
        values = [part.strip() for part in raw.split(",") if part.strip()]
        if not values or len(values) > MAX_VALUES or len(raw) > 2000:
            raise ValidationError({name: f"One to {MAX_VALUES} values, comma-separated."})
        numeric = any(field.type == "number" for field in fields[key])
        either = Q()
        for value in values:
            either |= Q(**{f"custom_fields__{key}": value})
            number = _as_number(value) if numeric else None
            if number is not None:
                either |= Q(**{f"custom_fields__{key}": number})
        queryset = queryset.filter(either)
    return queryset


def ordering(params: Mapping[str, Any], access: Access) -> tuple[str, bool] | None:
    """(key, descending) when `?ordering=[-]cf.<key>` asks for a field's order."""
    wanted = params.get("ordering")
    if not wanted:
        return None
    if not isinstance(wanted, str):
        raise ValidationError({"ordering": "One field: cf.<key> or -cf.<key>."})
    descending = wanted.startswith("-")
    name = wanted.lstrip("-")
    if not name.startswith(PREFIX):
        raise ValidationError(
            {"ordering": "Order by a custom field (cf.<key> or -cf.<key>); urgency otherwise."}
        )
    key = _known_key("ordering", name[len(PREFIX) :], _fields(access))
    return key, descending


def order_incidents(
    queryset: QuerySet[Any], key: str, descending: bool, access: Access
) -> tuple[QuerySet[Any], tuple[str, ...]]:
    """The queryset annotated with the sort key, and the keyset ordering that pages it:
    incidents without a value last in either direction, then by value (numerically when every
    field of that key is a number field), then by id."""
    fields = _fields(access).get(key, [])
    text = KeyTextTransform(key, "custom_fields")
    if fields and all(field.type == "number" for field in fields):
        value: Any = Coalesce(Cast(text, FloatField()), Value(0.0))
    else:
        value = Coalesce(text, Value(""), output_field=TextField())
    missing = Case(
        When(Q(**{f"custom_fields__{key}__isnull": False}), then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    queryset = queryset.annotate(**{SORT_MISSING: missing, SORT_VALUE: value})
    return queryset, (SORT_MISSING, f"-{SORT_VALUE}" if descending else SORT_VALUE, "id")


def choices(access: Access) -> list[tuple[str, str]]:
    """(key, label) of the fields the caller may filter and sort by, for a list's form (a key
    several customers use shows their labels)."""
    found = []
    for key, fields in _fields(access).items():
        labels = sorted({field.label for field in fields}, key=str.lower)
        found.append((key, " / ".join(labels)))
    return sorted(found, key=lambda item: item[1].lower())


def values_for(incidents: list[Any], access: Access | None) -> dict[Any, dict[str, Any]]:
    """Each incident's field values the caller may see, for a page of incidents: one query for
    the definitions of all their tenants. Without an access (a message, an export of unknown
    audience), the customer-visible ones."""
    provider = extensions.custom_fields()
    if provider is None or not incidents:
        return {incident.pk: {} for incident in incidents}
    staff = access is not None and access.is_mssp_staff
    defined = provider.definitions_for({i.tenant_id for i in incidents}, staff=staff)
    return {
        incident.pk: provider.visible_values(
            defined.get(incident.tenant_id, []), incident.custom_fields or {}
        )
        for incident in incidents
    }
