"""Escalation: policies walked step by step on an incident, hand-offs to the in-house team
and back, and the NOC for availability incidents.

Deadlines are indexed columns (EscalationRun.next_step_at, Escalation.respond_by) claimed by
the once-a-second sweep with FOR UPDATE SKIP LOCKED, like SLA clocks: a step fires once, and
a step left behind by a dead worker is picked up by the next sweep (the auditor records it).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import get_users_with_perms

from alerts.models import Incident, IncidentEvent, IncidentStatus, Visibility
from tenants import audit, events
from tenants.actions import Invalid
from tenants.models import Team, Tenant, User
from tenants.rls import rls_bypass

if TYPE_CHECKING:
    from oncall.models import Schedule

from . import policy, targets
from .models import (
    ClockState,
    Escalation,
    EscalationPolicy,
    EscalationRun,
    SlaClock,
    StepAction,
)

logger = logging.getLogger("mssp.escalation")

AVAILABILITY_CATEGORIES = frozenset({"availability", "ddos", "dos"})
DEFAULT_RESPOND_MINUTES = 30
OVERDUE_GRACE = timedelta(seconds=30)


class EscalationError(Invalid):
    """An escalation change the state does not allow; the message says why (the API's 400)."""


# --- telling ---------------------------------------------------------------------------
def _tell(
    esc: Escalation,
    event_type: str,
    summary: str,
    actor: User | None = None,
    data: dict | None = None,
) -> None:
    internal = esc.direction in (Escalation.Direction.TO_TIER,)
    visibility = Visibility.INTERNAL if internal else Visibility.SHARED
    payload = {
        "escalation": str(esc.pk),
        "direction": esc.direction,
        "status": esc.status,
        "team": str(esc.team_id) if esc.team_id else None,
        **(data or {}),
    }
    IncidentEvent.objects.create(
        tenant_id=esc.tenant_id,
        incident_id=esc.incident_id,
        actor=actor,
        actor_name=getattr(actor, "username", "") or "",
        kind=event_type.replace(".", "_"),
        summary=summary[:500],
        data=payload,
        visibility=visibility,
    )
    audit.record(
        event_type, actor=actor, tenant=esc.tenant_id, obj=esc, summary=summary, data=payload
    )
    audience = (events.STAFF,) if internal else events.EVERYONE
    tenant = Tenant.objects.get(pk=esc.tenant_id)
    events.tenant_event(
        esc.tenant_id,
        tenant.slug,
        event_type,
        str(esc.pk),
        {"incident": str(esc.incident_id), "status": esc.status, "direction": esc.direction},
        audience=audience,
    )


# --- starting --------------------------------------------------------------------------
def start_runs(tenant_id: int, incident_ids: list, at: datetime) -> int:
    """Freeze the tenant's active policy onto each newly opened incident."""
    policy = EscalationPolicy.objects.for_tenant(tenant_id).filter(is_active=True).first()
    if policy is None or not policy.steps:
        return 0
    frozen = {
        "name": policy.name,
        "steps": policy.steps,
        "repeat": policy.repeat,
        "policy": str(policy.pk),
    }
    first_wait = timedelta(minutes=int(policy.steps[0].get("wait_minutes", 0)))
    runs = [
        EscalationRun(
            tenant_id=tenant_id,
            incident_id=incident_id,
            policy=frozen,
            next_step_at=at + first_wait,
            started_at=at,
        )
        for incident_id in incident_ids
    ]
    EscalationRun.objects.bulk_create(runs, ignore_conflicts=True)
    return len(runs)


def route_availability_to_noc(tenant_id: int, incident_ids: list, at: datetime) -> int:
    """Availability incidents (DDoS, outages, Alertmanager) also go to a NOC, with the NOC's
    own acknowledge target; security and NOC work the same incident."""
    incidents = [
        i
        for i in Incident.objects.for_tenant(tenant_id)
        .filter(pk__in=incident_ids)
        .select_related("source")
        if i.category in AVAILABILITY_CATEGORIES or (i.source and i.source.kind == "alertmanager")
    ]
    if not incidents:
        return 0
    noc = _noc_team(tenant_id)
    for incident in incidents:
        esc = Escalation.objects.create(
            tenant_id=tenant_id,
            incident=incident,
            direction=Escalation.Direction.TO_NOC,
            team=noc,
            status=Escalation.Status.NOTIFIED,
            requested_at=at,
            note="Availability incident: the NOC works it alongside security.",
        )
        SlaClock.objects.create(
            tenant_id=tenant_id,
            incident=incident,
            target="acknowledge",
            owner=SlaClock.Owner.NOC,
            coverage="24x7",
            target_minutes=settings.NOC_ACKNOWLEDGE_MINUTES,
            at_risk_percent=75,
            started_at=at,
            resumed_at=at,
            due_at=at + timedelta(minutes=settings.NOC_ACKNOWLEDGE_MINUTES),
            at_risk_at=at + timedelta(minutes=settings.NOC_ACKNOWLEDGE_MINUTES * 0.75),
        )
        _tell(
            esc,
            "escalation.requested",
            f"Sent to the NOC ({noc.name if noc else 'no NOC team configured'})",
        )
    return len(incidents)


def _noc_team(tenant_id: int) -> Team | None:
    """The tenant's own NOC, else the MSSP's."""
    nocs = Team.objects.dangerously_unscoped("NOC teams: the tenant's own and the MSSP's")
    return (
        nocs.filter(kind=Team.Kind.NOC, tenant_id__in=[tenant_id]).first()
        or nocs.filter(kind=Team.Kind.NOC, tenant__isnull=True).first()
    )


def _in_house_team(tenant_id: int) -> Team | None:
    return Team.objects.for_tenant(tenant_id).filter(kind=Team.Kind.IN_HOUSE).first()


# --- requesting and answering -------------------------------------------------------------------
def escalation_request(
    incident: Incident,
    *,
    direction: str,
    actor: User | None,
    team: Team | None = None,
    respond_minutes: int | None = None,
    note: str = "",
    run: EscalationRun | None = None,
    step_index: int | None = None,
    now: datetime | None = None,
    schedule: Schedule | None = None,
    person: User | None = None,
) -> Escalation:
    now = now or timezone.now()
    if not incident.is_open:
        raise EscalationError(f"A {incident.status} incident is not escalated.")
    if direction == Escalation.Direction.TO_CUSTOMER:
        team = team or _in_house_team(incident.tenant_id)
        if team is None:
            raise EscalationError("This customer has no in-house team to hand off to.")
    if direction in (Escalation.Direction.TO_CUSTOMER, Escalation.Direction.TO_MSSP):
        open_same = (
            Escalation.objects.for_tenant(incident.tenant_id)
            .filter(incident=incident, direction=direction, status=Escalation.Status.PENDING)
            .exists()
        )
        if open_same:
            raise EscalationError("An escalation of this incident is already pending.")
        minutes = respond_minutes or DEFAULT_RESPOND_MINUTES
        status, respond_by = Escalation.Status.PENDING, now + timedelta(minutes=minutes)
    else:
        status, respond_by = Escalation.Status.NOTIFIED, None
    esc = Escalation.objects.create(
        tenant_id=incident.tenant_id,
        incident=incident,
        run=run,
        step_index=step_index,
        direction=direction,
        team=team,
        schedule=schedule,
        person=person,
        status=status,
        requested_by=actor,
        requested_at=now,
        respond_by=respond_by,
        note=note[:5000],
    )
    live_ack = (
        SlaClock.objects.for_tenant(incident.tenant_id)
        .filter(
            incident=incident,
            owner=SlaClock.Owner.MSSP,
            target="acknowledge",
            state__in=[ClockState.RUNNING, ClockState.AT_RISK, ClockState.PAUSED],
        )
        .exists()
    )
    if direction == Escalation.Direction.TO_MSSP and not live_ack:
        # "request assistance": on the MSSP's clock (a new acknowledge target for it)
        SlaClock.objects.create(
            tenant_id=incident.tenant_id,
            incident=incident,
            target="acknowledge",
            owner=SlaClock.Owner.MSSP,
            coverage="24x7",
            target_minutes=minutes,
            at_risk_percent=75,
            started_at=now,
            resumed_at=now,
            due_at=respond_by,
            at_risk_at=now + timedelta(minutes=minutes * 0.75),
        )
    who = (
        team.name
        if team
        else {"to_mssp": "the MSSP", "to_tier": "the MSSP lead"}.get(direction, "")
    )
    _tell(esc, "escalation.requested", f"Escalated to {who}" + (f": {note}" if note else ""), actor)
    return esc


# What a caller asks for ("to") and the direction it means.
DIRECTIONS = {
    "in_house": Escalation.Direction.TO_CUSTOMER,
    "mssp": Escalation.Direction.TO_MSSP,
    "noc": Escalation.Direction.TO_NOC,
    "tier": Escalation.Direction.TO_TIER,
}


def escalate_as(
    access,
    incident: Incident,
    to: str,
    *,
    actor: User,
    team_id=None,
    respond_minutes: int | None = None,
    note: str = "",
) -> Escalation:
    """An escalation asked for by a caller (the API's and the incident page's): MSSP staff
    hand off to the in-house team, a NOC or a tier; a customer's responders and admins ask the
    MSSP for assistance. Raises policy.NotAllowed or EscalationError with a human message."""
    direction = DIRECTIONS[to]
    policy.check_escalate(access, direction)
    team = None
    if team_id:
        team = targets.team_for(incident.tenant_id, team_id)
        if team is None:
            raise EscalationError("No such team.")
    return escalation_request(
        incident,
        direction=direction,
        actor=actor,
        team=team,
        respond_minutes=respond_minutes,
        note=note,
    )


def _pending(esc: Escalation) -> Escalation:
    locked = Escalation.objects.for_tenant(esc.tenant_id).select_for_update().get(pk=esc.pk)
    if locked.status != Escalation.Status.PENDING:
        raise EscalationError(f"This escalation is already {locked.status}.")
    return locked


@transaction.atomic
def escalation_accept(esc: Escalation, *, actor: User) -> Escalation:
    esc = _pending(esc)
    now = timezone.now()
    esc.status, esc.responded_at, esc.responded_by = Escalation.Status.ACCEPTED, now, actor
    esc.save(update_fields=["status", "responded_at", "responded_by"])
    incident = (
        Incident.objects.for_tenant(esc.tenant_id).select_for_update().get(pk=esc.incident_id)
    )
    if esc.direction == Escalation.Direction.TO_CUSTOMER:
        incident.owner, incident.owner_team = actor, esc.team
        incident.save(update_fields=["owner", "owner_team", "updated_at"])
        _start_customer_clocks(incident, now)
        _finish_run(esc, now)
    else:
        incident.owner, incident.owner_team = actor, None
        incident.save(update_fields=["owner", "owner_team", "updated_at"])
        SlaClock.objects.for_tenant(esc.tenant_id).filter(
            incident=incident,
            owner=SlaClock.Owner.MSSP,
            target="acknowledge",
            state__in=[ClockState.RUNNING, ClockState.AT_RISK],
        ).update(state=ClockState.MET, met_at=now)
    _tell(esc, "escalation.accepted", f"Accepted by {actor.username}", actor)
    return esc


def _start_customer_clocks(incident: Incident, now: datetime) -> None:
    """The in-house team now owns the work: its own clocks for what is still to do, next to
    (never blended with) the MSSP's."""
    mssp = SlaClock.objects.for_tenant(incident.tenant_id).filter(
        incident=incident, owner=SlaClock.Owner.MSSP, target__in=["contain", "resolve"]
    )
    SlaClock.objects.bulk_create(
        [
            SlaClock(
                tenant_id=incident.tenant_id,
                incident=incident,
                target=clock.target,
                owner=SlaClock.Owner.CUSTOMER,
                coverage=clock.coverage,
                target_minutes=clock.target_minutes,
                at_risk_percent=clock.at_risk_percent,
                started_at=now,
                resumed_at=now,
                due_at=now + timedelta(minutes=clock.target_minutes),
                at_risk_at=now
                + timedelta(minutes=clock.target_minutes * clock.at_risk_percent / 100),
            )
            for clock in mssp
            if clock.state != ClockState.MET
        ],
        ignore_conflicts=True,
    )


@transaction.atomic
def escalation_decline(esc: Escalation, *, actor: User, reason: str) -> Escalation:
    reason = (reason or "").strip()
    if not reason:
        raise EscalationError("Declining needs a reason.")
    esc = _pending(esc)
    now = timezone.now()
    esc.status, esc.responded_at, esc.responded_by, esc.reason = (
        Escalation.Status.DECLINED,
        now,
        actor,
        reason[:5000],
    )
    esc.save(update_fields=["status", "responded_at", "responded_by", "reason"])
    if esc.direction == Escalation.Direction.TO_CUSTOMER:
        # back to the MSSP queue, at the front
        Incident.objects.for_tenant(esc.tenant_id).filter(pk=esc.incident_id).update(
            owner=None, owner_team=None, respond_by=now
        )
        _continue_run(esc, now)
    _tell(
        esc,
        "escalation.declined",
        f"Declined by {actor.username}: {reason}",
        actor,
        {"reason": reason},
    )
    return esc


@transaction.atomic
def escalation_withdraw(esc: Escalation, *, actor: User) -> Escalation:
    esc = _pending(esc)
    esc.status, esc.responded_at = Escalation.Status.WITHDRAWN, timezone.now()
    esc.save(update_fields=["status", "responded_at"])
    _tell(esc, "escalation.withdrawn", f"Withdrawn by {actor.username}", actor)
    return esc


# --- walking policies (the sweep) ----------------------------------------------------------------
def sweep(now: datetime | None = None, batch: int = 200) -> tuple[int, int]:
    """Expire unanswered hand-offs, then fire due steps. Returns (expired, steps fired)."""
    now = now or timezone.now()
    with transaction.atomic(), rls_bypass("escalation sweep: due hand-offs of every tenant"):
        expired = list(
            Escalation.objects.dangerously_unscoped("escalation sweep")
            .filter(status=Escalation.Status.PENDING, respond_by__lte=now)
            .select_for_update(skip_locked=True)
            .order_by("respond_by")[:batch]
        )
        for esc in expired:
            _expire(esc, now)
    with transaction.atomic(), rls_bypass("escalation sweep: due steps of every tenant"):
        runs = list(
            EscalationRun.objects.dangerously_unscoped("escalation sweep")
            .filter(finished_at__isnull=True, next_step_at__lte=now)
            .select_for_update(skip_locked=True)
            .order_by("next_step_at")[:batch]
        )
        for run in runs:
            if run.next_step_at < now - OVERDUE_GRACE:
                # the auditor's finding: a step was left behind (a dead worker, a stopped beat)
                audit.record(
                    "escalation.overdue",
                    tenant=run.tenant_id,
                    obj=run,
                    summary=f"escalation step {run.next_step} ran "
                    f"{int((now - run.next_step_at).total_seconds())} s late",
                    data={"due": run.next_step_at.isoformat()},
                )
            _fire_step(run, now)
    return len(expired), len(runs)


def _expire(esc: Escalation, now: datetime) -> None:
    esc.status, esc.responded_at = Escalation.Status.EXPIRED, now
    esc.save(update_fields=["status", "responded_at"])
    _tell(
        esc, "escalation.expired", "Nobody answered by the respond-by time; next step fires", None
    )
    for lead in _leads(esc.tenant_id):
        audit.record(
            "escalation.lead_told",
            tenant=esc.tenant_id,
            obj=esc,
            actor=None,
            summary=f"lead {lead.username} told of the expired hand-off",
        )
    from .notify import queue_for_escalation

    queue_for_escalation(esc, "escalation.expired", [u.email for u in _leads(esc.tenant_id)])
    _continue_run(esc, now)


def _leads(tenant_id: int) -> list[User]:
    tenant = Tenant.objects.get(pk=tenant_id)
    return [
        u
        for u in get_users_with_perms(
            tenant, only_with_perms_in=["lead_tenant"], with_superusers=False
        )
        if u.is_active
    ]


def _continue_run(esc: Escalation, now: datetime) -> None:
    if esc.run_id is None:
        return
    EscalationRun.objects.for_tenant(esc.tenant_id).filter(
        pk=esc.run_id, finished_at__isnull=True
    ).update(next_step_at=now)


def _finish_run(esc: Escalation, now: datetime) -> None:
    if esc.run_id is not None:
        EscalationRun.objects.for_tenant(esc.tenant_id).filter(pk=esc.run_id).update(
            finished_at=now, next_step_at=None
        )


def _conditions_hold(step: dict, incident: Incident) -> bool:
    conditions = step.get("if") or {}
    if conditions.get("severity") and incident.severity not in conditions["severity"]:
        return False
    if conditions.get("category") and incident.category not in conditions["category"]:
        return False
    return not (conditions.get("unacknowledged") and incident.acknowledged_at is not None)


def _fire_step(run: EscalationRun, now: datetime) -> None:
    incident = Incident.objects.for_tenant(run.tenant_id).get(pk=run.incident_id)
    steps = run.policy["steps"]
    if incident.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED) or not steps:
        run.finished_at, run.next_step_at = now, None
        run.save(update_fields=["finished_at", "next_step_at"])
        return
    index = run.next_step
    if index >= len(steps):  # the last step was a hand-off that has now been answered
        run.finished_at, run.next_step_at = now, None
        run.save(update_fields=["finished_at", "next_step_at"])
        return
    step = steps[index]
    waiting = False
    if _conditions_hold(step, incident):
        waiting = _run_step(run, index, step, incident, now)
    # advance: the next step (or the next round), its wait counted from now
    following = index + 1
    if following >= len(steps):
        if run.repeats_done < int(run.policy.get("repeat", 0)):
            following, run.repeats_done = 0, run.repeats_done + 1
        else:
            following = None
    if following is None:
        run.next_step, run.next_step_at = len(steps), None
        if not waiting:
            run.finished_at = now
    else:
        run.next_step = following
        wait = timedelta(minutes=int(steps[following].get("wait_minutes", 0)))
        run.next_step_at = None if waiting else now + wait
    run.save(update_fields=["next_step", "repeats_done", "next_step_at", "finished_at"])


