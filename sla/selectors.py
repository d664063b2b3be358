"""Reads of SLA figures that the API, the pages and the reports share, so that every place a
number is shown computes it the same way (a customer's dashboard equals the API's summary)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncDay, TruncWeek

from .models import ClockState, SlaClock, Target

OPEN_CLOCK_STATES = (ClockState.RUNNING, ClockState.AT_RISK, ClockState.PAUSED)


def _clocks(tenant_ids, start: datetime, end: datetime, severity: str | None, owner: str):
    clocks = SlaClock.objects.for_tenants(tenant_ids).filter(
        started_at__gte=start, started_at__lt=end, owner=owner
    )
    if severity:
        clocks = clocks.filter(incident__severity=severity)
    return clocks


def _per_target(clocks, *group: str):
    """The clocks' aggregates per target (and per `group` columns first): the one definition
    of the figures the summary and the manager's SLA health show."""
    return (
        clocks.values(*group, "target")
        .annotate(
            total=Count("id"),
            met=Count("id", filter=Q(state=ClockState.MET)),
            breached=Count("id", filter=Q(state=ClockState.BREACHED)),
            open=Count("id", filter=Q(state__in=OPEN_CLOCK_STATES)),
            mean_met_seconds=Avg("consumed_seconds", filter=Q(state=ClockState.MET)),
        )
        .order_by(*group, "target")
    )


def _target_figures(row: dict) -> dict:
    decided = row["met"] + row["breached"]
    return {
        "clocks": row["total"],
        "met": row["met"],
        "breached": row["breached"],
        "open": row["open"],
        "compliance": round(row["met"] / decided, 4) if decided else None,
        "mean_seconds_to_met": row["mean_met_seconds"],
    }


def get_sla_summary(
    tenant_ids,
    start: datetime,
    end: datetime,
    *,
    severity: str | None = None,
    owner: str = SlaClock.Owner.MSSP,
) -> dict:
    """MTTA, MTTC and MTTR (mean covered time to the target, paused time excluded) and
    compliance (share of decided clocks met) per target, for clocks of `owner` started in
    [start, end). MSSP-owned and customer-owned clocks are never blended."""
    rows = list(_per_target(_clocks(tenant_ids, start, end, severity, owner)))
    targets = {row["target"]: _target_figures(row) for row in rows}
    means = {row["target"]: row["mean_met_seconds"] for row in rows}
    return {
        "from": start,
        "to": end,
        "owner": owner,
        "targets": targets,
        "mtta_seconds": means.get(Target.ACKNOWLEDGE),
        "mttc_seconds": means.get(Target.CONTAIN),
        "mttr_seconds": means.get(Target.RESOLVE),
    }


def get_sla_targets_by_tenant(
    tenant_ids,
    start: datetime,
    end: datetime,
    *,
    severity: str | None = None,
    owner: str = SlaClock.Owner.MSSP,
) -> dict[int, dict]:
    """{tenant id: the `targets` of get_sla_summary([tenant id], ...)} for many tenants in one
    grouped query (the manager's SLA health lists every tenant)."""
    found: dict[int, dict] = {tenant_id: {} for tenant_id in tenant_ids}
    for row in _per_target(_clocks(tenant_ids, start, end, severity, owner), "tenant_id"):
        found[row["tenant_id"]][row["target"]] = _target_figures(row)
    return found


