"""The figures of one tenant's report, computed once: volumes, SLA, escalations, detections.

Everything is read inside the caller's tenant scope and returned as plain JSON (DRF's
encoding, so that a datetime reads exactly as the API writes it). The SLA part is
`sla.selectors`' own summary and trend, so a report's SLA figures are the summary API's for
the same tenant and period.

Reports are the customer's document: MSSP-internal things (notices to MSSP tiers, internal
comments) are never counted in them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Case, CharField, Count, F, Max, Min, When
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from alerts import tlp
from alerts.models import (
    OPEN_STATUSES,
    SEVERITY_RANK,
    Alert,
    Incident,
    IncidentStatus,
    Resolution,
    Severity,
)
from cases.custom_fields import definitions_for
from findings.selectors import get_remediation_summary
from sla.models import Escalation, SlaClock
from sla.selectors import get_sla_summary, get_sla_trend
from tenants.models import Tenant

FIGURES_VERSION = 2  # 2: remediation progress of the findings
TOP_DETECTIONS = 10
TOP_LABELS = 15
SEVERITIES = [s.value for s in reversed(Severity)]  # critical first
# Escalation outcomes a customer sees (MSSP-internal tier notices are left out).
REPORTED_DIRECTIONS = (
    Escalation.Direction.TO_CUSTOMER,
    Escalation.Direction.TO_MSSP,
    Escalation.Direction.TO_NOC,
)

Progress = Callable[[int, str], None]


def as_json(value):
    """Plain JSON types, written the way the API writes them (datetimes as ISO 8601, Z)."""
    return json.loads(json.dumps(value, cls=JSONEncoder))


def period_label(tenant: Tenant, start: datetime, end: datetime) -> str:
    """'1 Nov 2026 – 30 Nov 2026' in the tenant's time zone (the end is exclusive)."""
    zone = ZoneInfo(tenant.timezone or "UTC")
    first = timezone.localtime(start, zone)
    last = timezone.localtime(end - timedelta(microseconds=1), zone)
    if first.date() == last.date():
        return f"{first:%-d %b %Y}"
    return f"{first:%-d %b %Y} – {last:%-d %b %Y}"


def _counts(queryset, field: str) -> dict[str, int]:
    rows = queryset.order_by().values_list(field).annotate(n=Count("id"))
    return {key or "": n for key, n in rows}


def _ranked(counts: dict[str, int], limit: int = TOP_LABELS) -> list[list]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [[label, n] for label, n in ordered[:limit]]


def get_alert_figures(tenant_ids, start: datetime, end: datetime) -> dict:
    alerts = Alert.objects.for_tenants(tenant_ids).filter(
        received_at__gte=start, received_at__lt=end
    )
    by_severity = _counts(alerts, "severity")
    sources = (
        alerts.order_by()
        .values("source__name", "source__kind")
        .annotate(n=Count("id"))
        .order_by("-n", "source__name")[:TOP_LABELS]
    )
    return {
        "total": sum(by_severity.values()),
        "suppressed": alerts.filter(suppressed_by__isnull=False).count(),
        "by_severity": {s: by_severity.get(s, 0) for s in SEVERITIES},
        "by_source": [
            {"name": row["source__name"], "kind": row["source__kind"], "count": row["n"]}
            for row in sources
        ],
        "by_category": [
            {"category": label, "count": n} for label, n in _ranked(_counts(alerts, "category"))
        ],
    }


def get_incident_figures(tenant_ids, start: datetime, end: datetime) -> dict:
    # The customer's report counts the incidents it may know of (alerts.tlp.REPORTED): never
    # a RED one, nor an AMBER+STRICT one (a report leaves the portal).
    incidents = Incident.objects.for_tenants(tenant_ids).filter(
        created_at__gte=start, created_at__lt=end, tlp__in=sorted(tlp.REPORTED)
    )
    by_severity = _counts(incidents, "severity")
    by_status = _counts(incidents, "status")
    by_resolution = _counts(incidents.exclude(resolution=""), "resolution")
    return {
        "total": sum(by_severity.values()),
        "open": sum(by_status.get(s.value, 0) for s in OPEN_STATUSES),
        "merged": incidents.filter(merged_into__isnull=False).count(),
        "by_severity": {s: by_severity.get(s, 0) for s in SEVERITIES},
        "by_category": [
            {"category": label, "count": n} for label, n in _ranked(_counts(incidents, "category"))
        ],
        "by_status": {s.value: by_status.get(s.value, 0) for s in IncidentStatus},
        "by_resolution": {r.value: by_resolution.get(r.value, 0) for r in Resolution},
        "by_field": _by_field(tenant_ids, incidents),
    }


def _by_field(tenant_ids, incidents) -> list[dict]:
    """The period's incidents counted by each customer-visible choice field (cases.CustomField:
    "Business impact"), in the field's order of choices; the MSSP's internal fields are never
    read. One query a field."""
    found = []
    for fields in definitions_for(tenant_ids, staff=False).values():
        for field in fields:
            if field.type != "choice" or field.is_archived:
                continue
            counts = dict(
                incidents.filter(**{f"custom_fields__{field.key}__isnull": False})
                .order_by()
                .values_list(KeyTextTransform(field.key, "custom_fields"))
                .annotate(n=Count("id"))
            )
            found.append(
                {
                    "key": field.key,
                    "label": field.label,
                    "counts": [
                        {"value": value, "count": counts.get(value, 0)} for value in field.choices
                    ],
                }
            )
    return found


