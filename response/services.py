"""The life of a response action: asked for, answered by the contract or the customer, run
through the tenant's connector, recorded.

    requested → awaiting_approval → approved | rejected | expired → running → succeeded | failed

- The contract (ActionPolicy) decides at the request: `pre_approved` runs at once, `never` is
  refused, `needs_approval` waits for the customer's responders and admins (its on-call
  first) until `respond_by`; unanswered, the sweep tells the next step (every responder and
  admin) and finally expires it. A request by the customer's own team (hybrid, in-house) is
  its own yes.
- State lives in the row; the task is a nudge (tenants.jobs): `run_action` claims an approved
  row with a conditional UPDATE, so a retried or duplicated task never runs it twice, and
  the vendor is called outside any transaction (a slow tool holds no lock).
- Every step is on the incident's timeline and in the audit log, and published
  (`action.approval_requested`, `action.completed`: notifications tells the customer's
  channels; `incident.updated` refreshes the incident page).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts import services as incident_services
from alerts.models import ContainmentAction, Incident, IncidentEvent, Visibility
from connectors.models import Connector
from tenants import audit, events
from tenants.actions import Invalid, Refused
from tenants.jobs import enqueue
from tenants.models import Membership, Tenant, User
from tenants.rls import rls_bypass, tenant_scope

from . import clients, targets
from .models import (
    DEFAULT_APPROVE_MINUTES,
    DEFAULT_ESCALATIONS,
    DEFAULT_MODE,
    IN_FORCE_WORDS,
    LIVE_STATUSES,
    REVERSAL,
    UNDOES,
    ActionKind,
    ActionPolicy,
    ActionStatus,
    ApprovalMode,
    ResponseAction,
)

logger = logging.getLogger("mssp.response")

RUN_TASK = "response.tasks.run_action"
# An approved action not yet running after this is sent to a worker again; one running for
# longer than a run can take (connectors.http's deadline, attempts and backoff) is failed.
RESEND_AFTER = timedelta(minutes=1)
GIVE_UP_AFTER = timedelta(minutes=10)
NEVER = "This customer's contract never allows this action through the portal."
KEY_REUSED = "This idempotency key was used for another request."
CLOSED = "A {status} incident takes no more response actions."


# --- the contract --------------------------------------------------------------------------------
def contract(tenant_id: int, action: str) -> ActionPolicy:
    """The tenant's policy for `action`: its row, or the default (needs approval) unsaved."""
    found: ActionPolicy | None = (
        ActionPolicy.objects.for_tenant(tenant_id).filter(action=action).first()
    )
    return found or ActionPolicy(
        tenant_id=tenant_id,
        action=action,
        mode=DEFAULT_MODE,
        approve_minutes=DEFAULT_APPROVE_MINUTES,
        escalations=DEFAULT_ESCALATIONS,
    )


def contracts(tenant_id: int) -> list[ActionPolicy]:
    """Every action's policy of the tenant, saved or default, in the actions' order."""
    saved = {p.action: p for p in ActionPolicy.objects.for_tenant(tenant_id)}
    found = []
    for kind in ActionKind.values:
        policy = saved.get(kind)
        if policy is None:
            policy = contract_default(tenant_id, kind)
            policy.is_default = True  # type: ignore[attr-defined]  # the page says "(default)"
        found.append(policy)
    return found


def contract_default(tenant_id: int, action: str) -> ActionPolicy:
    return ActionPolicy(
        tenant_id=tenant_id,
        action=action,
        mode=DEFAULT_MODE,
        approve_minutes=DEFAULT_APPROVE_MINUTES,
        escalations=DEFAULT_ESCALATIONS,
    )


