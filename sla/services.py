"""SLA clocks: started when an incident opens, met by the workflow, paused while waiting for
the customer, and fired (at risk, breached) exactly once by the sweeper."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from alerts.models import NO_DEADLINE, Incident, IncidentEvent, IncidentStatus, Visibility
from tenants import audit, events
from tenants.models import AuditEvent, Tenant
from tenants.rls import rls_bypass

from . import bulk, notify
from .models import ClockState, Coverage, SlaClock, SlaPolicy, Target

logger = logging.getLogger("mssp.sla")

LIVE = (ClockState.RUNNING, ClockState.AT_RISK)
# Which workflow status meets which targets (reaching a later status meets earlier ones).
MEETS = {
    IncidentStatus.ACKNOWLEDGED: {Target.ACKNOWLEDGE},
    IncidentStatus.INVESTIGATING: {Target.ACKNOWLEDGE},
    IncidentStatus.CONTAINED: {Target.ACKNOWLEDGE, Target.CONTAIN},
    IncidentStatus.RESOLVED: {Target.ACKNOWLEDGE, Target.CONTAIN, Target.RESOLVE},
    IncidentStatus.CLOSED: {Target.ACKNOWLEDGE, Target.CONTAIN, Target.RESOLVE},
}


def calendar_for(tenant: Tenant, coverage: str):
    from .calendar import Calendar

    if coverage == Coverage.ALWAYS:
        return Calendar.always()
    return Calendar.from_tenant_fields(tenant.timezone, tenant.business_hours, tenant.holidays)


def effective_policies(tenant_id: int) -> dict[str, SlaPolicy]:
    """severity -> the tenant's own policy, or the MSSP default."""
    rows = SlaPolicy.objects.dangerously_unscoped("default template and this tenant's").filter(
        Q(tenant__isnull=True) | Q(tenant_id=tenant_id)
    )
    found: dict[str, SlaPolicy] = {}
    for policy in sorted(rows, key=lambda p: p.tenant_id is not None):
        found[policy.severity] = policy  # tenant rows come last and override
    return found


def _deadlines(clock: SlaClock, calendar, now: datetime) -> None:
    remaining = clock.target_minutes * 60 - clock.consumed_seconds
    start = clock.resumed_at
    clock.due_at = calendar.add(start, timedelta(seconds=max(remaining, 0)))
    risk_total = clock.target_minutes * 60 * clock.at_risk_percent / 100
    risk_remaining = risk_total - clock.consumed_seconds
    clock.at_risk_at = (
        calendar.add(start, timedelta(seconds=risk_remaining)) if risk_remaining > 0 else None
    )


def start_clocks(tenant_id: int, incident_ids: list, at: datetime, details=None) -> int:
    policies = effective_policies(tenant_id)
    if not policies:
        return 0
    if details and all(i in details for i in incident_ids):
        severities = [(i, details[i]["severity"]) for i in incident_ids]
    else:
        severities = list(
            Incident.objects.for_tenant(tenant_id)
            .filter(pk__in=incident_ids)
            .values_list("pk", "severity")
        )
    clocks = []
    calendars: dict = {}
    tenant = None
    for incident_id, severity in severities:
        policy = policies.get(severity)
        if policy is None:
            continue
        if policy.coverage not in calendars:
            if policy.coverage != Coverage.ALWAYS and tenant is None:
                tenant = Tenant.objects.get(pk=tenant_id)
            calendars[policy.coverage] = calendar_for(tenant, policy.coverage)
        calendar = calendars[policy.coverage]
        for target in Target.values:
            minutes = policy.minutes_for(target)
            if minutes is None:
                continue
            clock = SlaClock(
                tenant_id=tenant_id,
                incident_id=incident_id,
                target=target,
                coverage=policy.coverage,
                target_minutes=minutes,
                at_risk_percent=policy.at_risk_percent,
                started_at=at,
                resumed_at=at,
            )
            _deadlines(clock, calendar, at)
            clocks.append(clock)
    SlaClock.objects.bulk_create(clocks, ignore_conflicts=True)
    update_respond_by(tenant_id, incident_ids)
    return len(clocks)


def update_respond_by(tenant_id: int, incident_ids) -> None:
    """Write each incident's earliest deadline of its unmet, unpaused MSSP clocks onto it
    (breached ones count: they are the most urgent of all); the queue sorts by it."""
    earliest = (
        SlaClock.objects.for_tenant(tenant_id)
        .filter(
            incident=OuterRef("pk"),
            state__in=[*LIVE, ClockState.BREACHED],
            owner=SlaClock.Owner.MSSP,
            due_at__isnull=False,
        )
        .order_by("due_at")
        .values("due_at")[:1]
    )
    Incident.objects.for_tenant(tenant_id).filter(pk__in=list(incident_ids)).update(
        respond_by=Coalesce(Subquery(earliest), Value(NO_DEADLINE))
    )


