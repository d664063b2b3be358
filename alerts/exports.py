"""The incident export (issue 14): the incident list as a CSV or JSON file, from the incidents
and queue pages (`/incidents/export/`) and the API (`/api/v1/incidents/export/`), through one
action (alerts.actions.EXPORT_INCIDENTS): the same filters as the lists, the same rules.

- Rows: the incidents the caller's lists show (their tenants, alerts.selectors.get_incidents),
  narrowed to what a file may carry (alerts.tlp.files_may_carry: never RED nor AMBER+STRICT,
  for MSSP staff too), filtered and ordered as the list is (IncidentFilter, `?cf.<key>=`,
  `?ordering=[-]cf.<key>`, else the urgency order); the answer counts those the reader sees
  but the file leaves in the portal (X-Export-Withheld). `?tenant=<slug>` must name one of the
  caller's tenants: anything else is a 404, exactly like a tenant that does not exist.
- Columns: the incident's own (STANDARD), the SLA state a higher app adds
  (alerts.extensions.register_export_columns), then one `cf.<key>` column per custom field the
  caller sees on the exported tenants (cases.CustomField: a customer never gets an internal
  one, neither its column nor its values; archived fields keep their column, their stored
  values stay readable). JSON carries the same fields, custom ones under `custom_fields`.
- At most INCIDENT_EXPORT_MAX_ROWS: a larger export is refused (400 naming the count) before
  anything is written, never cut short silently. The rows are read INCIDENT_EXPORT_CHUNK at a
  time (a server-side cursor on PostgreSQL) and sent as they are encoded: memory stays flat
  and the queries grow with the chunks, never with the rows.
- CSV: UTF-8 with a byte-order mark (spreadsheets read non-Latin titles right), CRLF, a header
  row; a text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) is
  prefixed with `'` (OWASP CSV injection), as the reports' CSV does.
- Every export writes `incident.exported` audit entries (one in each exported tenant's log,
  with its row count, the format and the filters; an internal field's filter is left out of
  them) before the first byte goes out. A session needs a recent second factor (step-up)."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import ValidationError as ApiValidationError

from tenants import audit, rls
from tenants.access import Access
from tenants.actions import Invalid, Refused
from tenants.models import AuditEvent, Tenant, User

from . import custom_fields as custom_field_lists
from . import extensions, selectors, tlp
from .api.filters import IncidentFilter
from .models import NO_DEADLINE, Incident, Origin

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
# The incident's own columns, in the file's order (the API's field names where it has them).
STANDARD = (
    "id",
    "title",
    "tenant",
    "status",
    "resolution",
    "severity",
    "category",
    "origin",
    "customer_raised",
    "source_kind",
    "tlp",
    "pap",
    "owner",
    "owner_team",
    "opened_by",
    "alert_count",
    "created_at",
    "first_seen",
    "last_seen",
    "acknowledged_at",
    "contained_at",
    "resolved_at",
    "closed_at",
    "respond_by",
)
FIELD_PREFIX = "cf."
SLUG_RE = re.compile(r"[-a-zA-Z0-9_]{1,100}")
# Parameters that are no filter: the page's paging and live refresh, the format itself.
NOT_FILTERS = frozenset({"format", "cursor", "page_size", "fragment", "field", "field_value"})
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NO_INCIDENTS = "You see no incidents to export."
NO_TENANT = "No such tenant."


class IncidentExportSerializer(serializers.Serializer):
    """The export's own input; every other parameter is one of the incident list's filters."""

    format = serializers.ChoiceField(
        choices=sorted(FORMATS),
        default="csv",
        help_text="csv (the default) or json.",
        error_messages={"invalid_choice": "Export as csv or json, not '{input}'."},
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value: dict[str, Any] = super().to_internal_value(data)
        value["params"] = data  # the list's filters, read by the export itself
        return value


class ExportedIncidentSerializer(serializers.Serializer):
    """One incident of a JSON export (the schema's description; the rows are written by
    `_record`). A CSV export has the same columns, custom fields as `cf.<key>`."""

    id = serializers.UUIDField()
    title = serializers.CharField()
    tenant = serializers.CharField(help_text="The tenant's slug.")
    status = serializers.CharField()
    resolution = serializers.CharField(allow_blank=True)
    severity = serializers.CharField()
    category = serializers.CharField(allow_blank=True)
    origin = serializers.CharField()
    customer_raised = serializers.BooleanField()
    source_kind = serializers.CharField(allow_null=True)
    tlp = serializers.CharField()
    pap = serializers.CharField()
    owner = serializers.CharField(allow_null=True)
    owner_team = serializers.CharField(allow_null=True)
    opened_by = serializers.CharField(allow_null=True)
    alert_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    contained_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    respond_by = serializers.DateTimeField(allow_null=True)
    sla_state = serializers.CharField(
        allow_blank=True,
        help_text="The MSSP's clocks: breached, at_risk, running, paused, met, or empty.",
    )
    sla_next_due = serializers.DateTimeField(allow_null=True)
    custom_fields = serializers.DictField(
        help_text="Custom field values by key, those the caller may see."
    )


@dataclass
class Export:
    """What the action decided: the rows, the columns, the file; `response()` sends it."""

    access: Access
    format: str
    queryset: QuerySet[Any]
    fields: list[Any]  # the custom field definitions whose columns the file has, in order
    rows: int
    filename: str
    withheld: int = 0  # rows of the list a file may not carry (TLP), left in the portal
    extra: list[extensions.ExportColumns] = field(default_factory=list)

    @property
    def field_keys(self) -> list[str]:
        return list(dict.fromkeys(f.key for f in self.fields))

    @property
    def header(self) -> list[str]:
        extra = [name for columns in self.extra for name in columns.columns]
        return [*STANDARD, *extra, *(FIELD_PREFIX + key for key in self.field_keys)]


# --- the action --------------------------------------------------------------------------------


def check_export(access: Access, _target: Any) -> None:
    if not access.tenant_ids:
        raise Refused(NO_INCIDENTS)


def export_plan(
    _target: None,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    format: str,
    params: Mapping[str, Any],
) -> Export:
    """The export this caller asked for, audited; refused (400) above the row cap."""
    params = _list_params(params)
    tenant = _tenant(access, params)
    listed, ordered = _rows(access, params, request)
    # One count of the list's rows by tenant and level: those a file carries, and those it
    # leaves in the portal (the reader sees them there; the file says how many, not which).
    carried = set(tlp.files_may_carry(access))
    per_tenant: dict[int, int] = {}
    withheld = 0
    for row in listed.order_by().values("tenant_id", "tlp").annotate(n=Count("id")):
        if row["tlp"] in carried:
            per_tenant[row["tenant_id"]] = per_tenant.get(row["tenant_id"], 0) + row["n"]
        else:
            withheld += row["n"]
    total = sum(per_tenant.values())
    cap = settings.INCIDENT_EXPORT_MAX_ROWS
    if total > cap:
        raise Invalid(
            f"This export would hold {total:,} incidents, more than the {cap:,} an export may "
            "hold: narrow it (a tenant, a status, a time range with since and until)."
        )
    # Columns for the fields of the tenant asked for, else of the tenants the rows are of.
    scope = {tenant.pk} if tenant is not None else (set(per_tenant) or set(access.tenant_ids))
    defined = _definitions(access, scope)
    _audit(access, actor, request, format, params, defined, per_tenant, tenant)
    return Export(
        access=access,
        format=format,
        queryset=ordered,
        fields=defined,
        rows=total,
        withheld=withheld,
        filename=_filename(access, tenant, format),
        extra=extensions.export_columns(),
    )


def _list_params(raw: Mapping[str, Any]) -> dict[str, str]:
    """The list's parameters as one value each; the page's *Field … is …* boxes read as the
    `cf.<key>=` filter they stand for (alerts.views.incidents)."""
    getter = getattr(raw, "get", None)
    params = {str(k): str(getter(k) if getter else raw[k]) for k in raw if isinstance(k, str)}
    key, value = params.get("field", ""), params.get("field_value", "")
    if key and value and not params.get(f"{FIELD_PREFIX}{key}"):
        params[f"{FIELD_PREFIX}{key}"] = value
    return params


def _tenant(access: Access, params: Mapping[str, str]) -> Tenant | None:
    slug = params.get("tenant", "")
    if not slug:
        return None
    tenant = None
    if SLUG_RE.fullmatch(slug):  # a NUL or stray character is no slug of anyone's
        tenant = Tenant.objects.filter(slug=slug, pk__in=sorted(access.tenant_ids)).first()
    if tenant is None:
        raise Invalid(NO_TENANT, status_code=404)
    return tenant


def _rows(
    access: Access, params: dict[str, str], request: HttpRequest | None
) -> tuple[QuerySet[Any], QuerySet[Any]]:
    """The list's rows, filtered as the list is (what the reader sees in the portal); and
    those a file may carry, ordered as the list is, with what each row shows."""
    queryset = selectors.get_incidents(access)
    try:
        filtered = IncidentFilter(params, queryset=queryset, request=request)
        if not filtered.is_valid():
            raise Invalid(dict(filtered.errors))
        user = getattr(request, "user", None)
        queryset = selectors.pin_list_filters(params, user, filtered.qs)
        queryset = custom_field_lists.filter_incidents(params, queryset, access)
        wanted = custom_field_lists.ordering(params, access)
        ordered = queryset.filter(tlp__in=tlp.files_may_carry(access))
        ordering: tuple[str, ...] = selectors.URGENCY
        if wanted is not None:
            ordered, ordering = custom_field_lists.order_incidents(ordered, *wanted, access)
    except ApiValidationError as exc:
        raise Invalid(exc.detail) from None  # type: ignore[arg-type]
    ordered = ordered.select_related("tenant", "owner", "owner_team", "source", "opened_by")
    return queryset, ordered.order_by(*ordering)


def _definitions(access: Access, tenant_ids: set[int]) -> list[Any]:
    """The caller's view of these tenants' custom fields (cases.custom_fields.definitions_for:
    a customer's leaves internal ones out), archived ones included, in their order."""
    provider = extensions.custom_fields()
    if provider is None:
        return []
    defined = provider.definitions_for(tenant_ids & access.tenant_ids, staff=access.is_mssp_staff)
    fields = [f for tenant_fields in defined.values() for f in tenant_fields]
    return sorted(fields, key=lambda f: (f.position, f.label.lower(), f.key))


def _audit(
    access: Access,
    actor: User,
    request: HttpRequest | None,
    format: str,
    params: Mapping[str, str],
    fields: list[Any],
    per_tenant: dict[int, int],
    tenant: Tenant | None,
) -> None:
    """One `incident.exported` entry in each exported tenant's log (its own row count: a
    customer's admins never read of another customer's), sharing an export id; an export of
    nothing is written where it was asked (the tenant named, the customer's own, else the
    MSSP's log). A tenant's entry names only the custom fields its admins see (an internal
    field's filter is left out, as its audit entries never name it)."""
    shown: dict[int, set[str]] = {}
    for definition in fields:
        if definition.customer_visible:
            shown.setdefault(definition.tenant_id, set()).add(definition.key)

    def filters_for(tenant_id: int | None) -> dict[str, str]:
        keys = shown.get(tenant_id or 0, set())

        def named(key: str) -> bool:
            return tenant_id is None or key in keys

        return {
            name: value[:200]
            for name, value in sorted(params.items())
            if name not in NOT_FILTERS
            and not (name.startswith(FIELD_PREFIX) and not named(name[len(FIELD_PREFIX) :]))
            and not (
                name == "ordering"
                and value.lstrip("-").startswith(FIELD_PREFIX)
                and not named(value.lstrip("-")[len(FIELD_PREFIX) :])
            )
        }

    export_id = str(uuid.uuid4())
    where: dict[int | None, int] = dict(per_tenant)
    if not where:
        where = {tenant.pk if tenant else access.customer_tenant_id: 0}
    label = format.upper()
    entries = [
        audit.entry(
            "incident.exported",
            actor=actor,
            tenant=tenant_id,
            summary=f"Exported {rows} incident{'' if rows == 1 else 's'} as {label}",
            data={
                "format": format,
                "rows": rows,
                "filters": filters_for(tenant_id),
                "export": export_id,
            },
            request=request,
        )
        for tenant_id, rows in sorted(where.items(), key=lambda item: item[0] or 0)
    ]
    AuditEvent.objects.bulk_create(entries)


def _filename(access: Access, tenant: Tenant | None, format: str) -> str:
    """incidents-<tenant slug>-<UTC date>.<format>: the tenant asked for, the customer's own,
    or the caller's only one; "all-tenants" for MSSP staff across several."""
    if tenant is None and len(access.tenant_ids) == 1:
        tenant = Tenant.objects.filter(pk__in=sorted(access.tenant_ids)).first()
    slug = tenant.slug if tenant is not None else "all-tenants"
    slug = re.sub(r"[^a-z0-9-]+", "-", slug.lower()).strip("-")[:60] or "tenant"
    return f"incidents-{slug}-{timezone.now():%Y-%m-%d}.{format}"


# --- the file ----------------------------------------------------------------------------------

_ENCODER = DjangoJSONEncoder()


def _plain(value: Any) -> Any:
    """A value as JSON carries it: times in ISO 8601 (UTC), ids as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return _ENCODER.default(value)


def _record(incident: Incident, extra: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    owner, team, source = incident.owner, incident.owner_team, incident.source
    opened_by = incident.opened_by
    row = {
        "id": incident.pk,
        "title": incident.title,
        "tenant": incident.tenant.slug,
        "status": incident.status,
        "resolution": incident.resolution,
        "severity": incident.severity,
        "category": incident.category,
        "origin": incident.origin,
        "customer_raised": incident.origin == Origin.CUSTOMER,
        "source_kind": source.kind if source is not None else None,
        "tlp": incident.tlp,
        "pap": incident.pap,
        "owner": owner.username if owner is not None else None,
        "owner_team": team.name if team is not None else None,
        "opened_by": opened_by.username if opened_by is not None else None,
        "alert_count": incident.alert_count,
        "created_at": incident.created_at,
        "first_seen": incident.first_seen,
        "last_seen": incident.last_seen,
        "acknowledged_at": incident.acknowledged_at,
        "contained_at": incident.contained_at,
        "resolved_at": incident.resolved_at,
        "closed_at": incident.closed_at,
        "respond_by": None if incident.respond_by == NO_DEADLINE else incident.respond_by,
        **extra,
    }
    return {**{k: _plain(v) for k, v in row.items()}, "custom_fields": values}


def cell(value: Any) -> Any:
    """Spreadsheet-safe: text that a spreadsheet would run as a formula is prefixed with '."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    if isinstance(value, list | dict):
        return cell(json.dumps(value, ensure_ascii=False))
    return value


def _chunks(plan: Export) -> Iterator[list[dict[str, Any]]]:
    """The rows as records, a chunk at a time, inside the caller's tenant context (the
    request's transaction has ended when a streamed body is read)."""
    size = max(1, settings.INCIDENT_EXPORT_CHUNK)
    provider = extensions.custom_fields()
    by_tenant: dict[int, list[Any]] = {}
    for definition in plan.fields:
        by_tenant.setdefault(definition.tenant_id, []).append(definition)
    with rls.access_scope(plan.access):
        rows = plan.queryset.iterator(chunk_size=size)
        while chunk := list(islice(rows, size)):
            extra: dict[Any, dict[str, Any]] = {i.pk: {} for i in chunk}
            for columns in plan.extra:
                for pk, values in columns.values(chunk).items():
                    extra.setdefault(pk, {}).update(values)
            records = []
            for incident in chunk:
                fields = by_tenant.get(incident.tenant_id, [])
                values = (
                    provider.visible_values(fields, incident.custom_fields or {})
                    if provider is not None
                    else {}
                )
                records.append(_record(incident, extra[incident.pk], values))
            yield records


def csv_body(plan: Export) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    keys = plan.field_keys
    own = plan.header[: len(plan.header) - len(keys)]
    writer.writerow(plan.header)
    yield codecs.BOM_UTF8 + out.getvalue().encode("utf-8")
    for records in _chunks(plan):
        out.seek(0)
        out.truncate()
        for record in records:
            values = record["custom_fields"]
            writer.writerow(
                [cell(record.get(name)) for name in own] + [cell(values.get(key)) for key in keys]
            )
        yield out.getvalue().encode("utf-8")


def json_body(plan: Export) -> Iterator[bytes]:
    """A JSON array of incidents, written a chunk at a time."""
    first = True
    yield b"["
    for records in _chunks(plan):
        text = ",".join(
            json.dumps(record, ensure_ascii=False, default=_plain) for record in records
        )
        yield ("" if first else ",").encode() + text.encode("utf-8")
        first = False
    yield b"]"


async def _async_body(body: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Under ASGI (daphne) a synchronous body would be read whole before it is sent: each
    chunk is read in the request's thread instead (its database connection), one at a time."""
    step = sync_to_async(next, thread_sensitive=True)
    try:
        while (chunk := await step(body, None)) is not None:
            yield chunk
    finally:
        await sync_to_async(body.close, thread_sensitive=True)()  # type: ignore[attr-defined]


def response(plan: Export, request: HttpRequest) -> StreamingHttpResponse:
    """The file as a download: streamed, never shown inline, never cached."""
    body = csv_body(plan) if plan.format == "csv" else json_body(plan)
    content: Any = _async_body(body) if isinstance(request, ASGIRequest) else body
    answer = StreamingHttpResponse(content, content_type=FORMATS[plan.format])
    answer["Content-Disposition"] = f'attachment; filename="{plan.filename}"'
    answer["X-Content-Type-Options"] = "nosniff"
    answer["Cache-Control"] = "no-store"
    answer["X-Export-Rows"] = str(plan.rows)
    answer["X-Export-Withheld"] = str(plan.withheld)
    return answer