@transaction.atomic
def contract_set(
    tenant_id: int, action: str, *, actor: User | None, request: Any = None, **fields: Any
) -> ActionPolicy:
    policy: ActionPolicy | None = (
        ActionPolicy.objects.for_tenant(tenant_id).select_for_update().filter(action=action).first()
    )
    before = (
        {"mode": policy.mode, "approve_minutes": policy.approve_minutes}
        if policy
        else {"mode": DEFAULT_MODE}
    )
    if policy is None:
        policy = contract_default(tenant_id, action)
    for name in ("mode", "approve_minutes", "escalations"):
        if name in fields and fields[name] is not None:
            setattr(policy, name, fields[name])
    policy.updated_by, policy.updated_at = actor, timezone.now()
    policy.save()
    audit.record(
        "response.policy_changed",
        actor=actor,
        tenant=tenant_id,
        obj=policy,
        summary=f"{ActionKind(action).label}: {ApprovalMode(policy.mode).label}"
        + (
            f" within {policy.approve_minutes} min"
            if policy.mode == ApprovalMode.NEEDS_APPROVAL
            else ""
        ),
        data={
            "before": before,
            "after": {
                "mode": policy.mode,
                "approve_minutes": policy.approve_minutes,
                "escalations": policy.escalations,
            },
        },
        request=request,
    )
    return policy


# --- telling -------------------------------------------------------------------------------------
def _tell(
    row: ResponseAction,
    audit_action: str,
    summary: str,
    *,
    actor: User | None = None,
    request: Any = None,
    event: str = "action.updated",
    data: dict[str, Any] | None = None,
) -> None:
    """The timeline, the audit log and the stream hear of one step of `row`."""
    payload = {
        "action": str(row.pk),
        "kind": row.action,
        "target": row.target,
        "status": row.status,
        "connector": row.connector_name,
        **(data or {}),
    }
    IncidentEvent.objects.create(
        tenant_id=row.tenant_id,
        incident_id=row.incident_id,
        actor=actor,
        actor_name=getattr(actor, "username", "") or "",
        kind="response_action",
        summary=summary[:500],
        data=payload,
        visibility=Visibility.SHARED,
    )
    audit.record(
        audit_action,
        actor=actor,
        tenant=row.tenant_id,
        obj=row,
        summary=summary[:300],
        data=payload,
        request=request,
    )
    slug = Tenant.objects.filter(pk=row.tenant_id).values_list("slug", flat=True).first() or ""
    incident = str(row.incident_id)
    events.tenant_events(
        row.tenant_id,
        slug,
        [
            (
                event,
                str(row.pk),
                {
                    "incident": incident,
                    "action": row.action,
                    "target": row.target,
                    "status": row.status,
                    **(data or {}),
                },
                events.EVERYONE,
            ),
            (
                "incident.updated",
                incident,
                {"change": "response", "status": row.incident.status},
                events.EVERYONE,
            ),
        ],
    )


def _label(row: ResponseAction) -> str:
    return f"{ActionKind(row.action).label} {row.target}"


# --- approvers and their clock -------------------------------------------------------------------
def approvers(tenant_id: int, step: int, now: datetime | None = None) -> list[User]:
    """Who is asked to answer at `step`: first whoever of the customer's in-house team is on
    call now (oncall), else every responder and admin; from the next step on, every
    responder and admin of the customer."""
    workers = list(
        User.objects.filter(
            is_active=True,
            membership__tenant_id=tenant_id,
            membership__role__in=[Membership.Role.RESPONDER, Membership.Role.ADMIN],
        ).order_by("username")
    )
    if step == 0:
        on_duty = set(_on_call(tenant_id, now or timezone.now()))
        duty = [u for u in workers if u.pk in on_duty]
        if duty:
            return duty
    return workers


def _on_call(tenant_id: int, now: datetime) -> list[int]:
    from oncall.models import Schedule
    from oncall.rotation import on_call

    schedules = (
        Schedule.objects.for_tenant(tenant_id)
        .filter(team__kind="in_house")
        .prefetch_related("layers")
    )
    return [user_id for s in schedules for user_id in on_call(s.spec(now, now), now)]