def on_incident_changed(incident: Incident, change: str, before, after, at: datetime, **_) -> None:
    _apply_change(incident, change, before, after, at)
    update_respond_by(incident.tenant_id, [incident.pk])


def _apply_change(incident: Incident, change: str, before, after, at: datetime) -> None:
    clocks = SlaClock.objects.for_tenant(incident.tenant_id).filter(incident=incident)
    if change == "customer_notified":
        _meet(incident, clocks.filter(target=Target.NOTIFY), at)
        return
    if change != "status":
        return
    if after == IncidentStatus.AWAITING_CUSTOMER:
        _pause(incident, clocks, at)
    elif before == IncidentStatus.AWAITING_CUSTOMER:
        _resume(incident, clocks, at)
    met = MEETS.get(after, set())
    if met:
        _meet(incident, clocks.filter(target__in=sorted(met)), at)


def _meet(incident: Incident, clocks, at: datetime) -> None:
    """Met: the covered time it took (pauses excluded) is kept for MTTA/MTTC/MTTR."""
    tenant = Tenant.objects.get(pk=incident.tenant_id)
    for clock in clocks.select_for_update().filter(state__in=[*LIVE, ClockState.PAUSED]):
        if clock.state != ClockState.PAUSED:
            calendar = calendar_for(tenant, clock.coverage)
            clock.consumed_seconds += calendar.elapsed(clock.resumed_at, at).total_seconds()
        clock.state, clock.met_at, clock.paused_at = ClockState.MET, at, None
        clock.save(update_fields=["consumed_seconds", "state", "met_at", "paused_at"])


def _pause(incident: Incident, clocks, at: datetime) -> None:
    tenant = Tenant.objects.get(pk=incident.tenant_id)
    for clock in clocks.select_for_update().filter(state__in=LIVE):
        calendar = calendar_for(tenant, clock.coverage)
        clock.consumed_seconds += calendar.elapsed(clock.resumed_at, at).total_seconds()
        clock.state, clock.paused_at = ClockState.PAUSED, at
        clock.due_at = clock.at_risk_at = None
        clock.save(update_fields=["consumed_seconds", "state", "paused_at", "due_at", "at_risk_at"])


def _resume(incident: Incident, clocks, at: datetime) -> None:
    tenant = Tenant.objects.get(pk=incident.tenant_id)
    for clock in clocks.select_for_update().filter(state=ClockState.PAUSED):
        clock.state, clock.paused_at, clock.resumed_at = ClockState.RUNNING, None, at
        if clock.at_risk_fired_at is not None:
            clock.state = ClockState.AT_RISK
        _deadlines(clock, calendar_for(tenant, clock.coverage), at)
        clock.save(update_fields=["state", "paused_at", "resumed_at", "due_at", "at_risk_at"])


# --- the sweeper --------------------------------------------------------------------------------
# Clocks of apps built on this one (findings' remediation clocks) are swept in the same pass
# (sla.tasks.sweep_clocks): the app that owns them registers its sweep at startup, so that this
# app imports none of them. Each takes `now` (None: the current time) and claims its due rows
# as sweep() does (FOR UPDATE SKIP LOCKED, fired-at markers).
_OTHER_SWEEPS: dict[str, Callable[[datetime | None], object]] = {}


def register_sweep(name: str, sweep_function: Callable[[datetime | None], object]) -> None:
    _OTHER_SWEEPS[name] = sweep_function


def sweep_others(now: datetime | None = None) -> dict[str, object]:
    """Run every registered sweep; one that fails is logged and does not stop the others."""
    results: dict[str, object] = {}
    for name, sweep_function in list(_OTHER_SWEEPS.items()):
        try:
            results[name] = sweep_function(now)
        except Exception:
            logger.exception("the %s sweep failed", name)
    return results


SWEEP_BATCH = 500
# One sweep() drains a backlog batch after batch for at most this long; the next beat's sweep
# (on another worker process, SKIP LOCKED) goes on from there.
SWEEP_MAX_SECONDS = 5.0
# What firing reads of a claimed clock.
SWEPT_FIELDS = ("id", "tenant_id", "incident_id", "target", "owner", "state", "due_at")


def sweep(
    now: datetime | None = None, batch: int = SWEEP_BATCH, max_seconds: float = SWEEP_MAX_SECONDS
) -> tuple[int, int]:
    """Fire what has fallen due: at-risk warnings, then breaches. Each clock is claimed with
    FOR UPDATE SKIP LOCKED and marked fired in the same transaction, so two sweepers never
    fire one clock twice and a crashed sweeper's claims go back to the pool. Batches of
    `batch` clocks, a transaction each, until a pass claims less than a full batch of both
    kinds or `max_seconds` have passed; without `now`, each pass fires what is due when it
    starts. Returns (at_risk, breached) fired."""
    started = time.monotonic()
    at_risk = breached = 0
    while True:
        moment = now or timezone.now()
        risks = _sweep_one(
            Q(state=ClockState.RUNNING, at_risk_fired_at__isnull=True, at_risk_at__lte=moment),
            "at_risk_at",
            _fire_at_risks,
            moment,
            batch,
        )
        breaches = _sweep_one(
            Q(state__in=LIVE, breach_fired_at__isnull=True, due_at__lte=moment),
            "due_at",
            _fire_breaches,
            moment,
            batch,
        )
        at_risk, breached = at_risk + risks, breached + breaches
        if (risks < batch and breaches < batch) or time.monotonic() - started >= max_seconds:
            return at_risk, breached