def get_sla_trend(
    tenant_ids,
    start: datetime,
    end: datetime,
    *,
    severity: str | None = None,
    owner: str = SlaClock.Owner.MSSP,
) -> list[dict]:
    """The summary's figures per day (periods up to 31 days) or per week (longer), oldest
    first, every bucket present (an empty one has None figures): the series behind the trend
    charts of the dashboard and the reports."""
    weekly = end - start > timedelta(days=31)
    # Buckets are days (weeks) in the period's own time zone (the tenant's), as the series is.
    zone = start.tzinfo if isinstance(start.tzinfo, ZoneInfo) else None  # None: UTC
    bucket = TruncWeek("started_at", tzinfo=zone) if weekly else TruncDay("started_at", tzinfo=zone)
    rows = (
        _clocks(tenant_ids, start, end, severity, owner)
        .annotate(bucket=bucket)
        .values("bucket", "target")
        .annotate(
            met=Count("id", filter=Q(state=ClockState.MET)),
            breached=Count("id", filter=Q(state=ClockState.BREACHED)),
            mean_met_seconds=Avg("consumed_seconds", filter=Q(state=ClockState.MET)),
        )
        .order_by("bucket", "target")
    )
    by_bucket: dict = {}
    for row in rows:
        day = row["bucket"].date() if hasattr(row["bucket"], "date") else row["bucket"]
        by_bucket.setdefault(day, {})[row["target"]] = row
    step = timedelta(days=7 if weekly else 1)
    first = start.date() - timedelta(days=start.weekday()) if weekly else start.date()
    series = []
    day = first
    last = (end - timedelta(microseconds=1)).date()
    while day <= last:
        cells = by_bucket.get(day, {})
        met = sum(c["met"] for c in cells.values())
        decided = met + sum(c["breached"] for c in cells.values())

        def mean(target, cells=cells):
            return cells[target]["mean_met_seconds"] if target in cells else None

        series.append(
            {
                "period_start": day,
                "bucket": "week" if weekly else "day",
                "compliance": round(met / decided, 4) if decided else None,
                "decided": decided,
                "mtta_seconds": mean(Target.ACKNOWLEDGE),
                "mttr_seconds": mean(Target.RESOLVE),
            }
        )
        day += step
    return series


def attach_next_clocks(incidents: list) -> None:
    """Each incident's most urgent live SLA clock of the MSSP (the queue's countdown), as
    `incident.next_clock`, read for a page's rows in one query (alerts.extensions hook)."""
    live = (ClockState.RUNNING, ClockState.AT_RISK, ClockState.PAUSED)
    clocks = (
        SlaClock.objects.for_tenants({i.tenant_id for i in incidents})
        .filter(incident__in=incidents, owner=SlaClock.Owner.MSSP, state__in=live)
        .order_by("due_at")
    )
    first: dict = {}
    for clock in clocks:
        first.setdefault(clock.incident_id, clock)
    for incident in incidents:
        incident.next_clock = first.get(incident.pk)


# The incident export's SLA columns (alerts.extensions.register_export_columns): the MSSP's
# clocks summed up as one state, the strictest first, and the due time of its next live one.
EXPORT_COLUMNS = ("sla_state", "sla_next_due")
_STATE_ORDER = (
    ClockState.BREACHED,
    ClockState.AT_RISK,
    ClockState.RUNNING,
    ClockState.PAUSED,
    ClockState.MET,
)


def export_sla_states(incidents: list) -> dict:
    """{incident pk: {"sla_state", "sla_next_due"}} for a chunk of exported incidents, in one
    query: `breached` when any of its MSSP clocks breached, else `at_risk`, `running`,
    `paused`, `met` (all met), "" without clocks."""
    found: dict = {}
    if not incidents:
        return found
    clocks = (
        SlaClock.objects.for_tenants({i.tenant_id for i in incidents})
        .filter(incident__in=[i.pk for i in incidents], owner=SlaClock.Owner.MSSP)
        .values_list("incident_id", "state", "due_at")
    )
    for incident_id, state, due_at in clocks:
        entry = found.setdefault(incident_id, {"states": set(), "due": None})
        entry["states"].add(state)
        live = state in OPEN_CLOCK_STATES and due_at is not None
        if live and (entry["due"] is None or due_at < entry["due"]):
            entry["due"] = due_at
    result = {}
    for incident in incidents:
        entry = found.get(incident.pk)
        if entry is None:
            result[incident.pk] = {"sla_state": "", "sla_next_due": None}
            continue
        state = next((s for s in _STATE_ORDER if s in entry["states"]), "")
        result[incident.pk] = {"sla_state": str(state), "sla_next_due": entry["due"]}
    return result