# --- requesting ----------------------------------------------------------------------------------
def _check_connector(incident: Incident, connector: Connector | None, action: str) -> Connector:
    if connector is None or connector.tenant_id != incident.tenant_id:
        raise Invalid({"connector": ["No such connector."]})
    if not connector.is_enabled:
        raise Invalid({"connector": ["This connector is turned off."]})
    if action not in clients.actions_of(connector.kind):
        raise Invalid(
            {
                "action": [
                    f"A {connector.get_kind_display()} connector does not "
                    f"{ActionKind(action).label.lower()}."
                ]
            }
        )
    return connector


@transaction.atomic
def action_request(
    incident: Incident,
    *,
    actor: User | None,
    by_customer: bool,
    connector: Connector | None,
    action: str,
    target: str,
    reason: str = "",
    idempotency_key: str = "",
    reverses: ResponseAction | None = None,
    request: Any = None,
) -> ResponseAction:
    """Ask for `action` on `target` through `connector`. Returns the row, with `created`
    False when the same request (its idempotency key, or the same live action) was already
    made: then nothing runs again."""
    tenant_id = incident.tenant_id
    if idempotency_key:
        known = ResponseAction.objects.for_tenant(tenant_id).filter(idempotency_key=idempotency_key)
        found = known.first()
        if found is not None:
            return _same_request(found, incident, connector, action, target)
    if not incident.is_open:
        raise Invalid(CLOSED.format(status=incident.status))
    connector = _check_connector(incident, connector, action)
    target = targets.clean(action, target)
    live: ResponseAction | None = (
        ResponseAction.objects.for_tenant(tenant_id)
        .filter(
            incident=incident,
            connector=connector,
            action=action,
            target=target,
            status__in=LIVE_STATUSES,
        )
        .first()
    )
    if live is not None:
        live.created = False  # what the API answers 200 for
        return live
    policy = contract(tenant_id, action)
    if policy.mode == ApprovalMode.NEVER:
        raise Refused(NEVER)
    now = timezone.now()
    row = ResponseAction(
        tenant_id=tenant_id,
        incident=incident,
        connector=connector,
        connector_name=connector.name,
        action=action,
        target=target,
        reason=reason[:1000],
        mode=policy.mode,
        idempotency_key=idempotency_key or uuid.uuid4().hex,
        requested_by=actor,
        requested_by_name=getattr(actor, "username", "") or "",
        requested_at=now,
        by_customer=by_customer,
        reverses=reverses,
    )
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:  # the same key, at the same moment, from a retry
        found = (
            ResponseAction.objects.for_tenant(tenant_id)
            .filter(idempotency_key=row.idempotency_key)
            .first()
        )
        if found is None:
            raise
        return _same_request(found, incident, connector, action, target)
    row.created = True
    _tell(
        row,
        "response.requested",
        f"{_label(row)} requested through {connector.name}"
        + (f": {reason[:200]}" if reason else ""),
        actor=actor,
        request=request,
        data={"mode": row.mode, "by_customer": by_customer},
    )
    if policy.mode == ApprovalMode.PRE_APPROVED or by_customer:
        why = "pre-approved by contract" if not by_customer else "taken by the customer's team"
        _approve(row, actor=actor if by_customer else None, note=why, request=request)
    else:
        _ask(row, policy, step=0, now=now)
    return row


def _same_request(
    found: ResponseAction,
    incident: Incident,
    connector: Connector | None,
    action: str,
    target: str,
) -> ResponseAction:
    same = (
        found.incident_id == incident.pk
        and found.action == action
        and (connector is None or found.connector_id == connector.pk)
    )
    if not same:
        raise Invalid(KEY_REUSED, status_code=409)
    found.created = False
    return found


