"""The post-incident report: its facts, taken from the incident as its customer sees it, and
its workflow (draft, edit, refresh, approve, share, reopen), each audited and announced.

Internal material is left out by construction, not by a list of things to skip: the facts are
read through the same selectors the customer's own incident page and API use
(alerts.selectors.get_timeline / get_comments / get_observables, cases.selectors.incident_tasks
/ incident_attachments), called with the Access of a viewer of the incident's tenant
(`customer_access`). Whatever those selectors hide from that customer (internal comments and
timeline entries, internal tasks, internal evidence, internal observables; sightings at other
customers are never asked for) never reaches the snapshot, so no page, PDF or API answer made
from it can show it, to staff or customer alike.

TLP (alerts.tlp): the report is marked with its incident's TLP (`facts["tlp"]`, printed at the
top and foot of every page) and read only by whom that marking allows. Its lens is a viewer's
for a CLEAR or GREEN incident and a responder's for an AMBER or AMBER+STRICT one, and an item
stricter than the marking is left out (an AMBER+STRICT comment is in an AMBER+STRICT
incident's report only); nothing RED is ever in it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from alerts import selectors as incident_selectors
from alerts import tlp
from alerts.models import Incident, Tlp
from cases import custom_fields
from cases import selectors as case_selectors
from cases.models import TaskStatus
from sla.models import SlaClock, Target
from tenants import audit, events
from tenants.access import Access
from tenants.actions import Invalid
from tenants.models import Membership, User

from .models import IncidentReport

FACTS_VERSION = 1
TIMELINE_MAX = 500  # entries kept in the snapshot (the customer's page shows as many)
COMMENT_MAX = 4000  # characters of one comment kept in the timeline
TARGET_LABELS = {t.value: t.label for t in Target}

ALREADY = "This incident already has a post-incident report."
NOT_A_DRAFT = "The report is {status}: reopen it as a draft to change it."
FOUR_EYES = (
    "You last changed this report, so someone else approves it: another lead, manager or "
    "MSSP admin (four eyes)."
)
NOT_APPROVED = "Only an approved report is shared: approve it first."
ALREADY_SHARED = "The report is already shared with the customer."
ALREADY_DRAFT = "The report is already a draft."


def customer_access(tenant_id: int, marking: str = Tlp.GREEN) -> Access:
    """What a member of the tenant who may read the report's marking sees: the lens every fact
    of the report is read through (a viewer's, or a responder's for an AMBER report)."""
    role = Membership.Role.VIEWER if marking in tlp.EVERY_MEMBER else Membership.Role.RESPONDER
    return Access(
        user_id=None,
        tenant_ids=frozenset({tenant_id}),
        customer_role=role,
        customer_tenant_id=tenant_id,
    )


def marking(report: IncidentReport, incident: Incident | None = None) -> str:
    """The report's TLP: the marking its facts were taken under, or its incident's now if
    that is stricter (a report never outlives its incident's classification)."""
    incident = incident or report.incident
    return tlp.stricter((report.facts or {}).get("tlp") or Tlp.GREEN, incident.tlp)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _timeline(customer: Access, incident: Incident, level: str) -> list[dict[str, Any]]:
    """The shared timeline, oldest first; a shared comment's entry carries its whole text."""
    comments = {
        str(c.pk): c
        for c in incident_selectors.get_comments(customer, incident)[:TIMELINE_MAX]
        if tlp.report_may_carry(c.tlp, level)
    }
    rows = []
    entries = incident_selectors.get_timeline(customer, incident).order_by("at", "id")
    for entry in entries[:TIMELINE_MAX]:
        if not tlp.report_may_carry(entry.tlp, level):
            continue
        text = entry.summary
        if entry.kind == "comment":
            comment = comments.get(str((entry.data or {}).get("comment", "")))
            if comment is None:  # not among the comments the customer sees: not theirs to read
                continue
            text = comment.body[:COMMENT_MAX]
        rows.append(
            {"at": _iso(entry.at), "kind": entry.kind, "who": entry.actor_name, "text": text}
        )
    return rows


def _sla(incident: Incident) -> list[dict[str, Any]]:
    """Each of the incident's contracted targets: the MSSP's and, after an accepted hand-off,
    the in-house team's (a NOC's own internal target is the MSSP's business)."""
    clocks = (
        SlaClock.objects.for_tenant(incident.tenant_id)
        .filter(incident=incident, owner__in=[SlaClock.Owner.MSSP, SlaClock.Owner.CUSTOMER])
        .order_by("started_at", "target")
    )
    rows = []
    for clock in clocks:
        taken = (clock.met_at - clock.started_at).total_seconds() if clock.met_at else None
        rows.append(
            {
                "target": clock.target,
                "label": TARGET_LABELS.get(clock.target, clock.target),
                "owner": clock.owner,
                "state": clock.state,
                "target_minutes": clock.target_minutes,
                "started_at": _iso(clock.started_at),
                "due_at": _iso(clock.due_at),
                "met_at": _iso(clock.met_at),
                "breached": clock.breached_at is not None or clock.state == "breached",
                "taken_seconds": taken,
            }
        )
    return rows


def incident_facts(incident: Incident) -> dict[str, Any]:
    """The snapshot the report shows: see the module docstring for why it holds nothing
    internal."""
    level = incident.tlp
    customer = customer_access(incident.tenant_id, level)
    tenant = incident.tenant
    tasks = [
        t
        for t in case_selectors.incident_tasks(customer, incident)
        if t.status == TaskStatus.DONE and tlp.report_may_carry(t.tlp, level)
    ]
    attachments = [
        a
        for a in case_selectors.incident_attachments(customer, incident)
        if a.deleted_at is None and tlp.report_may_carry(a.tlp, level)
    ]
    return {
        "version": FACTS_VERSION,
        "tlp": level,
        "title": incident.title,
        "customer": tenant.name,
        "timezone": tenant.timezone or "UTC",
        "severity": incident.severity,
        "category": incident.category,
        "origin": incident.get_origin_display(),
        "status": incident.get_status_display(),
        "resolution": incident.get_resolution_display() if incident.resolution else "",
        "opened_at": _iso(incident.created_at),
        "acknowledged_at": _iso(incident.acknowledged_at),
        "contained_at": _iso(incident.contained_at),
        "resolved_at": _iso(incident.resolved_at),
        "timeline": _timeline(customer, incident, level),
        "containment": [
            {
                "at": _iso(c.at),
                "action": c.action,
                "target": c.target,
                "result": c.get_result_display(),
                "who": c.actor_name,
            }
            for c in incident.containment.order_by("at", "id")[:TIMELINE_MAX]
        ],
        "tasks_done": [
            {
                "title": t.title,
                "phase": t.get_phase_display(),
                "completed_at": _iso(t.completed_at),
                "by": t.completed_by.username if t.completed_by else "",
            }
            for t in tasks
        ],
        "observables": [
            {"type": o.type, "value": o.value, "tag": o.get_tag_display() if o.tag else ""}
            for o in incident_selectors.get_observables(customer, incident)
            if tlp.report_may_carry(o.tlp, level)
        ],
        "evidence": [
            {"name": a.name, "sha256": a.sha256, "size": a.size, "added_at": _iso(a.created_at)}
            for a in attachments
        ],
        "sla": _sla(incident),
        "fields": _fields(incident),
    }


def _fields(incident: Incident) -> list[dict[str, str]]:
    """The customer-visible custom fields that hold a value (cases.custom_fields): the MSSP's
    internal ones are never asked for."""
    fields = custom_fields.definitions(incident.tenant_id, staff=False)
    return [
        {"label": field.label, "value": custom_fields.display(value)}
        for field, value in custom_fields.shown(fields, incident.custom_fields or {})
    ]


# --- the workflow ------------------------------------------------------------------------------


def _record(report: IncidentReport, what: str, actor: User | None, request, summary: str) -> None:
    audit.record(
        f"incident_report.{what}",
        actor=actor,
        tenant=report.tenant_id,
        obj=report,
        request=request,
        summary=summary,
        data={"incident": str(report.incident_id), "status": report.status},
    )


def _publish(report: IncidentReport, change: str, *, customer: bool) -> None:
    """The incident's pages refresh. A draft or an approval is the MSSP's business; sharing
    (and withdrawing a shared report) reaches the customer's portal too, as every other
    customer-visible change of the incident does (alerts.services)."""
    events.tenant_event(
        report.tenant_id,
        report.tenant.slug,
        "incident.updated",
        str(report.incident_id),
        {"change": change, "report": report.status},
        audience=events.EVERYONE if customer else (events.STAFF,),
    )


def _must_be_draft(report: IncidentReport) -> None:
    if report.status != IncidentReport.Status.DRAFT:
        raise Invalid(NOT_A_DRAFT.format(status=report.get_status_display().lower()))


def report_draft(
    incident: Incident, *, actor: User, request: HttpRequest | None = None, **sections: str
) -> IncidentReport:
    if IncidentReport.objects.for_tenant(incident.tenant_id).filter(incident=incident).exists():
        raise Invalid(ALREADY, status_code=409)
    now = timezone.now()
    report = IncidentReport(
        tenant_id=incident.tenant_id,
        incident=incident,
        facts=incident_facts(incident),
        facts_at=now,
        drafted_by=actor,
        drafted_at=now,
        edited_by=actor,
        edited_at=now,
    )
    report.tenant = incident.tenant
    for name in IncidentReport.SECTIONS:
        setattr(report, name, sections.get(name) or "")
    report.save(force_insert=True)
    _record(report, "drafted", actor, request, f"Post-incident report drafted: {incident.title}")
    _publish(report, "report", customer=False)
    return report


def report_edit(
    report: IncidentReport,
    *,
    actor: User,
    request: HttpRequest | None = None,
    refresh_facts: bool = False,
    **sections: str,
) -> IncidentReport:
    _must_be_draft(report)
    changed = [name for name in IncidentReport.SECTIONS if name in sections]
    for name in changed:
        setattr(report, name, sections[name] or "")
    now = timezone.now()
    if refresh_facts:
        report.facts = incident_facts(report.incident)
        report.facts_at = now
    report.edited_by, report.edited_at = actor, now
    report.save()
    what = ", ".join(changed + (["facts"] if refresh_facts else [])) or "nothing"
    _record(report, "edited", actor, request, f"Post-incident report edited: {what}")
    _publish(report, "report", customer=False)
    return report


def report_approve(
    report: IncidentReport, *, actor: User, request: HttpRequest | None = None
) -> IncidentReport:
    _must_be_draft(report)
    if report.edited_by_id is not None and report.edited_by_id == actor.pk:
        raise Invalid(FOUR_EYES)
    report.status = IncidentReport.Status.APPROVED
    report.approved_by, report.approved_at = actor, timezone.now()
    report.save()
    _record(report, "approved", actor, request, "Post-incident report approved")
    _publish(report, "report", customer=False)
    return report


def report_share(
    report: IncidentReport, *, actor: User, request: HttpRequest | None = None
) -> IncidentReport:
    if report.status == IncidentReport.Status.SHARED:
        raise Invalid(ALREADY_SHARED)
    if report.status != IncidentReport.Status.APPROVED:
        raise Invalid(NOT_APPROVED)
    report.status = IncidentReport.Status.SHARED
    report.shared_by, report.shared_at = actor, timezone.now()
    report.save()
    _record(report, "shared", actor, request, "Post-incident report shared with the customer")
    _publish(report, "report_shared", customer=True)
    return report


def report_reopen(
    report: IncidentReport, *, actor: User, request: HttpRequest | None = None
) -> IncidentReport:
    if report.status == IncidentReport.Status.DRAFT:
        raise Invalid(ALREADY_DRAFT)
    was_shared = report.status == IncidentReport.Status.SHARED
    report.status = IncidentReport.Status.DRAFT
    report.approved_by = report.shared_by = None
    report.approved_at = report.shared_at = None
    report.save()
    summary = "Post-incident report reopened as a draft" + (
        " (withdrawn from the customer)" if was_shared else ""
    )
    _record(report, "reopened", actor, request, summary)
    _publish(report, "report", customer=was_shared)
    return report
