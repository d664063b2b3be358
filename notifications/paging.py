"""Paging people: an escalation step that notifies an MSSP tier, the NOC or the leads, and a
hand-off to a customer's team, page each person concerned through their own notification
rules ("e-mail now; SMS after 5 min; call after 10") until someone answers.

Pages start and stop from events (routing, inside the transaction that published them): a
tier or NOC escalation pages its team (the tenant's leads when it names no team), a hand-off
to the in-house team pages that team; a team with on-call schedules (oncall) is paged through
whoever is on call now, else every member; the incident acknowledged (or further on), or
the hand-off answered, withdrawn or expired, answers every page about it. The sweep
(`sweep`, every few seconds from beat or run_periodic) takes due pages (SKIP LOCKED: two
sweepers never take one), writes the delivery of the person's next rule and moves the page to
the rule after it; a person without rules is paged by e-mail to their account's address."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import get_users_with_perms

from alerts.models import Incident, IncidentStatus
from oncall.models import Schedule
from oncall.rotation import on_call
from sla.models import Escalation
from tenants.access import access_for
from tenants.jobs import enqueue
from tenants.models import Team, Tenant, User
from tenants.rls import rls_bypass

from . import message as msg
from .models import ContactMethod, Delivery, Kind, NotificationRule, Page

logger = logging.getLogger("mssp.notify")
SWEEP_BATCH = 200
REASON = "paging the people an escalation concerns, for every tenant"
# An incident in one of these no longer needs anyone woken for it.
ANSWERED_STATUSES = {s for s in IncidentStatus.values if s != IncidentStatus.NEW}


def people_for(event: dict[str, Any], tenant_id: int) -> tuple[list[User], str]:
    """Who an escalation event pages, and why ("" when it pages nobody)."""
    escalation = (
        Escalation.objects.for_tenant(tenant_id)
        .filter(pk=event["id"])
        .select_related("team", "person", "schedule")
        .prefetch_related("team__members")
        .first()
    )
    if escalation is None:
        return [], ""
    team = escalation.team
    if escalation.person is not None:
        found = _may_see([escalation.person], tenant_id)
        return found, f"Escalated to you{f' ({team.name})' if team else ''}" if found else ""
    if escalation.schedule is not None:
        schedule = escalation.schedule
        duty = _may_see(_on_call_of([schedule]) or [], tenant_id)
        if duty:
            return duty, f"Escalated to {schedule.name}: you are on call"
        # nobody on call who may open the incident: the schedule's team rather than no one
    if team is not None:
        duty = _may_see(_on_call(team) or [], tenant_id)
        if duty:
            return duty, f"Escalated to {team.name}: you are on call"
        return _may_see(team.members.all(), tenant_id), f"Escalated to {team.name}"
    if escalation.direction in (Escalation.Direction.TO_TIER, Escalation.Direction.TO_MSSP):
        # "page the lead", or a customer's team asking the MSSP for help: the tenant's leads
        tenant = Tenant.objects.get(pk=tenant_id)
        leads = get_users_with_perms(
            tenant, only_with_perms_in=["lead_tenant"], with_superusers=False
        )
        found = [u for u in leads if isinstance(u, User) and u.is_active]
        if escalation.direction == Escalation.Direction.TO_MSSP:
            return found, "The customer's team asks the MSSP for help"
        return found, "Escalated to the MSSP lead"
    return [], ""


def approvers_for(tenant_id: int, user_ids: Iterable[Any]) -> list[User]:
    """The people a response action's approval step names (response.services.approvers),
    those of them who may still open the tenant's incident."""
    ids = [i for i in user_ids if isinstance(i, int) and not isinstance(i, bool)][:100]
    return _may_see(User.objects.filter(pk__in=ids, is_active=True), tenant_id)


def _may_see(users: Iterable[User], tenant_id: int) -> list[User]:
    """Those of `users` who may open the tenant's incident (tenants.access, as on every
    request): an MSSP tier's member who does not work this customer is not woken for it."""
    return [u for u in users if u.is_active and tenant_id in access_for(u).tenant_ids]


def _on_call(team: Team) -> list[User] | None:
    """Who of `team` is on call now by its schedules (oncall), or None when it has none, or
    when nobody is on call (then the whole team is paged rather than no one)."""
    schedules = (
        Schedule.objects.dangerously_unscoped("the schedules of an escalation's team")
        .filter(team=team)
        .prefetch_related("layers")
    )
    return _on_call_of(schedules)


def _on_call_of(schedules: Iterable[Schedule]) -> list[User] | None:
    """Who is on call now on any of `schedules`, or None when nobody is."""
    now = timezone.now()
    ids = {user_id for schedule in schedules for user_id in on_call(schedule.spec(now, now), now)}
    if not ids:
        return None
    return list(User.objects.filter(pk__in=ids, is_active=True))