def _sweep_one(condition: Q, order: str, fire, now: datetime, batch: int) -> int:
    with transaction.atomic(), rls_bypass("SLA sweep: due clocks of every tenant"):
        # The clocks alone, their incidents and tenants read after: claimed joined to them,
        # the planner joined and sorted every overdue clock (0.8 to 11 s for 500 of 100,000).
        claim = (
            SlaClock.objects.dangerously_unscoped("SLA sweep")
            .filter(condition)
            .select_for_update(skip_locked=True, of=("self",))
            .only(*SWEPT_FIELDS)
            .order_by(order)[:batch]
        )
        with _walk_the_deadline_index():
            clocks = list(claim)
        if clocks:
            incidents = (
                Incident.objects.dangerously_unscoped("SLA sweep: claimed clocks")
                .only("id", "tenant_id", "title", "severity")
                .in_bulk({clock.incident_id for clock in clocks})
            )
            tenants = Tenant.objects.only("id", "slug", "name").in_bulk(
                {clock.tenant_id for clock in clocks}
            )
            for clock in clocks:
                clock.incident = incidents[clock.incident_id]
                clock.tenant = tenants[clock.tenant_id]
            fire(clocks, now)
        return len(clocks)


@contextmanager
def _walk_the_deadline_index():
    """The claim reads its partial index in deadline order and stops after `batch` clocks.
    Left alone, the planner guesses that the row-level security filter keeps 0.5 % of the
    overdue clocks, expects fewer than a batch, and fetches and sorts all of them instead:
    100 to 230 ms instead of 2 to 16 ms for 500 of 100,000 overdue, a cost that grows with
    the backlog just when the sweep is behind."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off")
        yield  # on an error the transaction rolls back, and SET LOCAL with it
        cursor.execute("RESET enable_bitmapscan; RESET enable_sort")


def _claimed(clocks: list[SlaClock]):
    return SlaClock.objects.dangerously_unscoped("SLA sweep: the clocks it claimed").filter(
        pk__in=[clock.pk for clock in clocks]
    )


def _fire_at_risks(clocks: list[SlaClock], now: datetime) -> None:
    _claimed(clocks).update(state=ClockState.AT_RISK, at_risk_fired_at=now)
    for clock in clocks:
        clock.state, clock.at_risk_fired_at = ClockState.AT_RISK, now
    _announce(
        clocks,
        "sla.at_risk",
        lambda clock: f"SLA {clock.target} at risk: due {clock.due_at:%Y-%m-%d %H:%M} UTC",
    )


def _fire_breaches(clocks: list[SlaClock], now: datetime) -> None:
    _claimed(clocks).update(state=ClockState.BREACHED, breach_fired_at=now, breached_at=F("due_at"))
    for clock in clocks:
        clock.state, clock.breach_fired_at, clock.breached_at = (
            ClockState.BREACHED,
            now,
            clock.due_at,
        )
    _announce(
        clocks,
        "sla.breached",
        lambda clock: f"SLA {clock.target} breached: was due {clock.due_at:%Y-%m-%d %H:%M} UTC",
    )


def _announce(clocks: list[SlaClock], event_type: str, summary_of) -> None:
    """Each firing: a timeline entry, an audit entry, a stream event and its outbox rows;
    each of them written for the whole batch at once."""
    firings = []
    for clock in clocks:
        data = {
            "target": clock.target,
            "due_at": clock.due_at.isoformat() if clock.due_at else None,
            "clock": str(clock.pk),
            "owner": clock.owner,
        }
        firings.append((clock, summary_of(clock), data))
    bulk.insert(
        IncidentEvent,
        [
            IncidentEvent(
                tenant_id=clock.tenant_id,
                incident_id=clock.incident_id,
                kind=event_type.replace(".", "_"),
                summary=summary,
                data=data,
                visibility=Visibility.SHARED,
            )
            for clock, summary, data in firings
        ],
    )
    bulk.insert(
        AuditEvent,
        [
            audit.entry(
                event_type, tenant=clock.tenant_id, obj=clock.incident, summary=summary, data=data
            )
            for clock, summary, data in firings
        ],
    )
    per_tenant: dict[int, tuple[str, list]] = {}
    for clock, _, data in firings:
        per_tenant.setdefault(clock.tenant_id, (clock.tenant.slug, []))[1].append(
            (event_type, str(clock.incident_id), data, events.EVERYONE)
        )
    events.tenants_events(per_tenant)
    notify.queue_for_firings(firings, event_type)