def _run_step(
    run: EscalationRun, index: int, step: dict, incident: Incident, now: datetime
) -> bool:
    """Fire one step; True when it waits for an answer (a hand-off)."""
    action = step.get("action")
    try:
        try:
            target = targets.step_target(incident.tenant_id, step)
        except targets.TargetMissing as exc:
            # checked when the policy was written; since then moved out of this tenant's reach
            raise EscalationError(f"its target is gone ({exc})") from None
        team = target.named_team
        if action == StepAction.HANDOFF_IN_HOUSE:
            escalation_request(
                incident,
                direction=Escalation.Direction.TO_CUSTOMER,
                actor=None,
                team=team,
                respond_minutes=step.get("respond_minutes"),
                note=f"Step {index + 1} of {run.policy['name']}",
                run=run,
                step_index=index,
                now=now,
                schedule=target.schedule,
                person=target.person,
            )
            return True
        direction = (
            Escalation.Direction.TO_NOC
            if action == StepAction.NOTIFY_NOC
            else Escalation.Direction.TO_TIER
        )
        if action == StepAction.NOTIFY_NOC:
            team = team or _noc_team(incident.tenant_id)
        escalation_request(
            incident,
            direction=direction,
            actor=None,
            team=team,
            note=f"Step {index + 1} of {run.policy['name']}"
            + (" (page the lead)" if action == StepAction.PAGE_LEAD else ""),
            run=run,
            step_index=index,
            now=now,
            schedule=target.schedule,
            person=target.person,
        )
    except EscalationError as exc:
        IncidentEvent.objects.create(
            tenant_id=incident.tenant_id,
            incident=incident,
            kind="escalation_skipped",
            summary=f"Step {index + 1} skipped: {exc}",
            visibility=Visibility.INTERNAL,
        )
    return False


def on_incidents_opened(tenant_id: int, incident_ids: list, at: datetime, details=None) -> None:
    start_runs(tenant_id, incident_ids, at)
    if (
        details
        and all(i in details for i in incident_ids)
        and not any(
            details[i]["category"] in AVAILABILITY_CATEGORIES
            or details[i]["source_kind"] == "alertmanager"
            for i in incident_ids
        )
    ):
        return  # nothing for the NOC: no need to read the incidents again
    route_availability_to_noc(tenant_id, incident_ids, at)
