"""Incident workflows: acknowledge, transition, assign, comment, contain, merge.

Each change writes the incident's timeline and publishes an event after commit. Illegal
changes raise WorkflowError with a message the caller can show as is.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants import audit, events
from tenants.actions import Invalid
from tenants.models import Team, Tenant, User, new_public_id

from . import extensions, observables, signals
from .models import (
    OPEN_STATUSES,
    SEVERITY_RANK,
    Alert,
    Comment,
    ContainmentAction,
    Incident,
    IncidentEvent,
    IncidentStatus,
    IntakeSource,
    Origin,
    Pap,
    Resolution,
    Tlp,
    Visibility,
)
from .tlp import audit_data, audit_tenant

TRANSITIONS: dict[str, frozenset[str]] = {
    IncidentStatus.NEW: frozenset(
        {
            IncidentStatus.ACKNOWLEDGED,
            IncidentStatus.INVESTIGATING,
            IncidentStatus.CONTAINED,
            IncidentStatus.AWAITING_CUSTOMER,
            IncidentStatus.RESOLVED,
        }
    ),
    IncidentStatus.ACKNOWLEDGED: frozenset(
        {
            IncidentStatus.INVESTIGATING,
            IncidentStatus.CONTAINED,
            IncidentStatus.AWAITING_CUSTOMER,
            IncidentStatus.RESOLVED,
        }
    ),
    IncidentStatus.INVESTIGATING: frozenset(
        {IncidentStatus.CONTAINED, IncidentStatus.AWAITING_CUSTOMER, IncidentStatus.RESOLVED}
    ),
    IncidentStatus.CONTAINED: frozenset(
        {IncidentStatus.INVESTIGATING, IncidentStatus.AWAITING_CUSTOMER, IncidentStatus.RESOLVED}
    ),
    IncidentStatus.AWAITING_CUSTOMER: frozenset(
        {
            IncidentStatus.ACKNOWLEDGED,
            IncidentStatus.INVESTIGATING,
            IncidentStatus.CONTAINED,
            IncidentStatus.RESOLVED,
        }
    ),
    # Reopen, or close for good.
    IncidentStatus.RESOLVED: frozenset({IncidentStatus.CLOSED, IncidentStatus.INVESTIGATING}),
    IncidentStatus.CLOSED: frozenset(),
}
# When a status is first reached, its timestamp is set (the SLA clocks read these).
REACHED_AT = {
    IncidentStatus.ACKNOWLEDGED: "acknowledged_at",
    IncidentStatus.CONTAINED: "contained_at",
    IncidentStatus.RESOLVED: "resolved_at",
    IncidentStatus.CLOSED: "closed_at",
}


class WorkflowError(Invalid):
    """A change the incident's state does not allow; the message says why (a 400 from the API,
    a message above the form on a page: tenants.actions)."""


def _locked(incident: Incident) -> Incident:
    return (
        Incident.objects.for_tenant(incident.tenant_id)
        .select_for_update()
        .select_related("tenant")
        .get(pk=incident.pk)
    )


def _announce(incident: Incident, change: str, *, at, actor, before=None, after=None) -> None:
    """Tell the receivers (the SLA clocks among them) what changed on the incident."""
    signals.incident_changed.send(
        sender=Incident,
        incident=incident,
        change=change,
        before=before,
        after=after,
        at=at,
        actor=actor,
    )


def _timeline(
    incident: Incident,
    actor: User | None,
    kind: str,
    summary: str,
    data: dict | None = None,
    visibility: str = Visibility.SHARED,
    tlp: str = Tlp.GREEN,
) -> IncidentEvent:
    """One timeline entry; an entry about an item carries the item's TLP (alerts.tlp), and a
    RED one is internal too."""
    return IncidentEvent.objects.create(
        tenant_id=incident.tenant_id,
        incident=incident,
        actor=actor,
        actor_name=getattr(actor, "username", "") or "",
        kind=kind,
        summary=summary[:500],
        data=data or {},
        visibility=Visibility.INTERNAL if tlp == Tlp.RED else visibility,
        tlp=tlp,
    )


def _publish(
    incident: Incident, change: str, visibility: str = Visibility.SHARED, tlp: str | None = None
) -> None:
    audience = ("staff",) if visibility == Visibility.INTERNAL else events.EVERYONE
    events.tenant_event(
        incident.tenant_id,
        incident.tenant.slug,
        "incident.updated",
        str(incident.pk),
        {"change": change, "status": incident.status},
        audience=audience,
        tlp=tlp,
    )


@transaction.atomic
def incident_transition(
    incident: Incident,
    to_status: str,
    *,
    actor: User | None,
    reason: str = "",
    resolution: str = "",
) -> Incident:
    incident = _locked(incident)
    current = incident.status
    if to_status not in IncidentStatus.values:
        raise WorkflowError(
            f"'{to_status}' is not a status; one of {', '.join(IncidentStatus.values)}."
        )
    if to_status == current:
        raise WorkflowError(f"The incident is already {current}.")
    if to_status not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (it is closed)"
        raise WorkflowError(
            f"An incident that is {current} can move to {allowed}, not to {to_status}."
        )
    reason = reason.strip()
    if to_status == IncidentStatus.AWAITING_CUSTOMER and not reason:
        raise WorkflowError("Say what you are waiting for: awaiting_customer needs a reason.")
    if to_status == IncidentStatus.RESOLVED:
        if resolution not in Resolution.values:
            raise WorkflowError(f"Resolving needs a resolution: {', '.join(Resolution.values)}.")
        incident.resolution = resolution
    elif resolution:
        raise WorkflowError("A resolution is only given when resolving.")
    if current == IncidentStatus.RESOLVED and to_status == IncidentStatus.INVESTIGATING:
        incident.resolution = ""
    incident.status = to_status
    incident.awaiting_reason = reason if to_status == IncidentStatus.AWAITING_CUSTOMER else ""
    stamp = REACHED_AT.get(to_status)
    now = timezone.now()
    if stamp and getattr(incident, stamp) is None:
        setattr(incident, stamp, now)
    if (
        to_status
        in (IncidentStatus.RESOLVED, IncidentStatus.CONTAINED, IncidentStatus.INVESTIGATING)
        and incident.acknowledged_at is None
    ):
        incident.acknowledged_at = now  # working an incident acknowledges it
    try:
        with transaction.atomic():
            incident.save()
    except IntegrityError:
        raise WorkflowError(
            "Another open incident of this tenant has the same fingerprint; "
            "merge this one into it instead of reopening."
        ) from None
    summary = f"{current} → {to_status}"
    if reason:
        summary += f": {reason}"
    if resolution:
        summary += f" ({resolution})"
    _announce(incident, "status", at=now, actor=actor, before=current, after=to_status)
    _timeline(
        incident,
        actor,
        "status_changed",
        summary,
        {"from": current, "to": to_status, "reason": reason, "resolution": resolution},
    )
    _publish(incident, "status")
    return incident


def incident_acknowledge(incident: Incident, *, actor: User) -> Incident:
    """Acknowledge a new incident; the acknowledging analyst owns it unless someone does."""
    with transaction.atomic():
        incident = _locked(incident)
        if incident.status != IncidentStatus.NEW:
            raise WorkflowError(
                f"Only a new incident can be acknowledged; this one is {incident.status}."
            )
        if incident.owner_id is None and incident.owner_team_id is None:
            incident.owner = actor
            incident.save(update_fields=["owner", "updated_at"])
        return incident_transition(incident, IncidentStatus.ACKNOWLEDGED, actor=actor)


@transaction.atomic
def incident_assign(
    incident: Incident, *, actor: User, owner: User | None = None, team: Team | None = None
) -> Incident:
    incident = _locked(incident)
    if not incident.is_open:
        raise WorkflowError(f"A {incident.status} incident cannot be reassigned.")
    before = (incident.owner_id, incident.owner_team_id)
    incident.owner, incident.owner_team = owner, team
    incident.save(update_fields=["owner", "owner_team", "updated_at"])
    if before != (incident.owner_id, incident.owner_team_id):
        who = owner.username if owner else team.name if team else "nobody"
        _timeline(
            incident,
            actor,
            "owner_changed",
            f"Assigned to {who}",
            {"owner": owner.username if owner else None, "team": str(team.pk) if team else None},
        )
        _publish(incident, "owner")
    return incident


@transaction.atomic
def incident_comment(
    incident: Incident, *, author: User, body: str, visibility: str, tlp: str = Tlp.GREEN
) -> Comment:
    body = body.strip()
    if not body:
        raise WorkflowError("A comment needs some text.")
    comment = Comment.objects.create(
        tenant_id=incident.tenant_id,
        incident=incident,
        author=author,
        author_name=author.username,
        body=body,
        visibility=visibility,
        tlp=tlp,
    )
    _timeline(
        incident,
        author,
        "comment",
        body[:200],
        {"comment": str(comment.pk)},
        visibility=visibility,
        tlp=tlp,
    )
    now = timezone.now()
    Incident.objects.for_tenant(incident.tenant_id).filter(pk=incident.pk).update(updated_at=now)
    if visibility == Visibility.SHARED and author.is_mssp_staff and tlp != Tlp.RED:
        # the MSSP told the customer: the "notify" target is met (a RED comment tells nobody)
        _announce(incident, "customer_notified", at=now, actor=author)
    _publish(incident, "comment", visibility, tlp=tlp)
    return comment


@transaction.atomic
def incident_contain(
    incident: Incident,
    *,
    actor: User,
    action: str,
    target: str,
    result: str = ContainmentAction.Result.PENDING,
    notes: str = "",
) -> ContainmentAction:
    if not incident.is_open:
        raise WorkflowError(f"A {incident.status} incident takes no more containment actions.")
    record = ContainmentAction.objects.create(
        tenant_id=incident.tenant_id,
        incident=incident,
        action=action.strip(),
        target=target.strip(),
        actor=actor,
        actor_name=actor.username,
        result=result,
        notes=notes,
    )
    _timeline(
        incident,
        actor,
        "containment",
        f"{record.action} on {record.target}: {result}",
        {"containment": str(record.pk), "result": result},
    )
    _publish(incident, "containment")
    return record


@transaction.atomic
def incident_merge(incident: Incident, into: Incident, *, actor: User) -> Incident:
    """Fold `incident` into `into` (same tenant): its alerts move, it is resolved as a
    duplicate and points at the incident it joined."""
    if incident.tenant_id != into.tenant_id:
        raise WorkflowError("No such incident to merge into.")  # never says it exists
    if incident.pk == into.pk:
        raise WorkflowError("An incident cannot be merged into itself.")
    first, second = sorted([incident, into], key=lambda i: str(i.pk))  # lock order
    _locked(first), _locked(second)
    incident, into = _locked(incident), _locked(into)
    if not incident.is_open or not into.is_open:
        raise WorkflowError("Both incidents must be open to merge them.")
    moving = list(Alert.objects.for_tenant(incident.tenant_id).filter(incident=incident))
    moved = (
        Alert.objects.for_tenant(incident.tenant_id).filter(incident=incident).update(incident=into)
    )
    observables.add_from_alerts(into.tenant_id, into.pk, moving)
    observables.merge_hand_added(incident, into)
    into.alert_count += incident.alert_count
    into.first_seen = min(into.first_seen, incident.first_seen)
    into.last_seen = max(into.last_seen, incident.last_seen)
    if incident.severity_rank > into.severity_rank:
        into.severity, into.severity_rank = incident.severity, incident.severity_rank
    into.save()
    incident.merged_into = into
    incident.status = IncidentStatus.RESOLVED
    incident.resolution = Resolution.DUPLICATE
    incident.resolved_at = incident.resolved_at or timezone.now()
    incident.save()
    _timeline(incident, actor, "merged", f"Merged into {into.title}", {"into": str(into.pk)})
    _timeline(
        into,
        actor,
        "merged",
        f"{incident.title} merged in ({moved} alerts)",
        {"from": str(incident.pk), "alerts": moved},
    )
    _publish(incident, "merged")
    _publish(into, "merged")
    return into


@transaction.atomic
def incident_open_for_alert(
    alert: Alert, *, actor: User, reason: str = ""
) -> tuple[Incident, bool]:
    """A hunt's hit made an incident in its tenant: the alert's open incident if it has one
    (nothing to do), else a new incident of its own (the alert was suppressed, or its
    incident is closed), started like intake starts one: SLA clocks, timeline, stream.
    Returns (incident, created)."""
    alert = Alert.objects.for_tenant(alert.tenant_id).select_for_update().get(pk=alert.pk)
    if alert.incident_id:
        current = Incident.objects.for_tenant(alert.tenant_id).get(pk=alert.incident_id)
        if current.is_open:
            return current, False
    now = timezone.now()
    seen = alert.observed_at or alert.received_at
    incident = Incident.objects.create(
        tenant_id=alert.tenant_id,
        title=alert.title,
        severity=alert.severity,
        severity_rank=alert.severity_rank,
        category=alert.category,
        # Its own fingerprint: later alerts of the same kind keep grouping where they did.
        fingerprint=f"hunt:{alert.pk}",
        origin=Origin.HUNT,
        source_id=alert.source_id,
        alert_count=1,
        first_seen=seen,
        last_seen=seen,
        created_at=now,
    )
    alert.incident = incident
    alert.save(update_fields=["incident"])
    observables.add_from_alerts(incident.tenant_id, incident.pk, [alert])
    _timeline(
        incident,
        actor,
        "opened_from_hunt",
        f"Opened by {actor.username} from a hunt's hit" + (f": {reason}" if reason else ""),
        {"alert": str(alert.pk)},
    )
    signals.incidents_opened.send(
        sender=Incident,
        tenant_id=alert.tenant_id,
        incident_ids=[incident.pk],
        at=now,
        details={
            incident.pk: {
                "severity": incident.severity,
                "category": incident.category,
                "source_kind": alert.source.kind,
            }
        },
    )
    tenant = incident.tenant
    events.tenant_event(
        incident.tenant_id, tenant.slug, "incident.created", str(incident.pk), {"from": "hunt"}
    )
    return incident, True


# --- incidents opened by hand: a customer's report, an analyst's phone call -----------------

DEFAULT_SEVERITY = "medium"


@transaction.atomic
def incident_open(
    tenant: Tenant,
    *,
    actor: User,
    origin: str,
    title: str,
    description: str = "",
    severity: str = "",
    category: str = "",
    occurred_at=None,
    affected_assets: list[str] | None = None,
    affected_people: list[str] | None = None,
    tlp: str = Tlp.GREEN,
    pap: str = Pap.GREEN,
    request=None,
) -> Incident:
    """A new incident of `tenant` opened by a person (origin `customer` or `analyst`), started
    exactly like intake starts one: its SLA clocks and escalation (incidents_opened, which also
    applies the category's case template), its timeline, the audit log and the stream. Without
    a severity it gets its category's default (alerts.extensions), else medium."""
    if origin not in (Origin.CUSTOMER, Origin.ANALYST):
        raise WorkflowError(f"'{origin}' incidents are not opened by hand.")
    title = title.strip()
    if not title:
        raise Invalid({"title": ["Say in a few words what happened."]})
    category = category.strip().lower()
    if not severity:
        severity = extensions.default_severity(tenant.pk, category) or DEFAULT_SEVERITY
    if severity not in SEVERITY_RANK:
        raise Invalid({"severity": [f"'{severity}' is not a severity."]})
    now = timezone.now()
    seen = min(occurred_at, now) if occurred_at else now
    incident = Incident.objects.create(
        tenant=tenant,
        title=title,
        description=description.strip(),
        severity=severity,
        severity_rank=SEVERITY_RANK[severity],
        category=category,
        # Its own fingerprint: no alert ever groups into it by chance (promote them instead).
        fingerprint=f"{origin}:{new_public_id()}",
        origin=origin,
        opened_by=actor,
        affected_assets=list(affected_assets or []),
        affected_people=list(affected_people or []),
        tlp=tlp,
        pap=pap,
        alert_count=0,
        first_seen=seen,
        last_seen=seen,
        created_at=now,
    )
    who = "the customer" if origin == Origin.CUSTOMER else "an analyst"
    _timeline(
        incident,
        actor,
        f"opened_by_{origin}",
        f"Opened by {actor.username} ({who}): {title}",
        {"origin": origin, "severity": severity, "category": category},
    )
    audit.record(
        "incident.opened",
        actor=actor,
        tenant=audit_tenant(tlp, tenant.pk),  # a RED one's: the MSSP's own log (alerts.tlp)
        obj=incident,
        request=request,
        summary=f"incident '{title[:200]}' opened by hand ({origin})",
        data={
            "origin": origin,
            "severity": severity,
            "category": category,
            **audit_data(tlp, tenant.pk),
        },
    )
    signals.incidents_opened.send(
        sender=Incident,
        tenant_id=tenant.pk,
        incident_ids=[incident.pk],
        at=now,
        details={incident.pk: {"severity": severity, "category": category, "source_kind": ""}},
    )
    events.tenant_event(
        tenant.pk, tenant.slug, "incident.created", str(incident.pk), {"from": origin}
    )
    return incident


MAX_PROMOTE = 100


@transaction.atomic
def incident_promote_alerts(
    incident: Incident, alert_ids: list, *, actor: User, request=None
) -> tuple[Incident, int]:
    """Move alerts of the incident's own tenant into it (an analyst decides they belong
    together). An alert of another tenant, or one that does not exist, is 'not found'; alerts
    leave the incidents they were in, whose counts follow. Returns (incident, moved)."""
    incident = _locked(incident)
    if not incident.is_open:
        raise WorkflowError(f"A {incident.status} incident takes no more alerts.")
    wanted = list(dict.fromkeys(alert_ids))
    alerts = list(
        Alert.objects.for_tenant(incident.tenant_id)
        .select_for_update()
        .filter(pk__in=wanted)
        .order_by("pk")
    )
    found = {alert.pk for alert in alerts}
    missing = [str(pk) for pk in wanted if pk not in found]
    if missing:
        raise Invalid({"alerts": [f"No such alert of this customer: {', '.join(missing[:5])}."]})
    moving = [alert for alert in alerts if alert.incident_id != incident.pk]
    if not moving:
        raise WorkflowError("These alerts are already in this incident.")
    left = {alert.incident_id for alert in moving if alert.incident_id}
    Alert.objects.for_tenant(incident.tenant_id).filter(pk__in=[a.pk for a in moving]).update(
        incident=incident
    )
    observables.add_from_alerts(incident.tenant_id, incident.pk, moving)
    for previous in Incident.objects.for_tenant(incident.tenant_id).filter(pk__in=list(left)):
        previous.alert_count = (
            Alert.objects.for_tenant(incident.tenant_id).filter(incident=previous).count()
        )
        previous.save(update_fields=["alert_count", "updated_at"])
        _timeline(
            previous,
            actor,
            "alerts_moved",
            f"Alerts moved to {incident.title}",
            {
                "to": str(incident.pk),
                "alerts": [str(a.pk) for a in moving if a.incident_id == previous.pk],
            },
        )
        _publish(previous, "alerts_moved")
    seen = [a.observed_at or a.received_at for a in moving]
    incident.alert_count = (
        Alert.objects.for_tenant(incident.tenant_id).filter(incident=incident).count()
    )
    incident.first_seen = min([incident.first_seen, *seen])
    incident.last_seen = max([incident.last_seen, *seen])
    incident.save(update_fields=["alert_count", "first_seen", "last_seen", "updated_at"])
    _timeline(
        incident,
        actor,
        "alerts_promoted",
        f"{len(moving)} alert(s) added by {actor.username}",
        {"alerts": [str(a.pk) for a in moving]},
    )
    audit.record(
        "incident.alerts_promoted",
        actor=actor,
        tenant=audit_tenant(incident.tlp, incident.tenant_id),
        obj=incident,
        request=request,
        summary=f"{len(moving)} alert(s) promoted into incident '{incident.title[:200]}'",
        data={
            "alerts": [str(a.pk) for a in moving],
            **audit_data(incident.tlp, incident.tenant_id),
        },
    )
    worst = max(moving, key=lambda a: a.severity_rank)
    if worst.severity_rank > incident.severity_rank:
        incident_raise_severity(
            incident, worst.severity, reason="a promoted alert is more severe", actor=actor
        )
    _publish(incident, "alerts_added")
    return incident, len(moving)


# --- intake sources: the API's and the settings page's changes --------------------------------


def source_create(source: IntakeSource, *, request=None) -> str:
    """Saves a new source (its tenant, name and kind set) with a fresh key; returns the key,
    which is shown this once. Raises IntegrityError for a name the tenant already uses."""
    key = source.set_new_key()
    with transaction.atomic():
        source.save()
    audit.record(
        "intake_key.created",
        tenant=source.tenant_id,
        obj=source,
        request=request,
        summary=f"intake source '{source.name}' ({source.kind}) created",
    )
    return key


def source_updated(source: IntakeSource, changes: dict, *, request=None) -> None:
    audit.record(
        "intake_source.updated",
        tenant=source.tenant_id,
        obj=source,
        request=request,
        summary=f"intake source '{source.name}' changed",
        data={k: str(v) for k, v in changes.items()},
    )


def source_rotate_key(source: IntakeSource, *, request=None) -> str:
    """A new key; the old one stops working at once, and a disabled source is active again."""
    key = source.set_new_key()
    source.key_rotated_at = timezone.now()
    source.status = IntakeSource.Status.ACTIVE
    source.save(update_fields=["key_prefix", "key_digest", "key_rotated_at", "status"])
    audit.record(
        "intake_key.rotated",
        tenant=source.tenant_id,
        obj=source,
        request=request,
        summary=f"intake key of '{source.name}' rotated; the old key is void",
    )
    return key


def source_revoke(source: IntakeSource, *, request=None) -> None:
    """Disables the source and voids its key; its alerts stay."""
    source.status = IntakeSource.Status.DISABLED
    # A digest no key can have: the old key is void even if the source is re-enabled.
    source.key_digest = f"revoked:{source.pk.hex}"
    source.save(update_fields=["status", "key_digest"])
    audit.record(
        "intake_key.revoked",
        tenant=source.tenant_id,
        obj=source,
        request=request,
        summary=f"intake source '{source.name}' disabled and its key revoked",
    )


@transaction.atomic
def incident_raise_severity(
    incident: Incident,
    severity: str,
    *,
    reason: str,
    actor: User | None = None,
    visibility: str = Visibility.SHARED,
    data: dict | None = None,
    announce: bool = True,
) -> bool:
    """Raise the incident to at least `severity` (never lowers it): timeline, the apps above
    (incident_changed), the stream. False when it already was that severe. `announce=False`:
    the caller publishes the `incident.updated` event itself (with others of its batch)."""
    if severity not in SEVERITY_RANK:
        raise WorkflowError(f"'{severity}' is not a severity.")
    incident = _locked(incident)
    before = incident.severity
    if SEVERITY_RANK[severity] <= incident.severity_rank:
        return False
    incident.severity, incident.severity_rank = severity, SEVERITY_RANK[severity]
    incident.save(update_fields=["severity", "severity_rank", "updated_at"])
    _announce(incident, "severity", at=timezone.now(), actor=actor, before=before, after=severity)
    _timeline(
        incident,
        actor,
        "severity_raised",
        f"Severity {before} → {severity}: {reason}",
        {"from": before, "to": severity, "reason": reason, **(data or {})},
        visibility=visibility,
    )
    if announce:
        _publish(incident, "severity", visibility)
    return True


BULK_ACTIONS = ("acknowledge", "claim", "transition", "assign")


def incident_bulk_action(
    incident: Incident,
    action: str,
    *,
    actor: User,
    owner: User | None = None,
    status: str = "",
    reason: str = "",
    resolution: str = "",
) -> None:
    """One action of a bulk request (the API's and the queue page's) on one incident."""
    match action:
        case "acknowledge":
            incident_acknowledge(incident, actor=actor)
        case "claim":
            incident_assign(incident, actor=actor, owner=actor)
        case "assign":
            incident_assign(incident, actor=actor, owner=owner)
        case "transition":
            incident_transition(incident, status, actor=actor, reason=reason, resolution=resolution)
        case _:
            raise WorkflowError(f"Unknown action {action!r}.")


def open_statuses() -> tuple[str, ...]:
    return tuple(s.value for s in OPEN_STATUSES)


# --- classification: TLP and PAP ------------------------------------------------------------

# The key naming an item in the data of the timeline entries written about it.
TIMELINE_KEYS = {
    "comment": "comment",
    "task": "task",
    "attachment": "attachment",
    "incidentobservable": "observable",
}
CLASSIFIED = {
    "incident": "the incident",
    "comment": "a comment",
    "task": "a task",
    "attachment": "an evidence file",
    "incidentobservable": "an observable",
}


@transaction.atomic
def item_classify(
    item,
    *,
    incident: Incident,
    actor: User,
    tlp: str | None = None,
    pap: str | None = None,
    request=None,
):
    """A new TLP (and PAP, on incidents and observables) for the incident or one item of it,
    already checked (alerts.tlp.check_tlp). On the timeline and in the audit log; both carry
    the stricter of the old and new TLP, so the change leaks neither (a RED one's entries are
    the MSSP's only: an internal timeline entry, the MSSP's own audit log)."""
    from . import tlp as classification

    model = type(item)
    row = model.objects.for_tenant(item.tenant_id).select_for_update().get(pk=item.pk)
    before = {"tlp": row.tlp, "pap": getattr(row, "pap", None)}
    changed = []
    if tlp and tlp != row.tlp:
        row.tlp = tlp
        changed.append("tlp")
    if pap and hasattr(row, "pap") and pap != row.pap:
        row.pap = pap
        changed.append("pap")
    if not changed:
        return row
    row.save(update_fields=changed)
    kind = model._meta.model_name
    what = CLASSIFIED.get(kind, kind)
    key = TIMELINE_KEYS.get(kind)
    if key and "tlp" in changed:
        # The entries written about the item follow it (a RED one's become internal too).
        about = IncidentEvent.objects.for_tenant(incident.tenant_id).filter(
            incident_id=incident.pk, **{f"data__{key}": str(row.pk)}
        )
        about.update(tlp=row.tlp)
        if row.tlp == Tlp.RED:
            about.update(visibility=Visibility.INTERNAL)
    level = classification.stricter(before["tlp"], row.tlp)
    words = [
        f"{name.upper()} of {what} changed from {before[name].upper()} to "
        f"{getattr(row, name).upper()}"
        for name in changed
    ]
    summary = "; ".join(words)
    data = {"item": kind, "id": str(row.pk)}
    for name in changed:
        data[f"{name}_from"], data[f"{name}_to"] = before[name], getattr(row, name)
    visibility = getattr(row, "visibility", Visibility.SHARED)
    _timeline(incident, actor, "classified", summary, data, visibility=visibility, tlp=level)
    audit.record(
        "tlp.changed" if "tlp" in changed else "pap.changed",
        actor=actor,
        tenant=classification.audit_tenant(level, incident.tenant_id),
        obj=row,
        request=request,
        summary=summary,
        data={
            "incident": str(incident.pk),
            **classification.audit_data(level, incident.tenant_id),
            **data,
        },
    )
    _publish(incident, "classified", visibility, tlp=level)
    return row