def _ask(row: ResponseAction, policy: ActionPolicy, *, step: int, now: datetime) -> None:
    row.status = ActionStatus.AWAITING_APPROVAL
    row.escalation_step = step
    row.respond_by = now + timedelta(minutes=policy.approve_minutes)
    row.save(update_fields=["status", "escalation_step", "respond_by"])
    asked = approvers(row.tenant_id, step, now)
    names = [u.username for u in asked]
    who = ", ".join(names[:5]) + (" and others" if len(names) > 5 else "") or "nobody"
    summary = (
        f"Approval of {_label(row)} asked of {who}, by {row.respond_by:%Y-%m-%d %H:%M} UTC"
        if step == 0
        else f"Unanswered: approval of {_label(row)} now asked of {who} "
        f"(step {step + 1}), by {row.respond_by:%Y-%m-%d %H:%M} UTC"
    )
    _tell(
        row,
        "response.approval_requested" if step == 0 else "response.escalated",
        summary,
        event="action.approval_requested",
        data={
            "step": step,
            "respond_by": row.respond_by.isoformat(),
            "approvers": [u.pk for u in asked],
        },
    )


def _approve(row: ResponseAction, *, actor: User | None, note: str, request: Any = None) -> None:
    now = timezone.now()
    row.status = ActionStatus.APPROVED
    row.decided_by, row.decided_at = actor, now
    row.decided_by_name = getattr(actor, "username", "") or ""
    row.decision_note = note[:1000]
    row.respond_by = None
    row.save(
        update_fields=[
            "status",
            "decided_by",
            "decided_by_name",
            "decided_at",
            "decision_note",
            "respond_by",
        ]
    )
    _tell(
        row,
        "response.approved",
        f"{_label(row)} approved"
        + (f" by {row.decided_by_name}" if row.decided_by_name else "")
        + f" ({note})" * bool(note and not actor),
        actor=actor,
        request=request,
    )
    enqueue(RUN_TASK, row.tenant_id, str(row.pk))


def _awaiting(row: ResponseAction) -> ResponseAction:
    locked: ResponseAction = (
        ResponseAction.objects.for_tenant(row.tenant_id).select_for_update().get(pk=row.pk)
    )
    if locked.status != ActionStatus.AWAITING_APPROVAL:
        raise Invalid(
            f"This action is {ActionStatus(locked.status).label.lower()}, not awaiting approval.",
            status_code=409,
        )
    return locked


@transaction.atomic
def action_approve(
    row: ResponseAction, *, actor: User, note: str = "", request: Any = None
) -> ResponseAction:
    row = _awaiting(row)
    _approve(row, actor=actor, note=note, request=request)
    return row


@transaction.atomic
def action_reject(
    row: ResponseAction, *, actor: User, reason: str, request: Any = None
) -> ResponseAction:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid({"reason": ["Rejecting needs a reason."]})
    row = _awaiting(row)
    row.status = ActionStatus.REJECTED
    row.decided_by, row.decided_by_name = actor, actor.username
    row.decided_at, row.decision_note, row.respond_by = timezone.now(), reason[:1000], None
    row.finished_at = row.decided_at
    row.save()
    _tell(
        row,
        "response.rejected",
        f"{_label(row)} rejected by {actor.username}: {reason[:200]}",
        actor=actor,
        request=request,
        event="action.completed",
    )
    return row


@transaction.atomic
def action_reverse(
    row: ResponseAction,
    *,
    actor: User | None,
    by_customer: bool,
    reason: str = "",
    idempotency_key: str = "",
    request: Any = None,
) -> ResponseAction:
    """Ask for the action that undoes `row` (release, enable, unblock), on the same target
    through the same connector, under the contract of that action."""
    undo = REVERSAL.get(ActionKind(row.action))
    if undo is None:
        raise Invalid(f"{ActionKind(row.action).label} cannot be reversed.")
    if not row.in_force:
        raise Invalid("Only an action in force is reversed.", status_code=409)
    incident = (
        Incident.objects.for_tenant(row.tenant_id).select_related("tenant").get(pk=row.incident_id)
    )
    connector = (
        Connector.objects.for_tenant(row.tenant_id).filter(pk=row.connector_id).first()
        if row.connector_id
        else None
    )
    return action_request(
        incident,
        actor=actor,
        by_customer=by_customer,
        connector=connector,
        action=undo,
        target=row.target,
        reason=reason or f"Reverses {_label(row)}",
        idempotency_key=idempotency_key,
        reverses=row,
        request=request,
    )