def start(
    tenant_id: int,
    incident: Incident,
    escalation: dict[str, Any],
    users: Iterable[User],
    reason: str,
) -> int:
    """Page each of `users` about `incident` (once per person and hand-off)."""
    now = timezone.now()
    already = set(
        Page.objects.for_tenant(tenant_id)
        .filter(incident=incident, status=Page.Status.PAGING)
        .values_list("user_id", flat=True)
    )
    people = [user for user in {u.pk: u for u in users}.values() if user.pk not in already]
    rules = _rules([user.pk for user in people])
    pages = [
        Page(
            tenant_id=tenant_id,
            incident=incident,
            escalation_id=escalation.get("id") or None,
            direction=escalation.get("direction") or "",
            user=user,
            reason=reason[:200],
            created_at=now,
            # a first rule "after 5 min" waits 5 minutes like any other
            next_at=now + timedelta(minutes=(rules.get(user.pk) or [(None, 0)])[0][1]),
        )
        for user in people
    ]
    Page.objects.bulk_create(pages)
    # the rules due at once, in this transaction; the sweep writes the later ones
    _advance([page for page in pages if page.next_at <= now], now)
    return len(pages)


def answer(
    tenant_id: int, *, incident_ids: Iterable[str] = (), escalation_ids: Iterable[str] = ()
) -> int:
    """Stop paging about these incidents or hand-offs: someone answered."""
    incident_ids, escalation_ids = list(incident_ids), list(escalation_ids)
    if not incident_ids and not escalation_ids:
        return 0
    # exhausted pages too: the person was told everything, and now someone has answered
    paging = Page.objects.for_tenant(tenant_id).filter(
        status__in=[Page.Status.PAGING, Page.Status.EXHAUSTED]
    )
    about = paging.filter(incident_id__in=incident_ids) if incident_ids else paging.none()
    if escalation_ids:
        about = about | paging.filter(escalation_id__in=escalation_ids)
    answered: int = about.update(status=Page.Status.ANSWERED, answered_at=timezone.now())
    return answered


def sweep(now: datetime | None = None, batch: int = SWEEP_BATCH) -> int:
    """Deliver the next rule of every due page; the number of deliveries written."""
    now = now or timezone.now()
    with transaction.atomic(), rls_bypass(REASON):
        due = list(
            Page.objects.dangerously_unscoped(REASON)
            .filter(status=Page.Status.PAGING, next_at__lte=now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("incident", "incident__tenant", "user")
            .order_by("next_at")[:batch]
        )
        if not due:
            return 0
        return _advance(due, now)


def _advance(due: list[Page], now: datetime) -> int:
    """Each page's rules that are due by `now` as deliveries (rules of the same delay go
    together: "e-mail and Slack at once"), and the page moved on to the rule after them."""
    rules = _rules([page.user_id for page in due])
    deliveries = []
    for page in due:
        steps = rules.get(page.user_id) or _fallback(page.user)
        while page.next_rule < len(steps):
            deliveries.append(_delivery(page, steps[page.next_rule], now))
            page.next_rule += 1
            if page.next_rule < len(steps):
                page.next_at = page.created_at + timedelta(minutes=steps[page.next_rule][1])
                if page.next_at > now:
                    break
        if page.next_rule >= len(steps):
            page.status = Page.Status.EXHAUSTED
    Page.objects.dangerously_unscoped(REASON).bulk_update(due, ["next_rule", "next_at", "status"])
    made = [delivery for delivery in deliveries if delivery is not None]
    Delivery.objects.bulk_create(made, ignore_conflicts=True)
    if made:
        transaction.on_commit(lambda: enqueue("notifications.tasks.deliver_deliveries"))
    return len(made)


Step = tuple[ContactMethod | None, int]  # (contact method, delay minutes); None: the e-mail


def _rules(user_ids: list[int]) -> dict[int, list[Step]]:
    found: dict[int, list[Step]] = {}
    for rule in NotificationRule.objects.filter(user_id__in=user_ids).select_related(
        "contact_method"
    ):
        found.setdefault(rule.user_id, []).append((rule.contact_method, rule.delay_minutes))
    return found


def _fallback(user: User) -> list[Step]:
    return [(None, 0)] if user.email else []


def _delivery(page: Page, step: Step, now: datetime) -> Delivery | None:
    method, _ = step
    incident = page.incident
    message = msg.Message(
        event_type="page",
        subject_key=f"incident:{incident.pk}",
        tenant_name=incident.tenant.name,
        title=f"{incident.get_severity_display()} incident needs you: {incident.title}"[:250],
        text=f"{page.reason}\nSeverity {incident.get_severity_display()} · "
        f"{incident.get_status_display()}",
        severity=incident.severity,
        url=msg.incident_url(str(incident.pk)),
        occurred_at=now.isoformat(),
        data={
            "event": "page",
            "incident": str(incident.pk),
            "page": str(page.pk),
            "escalation": str(page.escalation_id) if page.escalation_id else None,
            "direction": page.direction or None,
        },
    )
    if method is None and not page.user.email:
        return None
    return Delivery(
        tenant_id=page.tenant_id,
        contact_method=method,
        page=page,
        recipient=page.user.email if method is None else "",
        staff_only=page.user.is_mssp_staff,
        kind=method.kind if method is not None else Kind.EMAIL,
        event_type="page",
        incident=incident,
        title=message.title,
        message=asdict(message),
        key=f"page:{page.pk}:{page.next_rule}",
    )
