"""From events to deliveries: which of a tenant's channels want an event, and what each is told.

Registered on tenants.events (apps.py), so it runs inside the transaction that publishes the
event: the outbox rows commit with the change they tell of, or not at all. A tenant's
channels are the customer's own, so they hear only what its portal users may see: events whose
audience includes the customer or its in-house team (never the MSSP's internal comments, tier
escalations or intelligence matches), and messages built only from what those users may read
(the incident's title, severity and status, the time left on a clock: never a comment's text,
an internal note or another tenant's anything).

An MSSP team's channels (TeamChannel: a tier's Slack, the NOC's PagerDuty) are told of every
escalation addressed to their team, and, for the tenants each names, of the same events with the
same customer-safe messages as a tenant's channels (never of a tenant it does not name). Their
deliveries carry the tenant the incident is about and are `staff_only`: the MSSP's business,
never in the customer's delivery log."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from alerts import tlp
from alerts.models import SEVERITY_RANK, Incident, IncidentStatus, Tlp
from sla.models import ClockState, Escalation, SlaClock
from tenants import events
from tenants.jobs import enqueue
from tenants.models import Tenant
from tenants.outbox import BATCH
from tenants.text import single_line

from . import message as msg
from . import others, paging
from .models import Channel, Delivery, Event, Subscription, TeamChannel, TeamChannelTenant

logger = logging.getLogger("mssp.notify")

# incident.updated's `change` → what a subscription names it
_CHANGES = {
    "comment": Event.INCIDENT_COMMENT,
    "status": Event.INCIDENT_STATUS,
    "containment": Event.INCIDENT_CONTAINMENT,
    # reports.incident_reports: shared with the customer (a withdrawal is "report": nothing)
    "report_shared": Event.INCIDENT_REPORT_SHARED,
}
_DIRECT = {e.value for e in Event} - {
    Event.INCIDENT_OPENED,
    Event.FINDING_OVERDUE,
    *_CHANGES.values(),
}
# who may read a tenant channel's messages: the customer's portal users and in-house team
_CUSTOMER_AUDIENCES = {events.CUSTOMER, events.WORK}
DELIVERY_BATCH = BATCH
# Changes that come in bursts when an incident flaps: one message per channel per window.
COALESCED = (Event.INCIDENT_STATUS, Event.INCIDENT_COMMENT, Event.INCIDENT_CONTAINMENT)
COALESCE_WINDOW = timedelta(minutes=2)
TITLE_MAX = Delivery._meta.get_field("title").max_length


def notifiable(event: dict[str, Any]) -> str:
    """The subscription event a stream event is ("" for one no channel hears of)."""
    if not _CUSTOMER_AUDIENCES & set(event.get("audience") or ()):
        return ""
    kind = event["type"]
    if kind == "incident.created":
        return Event.INCIDENT_OPENED
    if (event.get("data") or {}).get("target") == "remediate":  # a finding's clock
        return Event.FINDING_OVERDUE if kind == "sla.breached" else ""
    if kind == "incident.updated":
        return _CHANGES.get((event.get("data") or {}).get("change", ""), "")
    return kind if kind in _DIRECT else ""


def pages_on(event: dict[str, Any]) -> bool:
    """An event that starts or stops paging someone (notifications.paging), whoever its
    audience: tier escalations are the MSSP's own."""
    kind = str(event["type"])
    if kind == "incident.updated":
        return bool((event.get("data") or {}).get("change") == "status")
    # a response action asks the customer's on-call (then every responder) for approval
    return kind.startswith(("escalation.", "action."))