# --- the approval clock (swept every second with the SLA clocks) ---------------------------------
def sweep(now: datetime | None = None, batch: int = 200) -> int:
    """Unanswered approvals past `respond_by`: the next step is asked (policy's
    `escalations`), then the request expires. Claimed FOR UPDATE SKIP LOCKED like every
    deadline, so two sweepers never fire one twice. Returns how many were moved."""
    now = now or timezone.now()
    with transaction.atomic(), rls_bypass("response sweep: unanswered approvals of every tenant"):
        due = list(
            ResponseAction.objects.dangerously_unscoped("response sweep")
            .filter(status=ActionStatus.AWAITING_APPROVAL, respond_by__lte=now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("incident")
            .order_by("respond_by")[:batch]
        )
        for row in due:
            policy = contract(row.tenant_id, row.action)
            if row.escalation_step < policy.escalations:
                _ask(row, policy, step=row.escalation_step + 1, now=now)
            else:
                row.status, row.respond_by, row.finished_at = ActionStatus.EXPIRED, None, now
                row.save(update_fields=["status", "respond_by", "finished_at"])
                _tell(
                    row,
                    "response.expired",
                    f"Nobody answered: {_label(row)} expired, not run",
                    event="action.completed",
                )
    return len(due) + _resume_or_give_up(now, batch)


def _resume_or_give_up(now: datetime, batch: int) -> int:
    """A task is a nudge: an approved action whose task was lost is sent again (the run's
    claim keeps it to one run); one left running by a worker that died is failed, saying so
    (whether the tool acted is then for a person to check, never guessed)."""
    with transaction.atomic(), rls_bypass("response sweep: approved actions never run"):
        lost = list(
            ResponseAction.objects.dangerously_unscoped("response sweep")
            .filter(status=ActionStatus.APPROVED, decided_at__lte=now - RESEND_AFTER)
            .select_for_update(skip_locked=True)
            .values_list("tenant_id", "pk")[:batch]
        )
        for tenant_id, pk in lost:
            ResponseAction.objects.dangerously_unscoped("response sweep").filter(pk=pk).update(
                decided_at=now
            )
            enqueue(RUN_TASK, tenant_id, str(pk))
        stuck = list(
            ResponseAction.objects.dangerously_unscoped("response sweep")
            .filter(status=ActionStatus.RUNNING, started_at__lte=now - GIVE_UP_AFTER)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("incident")[:batch]
        )
        for row in stuck:
            _record(
                row,
                clients.Outcome(
                    False,
                    "The run stopped before the tool's answer was recorded; check the tool "
                    "before asking again.",
                ),
            )
    return len(lost) + len(stuck)


# --- running -------------------------------------------------------------------------------------
def run_action(tenant_id: int, action_id: str) -> str:
    """Run an approved action through its connector, once: the claim is a conditional
    UPDATE (approved → running), so a second task for the same row does nothing."""
    with tenant_scope([tenant_id]):
        claimed = (
            ResponseAction.objects.for_tenant(tenant_id)
            .filter(pk=action_id, status=ActionStatus.APPROVED)
            .update(status=ActionStatus.RUNNING, started_at=timezone.now())
        )
        if not claimed:
            return "not approved"
        row = (
            ResponseAction.objects.for_tenant(tenant_id)
            .select_related("incident", "incident__tenant")
            .get(pk=action_id)
        )
        connector = (
            Connector.objects.for_tenant(tenant_id).filter(pk=row.connector_id).first()
            if row.connector_id
            else None
        )
        _tell(row, "response.run", f"{_label(row)} running through {row.connector_name}")
    sent_from = timezone.now()
    if connector is None or connector.tenant_id != row.tenant_id or not connector.is_enabled:
        outcome = clients.Outcome(False, "The connector is gone or turned off; nothing was sent.")
    else:
        outcome = clients.perform(connector, row)
    with tenant_scope([tenant_id]):
        _record(row, outcome, _calls(row, sent_from))
    return str(row.status)


def _calls(row: ResponseAction, since: datetime) -> list[dict[str, Any]]:
    """The requests the run sent (connectors.http's log, already redacted), for the timeline."""
    from connectors.models import ConnectorCall

    if row.connector_id is None:
        return []
    calls = (
        ConnectorCall.objects.for_tenant(row.tenant_id)
        .filter(connector_id=row.connector_id, incident_id=row.incident_id, at__gte=since)
        .order_by("at", "attempt")[:20]
    )
    return [
        {
            "call": str(call.pk),
            "method": call.method,
            "url": call.url[:300],
            "status": call.status,
            "error": call.error[:200],
            "ms": call.duration_ms,
        }
        for call in calls
    ]


def _record(
    row: ResponseAction, outcome: clients.Outcome, calls: list[dict[str, Any]] | None = None
) -> None:
    now = timezone.now()
    row.status = ActionStatus.SUCCEEDED if outcome.ok else ActionStatus.FAILED
    row.finished_at = now
    row.result_message = outcome.message[:500]
    row.result_data = outcome.data or {}
    row.save(update_fields=["status", "finished_at", "result_message", "result_data"])
    undone = UNDOES.get(ActionKind(row.action))
    if outcome.ok and undone is not None:
        # What this undid is no longer in force: the row it reverses, or every one in force
        # of the incident on that target (released by hand from the tool's own console).
        lifted = ResponseAction.objects.for_tenant(row.tenant_id).filter(
            incident_id=row.incident_id,
            action=undone,
            target=row.target,
            status=ActionStatus.SUCCEEDED,
            lifted_at__isnull=True,
        )
        lifted.update(lifted_at=now)
    sent = "; ".join(
        f"{c['method']} {c['url'].split('?')[0][-60:]} → {c['status'] or c['error'][:40]}"
        for c in calls or []
    )
    _tell(
        row,
        "response.succeeded" if outcome.ok else "response.failed",
        f"{_label(row)} {'succeeded' if outcome.ok else 'failed'}: {outcome.message[:250]}"
        + (f" [{sent}]" if sent else ""),
        event="action.completed",
        data={"result": outcome.message[:300], "calls": calls or []},
    )
    _containment(row, outcome)


def _containment(row: ResponseAction, outcome: clients.Outcome) -> None:
    """A succeeded action is the incident's containment record too (alerts'), where the
    customer already reads what was done to limit impact."""
    if not outcome.ok:
        return
    incident = row.incident
    words = IN_FORCE_WORDS.get(ActionKind(row.action)) or ActionKind(row.action).label
    notes = f"Through {row.connector_name}; response action {row.pk}."
    if row.requested_by is not None and incident.is_open:
        try:
            incident_services.incident_contain(
                incident,
                actor=row.requested_by,
                action=ActionKind(row.action).label,
                target=row.target,
                result=ContainmentAction.Result.SUCCEEDED,
                notes=notes,
            )
            return
        except Invalid:
            pass
    ContainmentAction.objects.create(
        tenant_id=row.tenant_id,
        incident_id=row.incident_id,
        action=ActionKind(row.action).label,
        target=row.target,
        actor=row.requested_by,
        actor_name=row.requested_by_name,
        result=ContainmentAction.Result.SUCCEEDED,
        notes=f"{notes} ({words})",
    )


# --- reading -------------------------------------------------------------------------------------
def in_force(tenant_id: int, incident: Incident) -> list[ResponseAction]:
    return list(
        ResponseAction.objects.for_tenant(tenant_id)
        .filter(
            incident=incident,
            status=ActionStatus.SUCCEEDED,
            action__in=list(IN_FORCE_WORDS),
            lifted_at__isnull=True,
        )
        .order_by("finished_at")
    )