def get_sla_figures(tenant_ids, start: datetime, end: datetime) -> dict:
    """The summary and trend of the MSSP's clocks (exactly /api/v1/sla/summary/'s figures) and,
    for hybrid tenants with accepted hand-offs, the customer's own clocks beside them (never
    blended)."""
    customer = get_sla_summary(tenant_ids, start, end, owner=SlaClock.Owner.CUSTOMER)
    has_customer_clocks = any(t["clocks"] for t in customer["targets"].values())
    return {
        "summary": get_sla_summary(tenant_ids, start, end),
        "trend": get_sla_trend(tenant_ids, start, end),
        "customer": customer if has_customer_clocks else None,
    }


def get_escalation_figures(tenant_ids, start: datetime, end: datetime) -> dict:
    escalations = Escalation.objects.for_tenants(tenant_ids).filter(
        requested_at__gte=start, requested_at__lt=end, direction__in=REPORTED_DIRECTIONS
    )
    rows = escalations.order_by().values_list("direction", "status").annotate(n=Count("id"))
    table: dict[str, dict[str, int]] = {}
    for direction, status, n in rows:
        table.setdefault(direction, {})[status] = n
    # Answer times of hand-offs: few rows per tenant and period, summed here so that the
    # arithmetic is the same on PostgreSQL and SQLite.
    answered = escalations.filter(responded_at__isnull=False).values_list(
        "direction", "requested_at", "responded_at"
    )
    waits: dict[str, list[float]] = {}
    for direction, requested, responded in answered:
        waits.setdefault(direction, []).append((responded - requested).total_seconds())
    statuses = [s.value for s in Escalation.Status]
    by_direction = []
    for direction in REPORTED_DIRECTIONS:
        cells = table.get(direction, {})
        answered_waits = waits.get(direction, [])
        by_direction.append(
            {
                "direction": direction.value,
                "label": direction.label,
                "total": sum(cells.values()),
                **{status: cells.get(status, 0) for status in statuses},
                "mean_answer_seconds": (
                    sum(answered_waits) / len(answered_waits) if answered_waits else None
                ),
            }
        )
    outcomes = {s: sum(row[s] for row in by_direction) for s in statuses}
    return {
        "total": sum(outcomes.values()),
        "outcomes": outcomes,
        "by_direction": by_direction,
    }


def get_top_detections(tenant_ids, start: datetime, end: datetime) -> list[dict]:
    """The detections that fired most: alerts grouped by rule name (the title when the source
    named no rule)."""
    detection = Case(
        When(rule_name="", then=F("title")), default=F("rule_name"), output_field=CharField()
    )
    rows = (
        Alert.objects.for_tenants(tenant_ids)
        .filter(received_at__gte=start, received_at__lt=end)
        .order_by()
        .annotate(detection=detection)
        .values("detection")
        .annotate(
            alerts=Count("id"),
            incidents=Count("incident", distinct=True),
            severity_rank=Max("severity_rank"),
            rule_id=Max("rule_id"),
            first_seen=Min("received_at"),
            last_seen=Max("received_at"),
        )
        .order_by("-alerts", "detection")[:TOP_DETECTIONS]
    )
    names = {rank: severity for severity, rank in SEVERITY_RANK.items()}
    return [
        {
            "detection": row["detection"],
            "rule_id": row["rule_id"] or "",
            "alerts": row["alerts"],
            "incidents": row["incidents"],
            "severity": names.get(row["severity_rank"], ""),
            "first_seen": row["first_seen"],
            "last_seen": row["last_seen"],
        }
        for row in rows
    ]


def compute_figures(
    tenant: Tenant,
    start: datetime,
    end: datetime,
    progress: Progress | None = None,
    scope: Callable[[], AbstractContextManager] = nullcontext,
) -> dict:
    """Every figure of the report. Each part is read inside its own `scope()` (generation
    passes the tenant's scope, one short transaction a part), and `progress(percent, step)`
    is called between parts, outside them, so that it can commit."""
    step = progress or (lambda percent, text: None)
    ids = [tenant.pk]
    parts = [
        (10, "Counting alerts", get_alert_figures),
        (25, "Counting incidents", get_incident_figures),
        (40, "Computing SLA compliance", get_sla_figures),
        (55, "Counting escalations", get_escalation_figures),
        (65, "Ranking detections", get_top_detections),
        (72, "Summing up remediation", get_remediation_summary),
    ]
    results = []
    for percent_done, text, part in parts:
        step(percent_done, text)
        with scope():
            results.append(part(ids, start, end))
    alerts, incidents, sla, escalations, detections, remediation = results
    summary = sla["summary"]
    return as_json(
        {
            "version": FIGURES_VERSION,
            "tenant": {
                "slug": tenant.slug,
                "name": tenant.name,
                "timezone": tenant.timezone,
                "service_model": tenant.service_model,
            },
            "period": {"from": start, "to": end, "label": period_label(tenant, start, end)},
            "generated_at": timezone.now(),
            "headline": {
                "alerts": alerts["total"],
                "incidents": incidents["total"],
                "mtta_seconds": summary["mtta_seconds"],
                "mttc_seconds": summary["mttc_seconds"],
                "mttr_seconds": summary["mttr_seconds"],
                "compliance": _overall_compliance(summary),
                "escalations": escalations["total"],
            },
            "alerts": alerts,
            "incidents": incidents,
            "sla": sla,
            "escalations": escalations,
            "top_detections": detections,
            "remediation": remediation,
        }
    )


def _overall_compliance(summary: dict) -> float | None:
    """The share of all decided clocks (every target) met."""
    met = sum(t["met"] for t in summary["targets"].values())
    decided = met + sum(t["breached"] for t in summary["targets"].values())
    return round(met / decided, 4) if decided else None