def route(per_tenant: dict[int, list[dict[str, Any]]]) -> None:
    """tenants.events' listener: outbox rows for every subscribed channel of these events,
    and pages started or answered."""
    wanted = {
        tenant_id: found
        for tenant_id, published in per_tenant.items()
        if (found := [(e, name) for e in published if (name := notifiable(e))])
    }
    paging_events = {
        tenant_id: changes
        for tenant_id, published in per_tenant.items()
        if (changes := [e for e in published if pages_on(e)])
    }
    escalated = {
        tenant_id: offered
        for tenant_id, published in per_tenant.items()
        if (offered := [e for e in published if _to_a_team(e)])
    }
    if not wanted and not paging_events and not escalated:
        return
    try:
        # A savepoint: a fault here is logged and leaves the change that published intact.
        with transaction.atomic():
            count = _write(wanted) if wanted else 0
            count += _write_escalated(escalated) if escalated else 0
            for tenant_id, changes in paging_events.items():
                _page(tenant_id, changes)
    except Exception:
        logger.exception("could not queue notifications for tenants %s", sorted(per_tenant))
        return
    if count:
        for _ in range(-(-count // DELIVERY_BATCH)):
            enqueue("notifications.tasks.deliver_deliveries")


def _page(tenant_id: int, found: list[dict[str, Any]]) -> None:
    for event in found:
        data = event.get("data") or {}
        if event["type"] == "incident.updated":
            if data.get("status") in paging.ANSWERED_STATUSES:
                paging.answer(tenant_id, incident_ids=[event["id"]])
        elif event["type"] == "escalation.requested":
            users, reason = paging.people_for(event, tenant_id)
            incident = (
                Incident.objects.for_tenant(tenant_id).filter(pk=data.get("incident")).first()
            )
            if users and incident is not None:
                about = {"id": str(event["id"]), "direction": data.get("direction")}
                paging.start(tenant_id, incident, about, users, reason)
        elif event["type"] == "action.approval_requested":  # each step asks its approvers
            users = paging.approvers_for(tenant_id, data.get("approvers") or [])
            incident = (
                Incident.objects.for_tenant(tenant_id).filter(pk=data.get("incident")).first()
            )
            if users and incident is not None:
                about = {"id": str(event["id"]), "direction": "approval"}
                reason = "A response action on your systems waits for your approval"
                paging.start(tenant_id, incident, about, users, reason)
        elif event["type"].startswith("action."):  # approved, run, rejected, expired
            if data.get("status") != "awaiting_approval":
                paging.answer(tenant_id, escalation_ids=[event["id"]])
        else:  # accepted, declined, withdrawn, expired: that hand-off is answered
            paging.answer(tenant_id, escalation_ids=[event["id"]])


def _incident_id(event: dict[str, Any]) -> str:
    if event["type"].startswith(("escalation.", "action.")):
        return str((event.get("data") or {}).get("incident") or "")
    if event["type"] == "report.ready" or (event.get("data") or {}).get("target") == "remediate":
        return ""  # a report's, a finding's: no incident (notifications.others says what)
    return str(event["id"])  # incident.* and sla.* events are about the incident itself


def _write(wanted: dict[int, list[tuple[dict[str, Any], str]]]) -> int:
    tenant_ids = sorted(wanted)
    subscriptions: dict[int, list[Subscription]] = defaultdict(list)
    for sub in (
        Subscription.objects.for_tenants(tenant_ids)
        .filter(is_active=True, channel__is_active=True)
        .select_related("channel")
    ):
        subscriptions[sub.tenant_id].append(sub)
    team_channels = _team_channels_naming(tenant_ids)
    listening = sorted(set(subscriptions) | set(team_channels))
    if not listening:
        return 0
    incident_ids = {_incident_id(e) for found in wanted.values() for e, _ in found} - {""}
    incidents = {
        str(i.pk): i
        for i in Incident.objects.for_tenants(listening)
        .filter(pk__in=incident_ids)
        .select_related("source")
    }
    clocks = _next_due(listening, incidents)
    answer_by = _answer_by(listening, wanted)
    about = others.subjects(listening, [e for found in wanted.values() for e, _ in found])
    names = dict(Tenant.objects.filter(pk__in=listening).values_list("pk", "name"))
    rows = []
    for tenant_id, found in wanted.items():
        for position, (event, name) in enumerate(found):
            incident = incidents.get(_incident_id(event))
            other = about.get(str(event["id"])) if incident is None else None
            severity = incident.severity if incident else (other.severity if other else "")
            channels = {
                sub.channel.pk: sub.channel
                for sub in subscriptions.get(tenant_id, ())
                if _wants(sub, name, severity, incident)
            }
            teams = [tc for tc in team_channels.get(tenant_id, ()) if _wants(tc, name, severity)]
            if not channels and not teams:
                continue
            if other is not None:
                message = others.message(other, name, event, names[tenant_id])
            else:
                message = build(
                    name, event, incident, names[tenant_id], clocks, answer_by.get(str(event["id"]))
                )
            digest = _event_digest(event, position)
            # A customer's channels are shared (a Slack channel, a webhook, a contact list):
            # about an AMBER incident or item they get the neutral form (alerts.tlp).
            shared = message
            if not tlp.shared_channel_may_carry(_level(event, incident)):
                shared = msg.neutral(message)
            rows += [
                Delivery(
                    tenant_id=tenant_id,
                    channel=channel,
                    kind=channel.kind,
                    event_type=name,
                    incident=incident,
                    title=shared.title[:TITLE_MAX],
                    message=asdict(shared),
                    key=f"{name}:{digest}:{channel.pk}",
                )
                for channel in channels.values()
            ]
            rows += [
                Delivery(
                    tenant_id=tenant_id,
                    team_channel=team_channel,
                    staff_only=True,
                    kind=team_channel.kind,
                    event_type=name,
                    incident=incident,
                    title=message.title[:TITLE_MAX],
                    message=asdict(message),
                    key=f"{name}:{digest}:{team_channel.pk}",
                )
                for team_channel in teams
            ]
    rows = coalesce(rows)
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _level(event: dict[str, Any], incident: Incident | None) -> str:
    """The TLP a message about this event carries: its item's and its incident's, the
    stricter (an AMBER event's clearance counts as AMBER)."""
    level = tlp.stricter(event.get("tlp") or Tlp.GREEN, incident.tlp if incident else Tlp.GREEN)
    if event.get("clearance") == events.CLEARANCE_WORKERS:
        level = tlp.stricter(level, Tlp.AMBER)
    return level


def _team_channels_naming(tenant_ids: list[int]) -> dict[int, list[TeamChannel]]:
    """The active MSSP team channels that name each of these tenants (one query)."""
    found: dict[int, list[TeamChannel]] = defaultdict(list)
    for link in (
        TeamChannelTenant.objects.for_tenants(tenant_ids)
        .filter(team_channel__is_active=True)
        .select_related("team_channel")
    ):
        found[link.tenant_id].append(link.team_channel)
    return found


def _to_a_team(event: dict[str, Any]) -> bool:
    """An escalation offered (to a team, perhaps one of the MSSP's with channels)."""
    return bool(event["type"] == Event.ESCALATION_REQUESTED)


def _write_escalated(escalated: dict[int, list[dict[str, Any]]]) -> int:
    """One delivery to each active channel of the MSSP team an escalation is addressed to,
    written once per escalation and channel (its key)."""
    tenant_ids = sorted(escalated)
    escalations = {
        str(esc.pk): esc
        for esc in Escalation.objects.for_tenants(tenant_ids)
        .filter(
            pk__in=[e["id"] for found in escalated.values() for e in found],
            team__isnull=False,
            team__tenant__isnull=True,  # the MSSP's teams: a customer's has its tenant's
        )
        .select_related("incident", "team")
    }
    if not escalations:
        return 0
    channels: dict[Any, list[TeamChannel]] = defaultdict(list)
    for channel in TeamChannel.objects.filter(
        team_id__in={esc.team_id for esc in escalations.values()}, is_active=True
    ):
        channels[channel.team_id].append(channel)
    if not channels:
        return 0
    incidents = {str(esc.incident_id): esc.incident for esc in escalations.values()}
    clocks = _next_due(tenant_ids, incidents)
    names = dict(Tenant.objects.filter(pk__in=tenant_ids).values_list("pk", "name"))
    rows = []
    for tenant_id, found in escalated.items():
        for event in found:
            escalation = escalations.get(str(event["id"]))
            if escalation is None or escalation.team is None:
                continue
            team_channels = channels.get(escalation.team_id, [])
            if not team_channels:
                continue
            message = escalated_message(
                escalation.team.name, event, escalation, names[tenant_id], clocks
            )
            rows += [
                Delivery(
                    tenant_id=tenant_id,
                    team_channel=channel,
                    staff_only=True,
                    kind=channel.kind,
                    event_type=Event.ESCALATION_REQUESTED,
                    incident=escalation.incident,
                    title=message.title[:TITLE_MAX],
                    message=asdict(message),
                    key=f"escalated:{escalation.pk}:{channel.pk}",
                )
                for channel in team_channels
            ]
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def escalated_message(
    team_name: str,
    event: dict[str, Any],
    escalation: Escalation,
    tenant_name: str,
    clocks: dict[str, SlaClock],
) -> msg.Message:
    """ "Escalated to SOC L2: [Globex] Critical incident: ..., respond by ...": what the team's
    channel is told. Built like `build` from what the incident shows (never the escalation's
    note, an internal comment or another tenant's anything)."""
    incident = escalation.incident
    message = build(
        Event.ESCALATION_REQUESTED, event, incident, tenant_name, clocks, escalation.respond_by
    )
    title = single_line(
        f"Escalated to {team_name}: [{tenant_name}] {incident.get_severity_display()} incident: "
        f"{incident.title}",
        250,
    )
    lines = [f"Severity {incident.get_severity_display()} · {incident.get_status_display()}"]
    respond_by = escalation.respond_by
    clock = clocks.get(str(incident.pk))
    if respond_by is None and clock is not None:
        respond_by = clock.due_at
    if respond_by is not None:
        lines.append(
            f"Respond by {respond_by:%Y-%m-%d %H:%M} UTC ({_left(respond_by, timezone.now())})"
        )
    return replace(message, title=title, text="\n".join(lines), action=msg.TRIGGER)


def coalesce(rows: list[Delivery]) -> list[Delivery]:
    """A flapping incident tells each channel at most once per COALESCE_WINDOW about each kind
    of change: a change while that channel's last such message is still waiting replaces the
    message (it says the latest), and one after a recent message waits for the window's end.
    The rows still to be written are returned."""
    flapping = [r for r in rows if r.event_type in COALESCED and r.incident_id is not None]
    if not flapping:
        return rows
    now = timezone.now()
    latest: dict[tuple[Any, Any, str], Delivery] = {}
    destinations = Q(channel_id__in={r.channel_id for r in flapping} - {None}) | Q(
        team_channel_id__in={r.team_channel_id for r in flapping} - {None}
    )
    for earlier in (
        Delivery.objects.for_tenants({r.tenant_id for r in flapping})
        .filter(destinations)
        .filter(
            incident_id__in={r.incident_id for r in flapping},
            event_type__in=COALESCED,
            created_at__gte=now - COALESCE_WINDOW,
            is_test=False,
        )
        .order_by("created_at")
    ):
        latest[(_destination_of(earlier), earlier.incident_id, earlier.event_type)] = earlier
    kept: list[Delivery] = []
    fresh: set[Any] = set()  # rows of this batch, not written yet
    for row in rows:
        key = (_destination_of(row), row.incident_id, row.event_type)
        earlier = latest.get(key)
        if earlier is None or row.event_type not in COALESCED:
            kept.append(row)
            latest[key] = row
            fresh.add(row.pk)
        elif earlier.pk in fresh:  # the same burst: its last word wins
            earlier.message, earlier.title = row.message, row.title
        elif earlier.status == Delivery.Status.PENDING and earlier.attempts == 0:
            Delivery.objects.for_tenant(row.tenant_id).filter(pk=earlier.pk, attempts=0).update(
                message=row.message, title=row.title
            )
        else:
            row.next_attempt_at = max(now, earlier.created_at + COALESCE_WINDOW)
            latest[key] = row
            fresh.add(row.pk)
            kept.append(row)
    return kept


def _destination_of(row: Delivery) -> Any:
    """The channel a delivery goes to, a tenant's or an MSSP team's (ids never collide)."""
    return row.channel_id or row.team_channel_id


def _wants(
    sub: Subscription | TeamChannel, name: str, severity: str, incident: Incident | None = None
) -> bool:
    """The subscription asks for this event, about something at least as severe as it asks
    (a report has no severity: only the event decides), and about an incident of a category
    and from a source it asks for, when it names some."""
    if sub.events and name not in sub.events:
        return False
    if isinstance(sub, Subscription) and incident is not None:
        if sub.categories and incident.category.casefold() not in sub.categories:
            return False
        if sub.sources and (incident.source is None or incident.source.kind not in sub.sources):
            return False
    if sub.min_severity and severity in SEVERITY_RANK:
        return SEVERITY_RANK[severity] >= SEVERITY_RANK[sub.min_severity]
    return True


def _event_digest(event: dict[str, Any], position: int) -> str:
    """Names one published event: its type, object, time, data and place in its batch."""
    raw = json.dumps(
        [event["type"], event["id"], event["at"], event.get("data"), position],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _next_due(tenant_ids: list[int], incidents: dict[str, Incident]) -> dict[str, SlaClock]:
    """Each incident's running clock that falls due first (the customer sees both owners')."""
    if not incidents:
        return {}
    found: dict[str, SlaClock] = {}
    for clock in (
        SlaClock.objects.for_tenants(tenant_ids)
        .filter(
            incident_id__in=list(incidents),
            state__in=[ClockState.RUNNING, ClockState.AT_RISK],
            due_at__isnull=False,
        )
        .order_by("due_at")
    ):
        found.setdefault(str(clock.incident_id), clock)
    return found


def _answer_by(
    tenant_ids: list[int], wanted: dict[int, list[tuple[dict[str, Any], str]]]
) -> dict[str, datetime]:
    """When each offered hand-off among the events must be answered."""
    offered = [
        str(event["id"])
        for found in wanted.values()
        for event, name in found
        if name == Event.ESCALATION_REQUESTED
    ]
    if not offered:
        return {}
    rows = (
        Escalation.objects.for_tenants(tenant_ids)
        .filter(pk__in=offered, respond_by__isnull=False)
        .values_list("pk", "respond_by")
    )
    return {str(pk): respond_by for pk, respond_by in rows}


def _left(due_at: datetime, now: datetime) -> str:
    minutes = int((due_at - now).total_seconds() // 60)
    if minutes < 0:
        return f"overdue by {-minutes} min"
    if minutes < 120:
        return f"{minutes} min left"
    return f"{minutes // 60} h {minutes % 60} min left"


_HEADLINES = {
    Event.INCIDENT_OPENED: "{severity} incident opened",
    Event.INCIDENT_COMMENT: "New comment from the SOC",
    Event.INCIDENT_STATUS: "Incident {status}",
    Event.INCIDENT_CONTAINMENT: "Containment recorded",
    Event.INCIDENT_REPORT_SHARED: "Post-incident report shared",
    Event.SLA_AT_RISK: "SLA {target} at risk",
    Event.SLA_BREACHED: "SLA {target} breached",
    Event.ESCALATION_REQUESTED: "Hand-off offered",
    Event.ESCALATION_ACCEPTED: "Hand-off accepted",
    Event.ESCALATION_DECLINED: "Hand-off declined",
    Event.ESCALATION_EXPIRED: "Hand-off expired: nobody answered in time",
    Event.ACTION_APPROVAL_REQUESTED: "Your approval is needed: response action on {target}",
    Event.ACTION_COMPLETED: "Response action on {target} finished",
}


def paging_action(name: str, incident: Incident | None) -> str:
    """What a paging vendor is told: resolved when the incident is, acknowledged when it is."""
    if name == Event.INCIDENT_STATUS and incident is not None:
        if incident.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
            return msg.RESOLVE
        if incident.status == IncidentStatus.ACKNOWLEDGED:
            return msg.ACKNOWLEDGE
    return msg.TRIGGER


def build(
    name: str,
    event: dict[str, Any],
    incident: Incident | None,
    tenant_name: str,
    clocks: dict[str, SlaClock],
    answer_by: datetime | None = None,
) -> msg.Message:
    """The message about one event, from what the customer may read; `answer_by` is when an
    offered hand-off must be answered."""
    data = event.get("data") or {}
    headline = _HEADLINES[Event(name)].format(
        severity=(incident.get_severity_display() if incident else "An"),
        status=(incident.get_status_display().lower() if incident else "updated"),
        target=single_line(data.get("target", ""), 20),
    )
    title = single_line(f"{headline}: {incident.title}" if incident else headline, 250)
    lines = []
    if incident is not None:
        lines.append(
            f"Severity {incident.get_severity_display()} · {incident.get_status_display()}"
        )
        clock = clocks.get(str(incident.pk))
        if answer_by is not None:
            lines.append(
                f"Answer by {answer_by:%Y-%m-%d %H:%M} UTC ({_left(answer_by, timezone.now())}), "
                "or it moves to the next step"
            )
        elif clock is not None and clock.due_at is not None:
            lines.append(
                f"{clock.get_target_display()} due {clock.due_at:%Y-%m-%d %H:%M} UTC "
                f"({_left(clock.due_at, timezone.now())})"
            )
    incident_id = str(incident.pk) if incident else ""
    subject_key = f"incident:{incident_id}" if incident_id else f"{name}:{event['id']}"
    url = msg.incident_url(incident_id) if incident_id else settings.PORTAL_BASE_URL
    if name == Event.INCIDENT_REPORT_SHARED and incident_id:
        # The link is the report (page, and its PDF from there); a paging vendor gets an alert
        # of its own, never a trigger that would reopen the resolved incident's.
        subject_key, url = f"incident_report:{incident_id}", url + "report/"
        lines.append("Read the post-incident report in the portal, or download its PDF there.")
    return msg.Message(
        event_type=name,
        subject_key=subject_key,
        tenant_name=tenant_name,
        title=title,
        text="\n".join(lines),
        severity=incident.severity if incident else "",
        url=url,
        action=paging_action(name, incident),
        occurred_at=event.get("at") or timezone.now().isoformat(),
        data={
            "event": name,
            "incident": incident_id or None,
            "status": incident.status if incident else None,
            "severity": incident.severity if incident else None,
            **({"target": data["target"]} if "target" in data else {}),
            **(
                {"escalation": event["id"], "direction": data.get("direction")}
                if name.startswith("escalation.")
                else {}
            ),
            # the approval request's one-click answers are done to this response action
            **({"response_action": event["id"]} if name == Event.ACTION_APPROVAL_REQUESTED else {}),
        },
    )


def test_message(channel: Channel | TeamChannel) -> msg.Message:
    """What "send a test" sends: says it is a test, and nothing about any incident (a team's
    channel's names its team, not any tenant)."""
    now = timezone.now()
    return msg.Message(
        event_type="channel.test",
        subject_key=f"test:{channel.pk}:{now.timestamp():.0f}",
        tenant_name=channel.team.name if isinstance(channel, TeamChannel) else channel.tenant.name,
        title=f"Test message for channel “{single_line(channel.name, 100)}”",
        text="If you can read this, the portal can reach this channel.",
        severity="info",
        url=f"{settings.PORTAL_BASE_URL.rstrip('/')}/settings/"
        + ("teams/" if isinstance(channel, TeamChannel) else "notifications/"),
        occurred_at=now.isoformat(),
        data={"event": "channel.test", "channel": str(channel.pk)},
    )
