"""TLP and PAP: the product's definition. Every page, API answer, export, report, stream event
and message asks the functions here; nothing else decides who may receive a classified item.

TLP (Traffic Light Protocol 2.0) says who may receive a piece of information. It is set on
incidents, comments, tasks, evidence files, observables and timeline entries; `visibility`
(internal / shared) stays the MSSP's working split and still hides regardless of TLP.

- **TLP:CLEAR, TLP:GREEN**: every member of the customer (viewer, responder, admin) and their
  API tokens read it; it may go into any of the customer's notification channels (chat
  channels, webhooks, contact e-mail lists).
- **TLP:AMBER**: at the customer, only the members who work incidents (responders and admins;
  a token acts with its user's role) read it; viewers do not. It may reach named people who may
  read it (a page, an e-mail or SMS to a responder), never a shared channel (a Slack or Teams
  channel, a generic webhook, the customer's contact list): there the message is the neutral
  form, "an incident needs attention, open the portal", with the link and nothing else.
- **TLP:AMBER+STRICT**: read by the same members as AMBER, and besides kept out of files made
  to leave the portal: the post-incident report carries an AMBER+STRICT item only when the
  incident itself is AMBER+STRICT (the report is then marked so), and a periodic report's
  figures leave its incident out (as for RED).
- **TLP:RED**: MSSP staff only. Never in a customer's page, API answer, export, report, stream
  event, notification, calendar feed or audit-log entry (a RED item's audit entries go to the
  MSSP's own log, `audit_tenant`). A RED incident is gone from the customer's portal and API
  (lists, detail 404, counts, inbox, dashboard, stream) and from the incident counts of its
  periodic reports (`REPORTED`, which also leaves AMBER+STRICT out). SLA figures (compliance,
  MTTA/MTTR) still count its clocks: a number carries nothing of the incident, and marking an
  incident RED must never hide a missed target from the customer it was contracted with.

An incident's TLP caps everything on it: a child (comment, task, evidence, observable,
timeline entry) is read only when both its own TLP and its incident's allow (`visible`). A
timeline entry about an item carries that item's TLP; a RED item's entry is also internal. A
change of TLP is audited and on the timeline, the entry carrying the stricter of the old and
new level so that it leaks neither.

Who sets it (`check_tlp`): MSSP staff set any level on anything. A customer's responders and
admins set CLEAR, GREEN, AMBER or AMBER+STRICT on what they author (their comments, the
incidents they raise, their evidence and observables), never RED, and never change the TLP of
what the MSSP authored.

PAP (Permissible Actions Protocol) says what may be done with an observable or an incident's
information (`pap_allows`, `Use`):

- **PAP:CLEAR**: anything.
- **PAP:GREEN**: active steps too (block, isolate, ping the target: a connector's response
  actions).
- **PAP:AMBER**: passive checks only: looking it up in the MSSP's own data and at outside
  services (enrichment), comparing it across the MSSP's customers; nothing the adversary
  could notice.
- **PAP:RED**: only what cannot be detected and stays with this customer: it is never compared
  with other customers' data (sightings at other customers, similar incidents elsewhere, hunts
  over several customers: alerts.hunts), sent to an outside service or acted on.

Connectors and response actions (issue 16) must ask `pap_allows(observable.pap, Use.ACTIVE)` or
`Use.LOOKUP` before acting on or sending out an observable, as the selectors here do for
`Use.CROSS_CUSTOMER`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

from django.db.models import Model, QuerySet

from tenants.access import Access
from tenants.actions import Invalid, Refused

from .models import Pap, Tlp

M = TypeVar("M", bound=Model)

RANK = {Tlp.CLEAR: 0, Tlp.GREEN: 1, Tlp.AMBER: 2, Tlp.AMBER_STRICT: 3, Tlp.RED: 4}
EVERY_MEMBER = frozenset({Tlp.CLEAR.value, Tlp.GREEN.value})
WORKERS = EVERY_MEMBER | {Tlp.AMBER.value, Tlp.AMBER_STRICT.value}
EVERY_LEVEL = WORKERS | {Tlp.RED.value}
CUSTOMER_SETS = WORKERS  # what a customer may set on what it authors
# The incidents a customer's periodic report counts: RED and AMBER+STRICT ones are left out
# (they never leave the MSSP, or never leave the portal). SLA figures count every clock.
REPORTED = EVERY_MEMBER | {Tlp.AMBER.value}

# The stream's clearance of an event (tenants.events): who at the customer may receive it.
CLEARANCE_WORKERS = "workers"

NO_RED = "TLP:RED is for MSSP staff only: choose CLEAR, GREEN, AMBER or AMBER+STRICT."
NOT_YOURS = "The TLP of what the MSSP wrote is the MSSP's to set."
UNKNOWN_TLP = "Not a TLP level: choose clear, green, amber, amber+strict or red."
UNKNOWN_PAP = "Not a PAP level: choose clear, green, amber or red."

# The TLP 2.0 colours (FIRST): text on black, and the accessible label said out loud.
COLOURS = {
    Tlp.CLEAR: "#ffffff",
    Tlp.GREEN: "#33ff00",
    Tlp.AMBER: "#ffc000",
    Tlp.AMBER_STRICT: "#ffc000",
    Tlp.RED: "#ff2b2b",
}
MEANINGS = {
    Tlp.CLEAR: "no limit on who may receive it",
    Tlp.GREEN: "every member of the customer",
    Tlp.AMBER: "the customer's responders and admins only",
    Tlp.AMBER_STRICT: "the customer's responders and admins only, never outside the portal",
    Tlp.RED: "MSSP staff only",
}


# --- who may read ------------------------------------------------------------------------------


def readable(access: Access) -> frozenset[str]:
    """The TLP levels this caller may read."""
    if access.is_mssp_staff:
        return EVERY_LEVEL
    if access.is_customer_worker:
        return WORKERS
    if access.is_customer:
        return EVERY_MEMBER
    return frozenset()


def may_read(access: Access, level: str) -> bool:
    return level in readable(access)


def stricter(*levels: str) -> str:
    """The strictest of these levels (an unknown one counts as RED: fail closed)."""
    return max(levels, key=lambda level: RANK.get(level, RANK[Tlp.RED]))  # type: ignore[call-overload]


def at_most(level: str, ceiling: str) -> bool:
    """`level` is no stricter than `ceiling`."""
    return RANK.get(level, 99) <= RANK.get(ceiling, -1)  # type: ignore[call-overload]


def visible(access: Access, rows: QuerySet[M], *, incident: str | None = "incident") -> QuerySet[M]:
    """The rows this caller may read by TLP: their own level and, for an incident's child,
    their incident's (`incident` names the relation; None for incidents themselves)."""
    levels = readable(access)
    if levels == EVERY_LEVEL:
        return rows
    allowed = sorted(levels)
    rows = rows.filter(tlp__in=allowed)
    if incident:
        rows = rows.filter(**{f"{incident}__tlp__in": allowed})
    return rows


def visible_incidents(access: Access, rows: QuerySet[M]) -> QuerySet[M]:
    return visible(access, rows, incident=None)


def visible_alerts(access: Access, rows: QuerySet[M]) -> QuerySet[M]:
    """Alerts are the customer's own telemetry, but those grouped into an incident it may not
    read belong to that incident: a customer never sees the alerts of a RED incident (nor a
    viewer an AMBER one's)."""
    unreadable = sorted(EVERY_LEVEL - readable(access))
    if not unreadable:
        return rows
    return rows.exclude(incident__tlp__in=unreadable)


def narrow_api_views() -> None:
    """Every API view of a classified model reads through `visible` (tenants.api.base), so no
    view can forget it; the views' own rules (internal visibility) come on top."""
    from django.apps import apps

    from tenants.api.base import narrow_every_view

    narrow_every_view(apps.get_model("alerts", "Incident"), visible_incidents)
    narrow_every_view(apps.get_model("alerts", "Alert"), visible_alerts)
    for label, name in (
        ("alerts", "Comment"),
        ("alerts", "IncidentEvent"),
        ("alerts", "IncidentObservable"),
        ("cases", "Task"),
        ("cases", "Attachment"),
    ):
        narrow_every_view(apps.get_model(label, name), visible)


def may_read_item(access: Access, item: Any) -> bool:
    """One loaded item (and its incident, when it has one) by TLP."""
    if not may_read(access, getattr(item, "tlp", Tlp.RED)):
        return False
    incident = getattr(item, "incident", None)
    return incident is None or may_read(access, incident.tlp)


# --- who may set -------------------------------------------------------------------------------


def settable(access: Access, *, mssp_authored: bool = False) -> list[tuple[str, str]]:
    """The (value, label) levels this caller may choose for an item (a form's select)."""
    if access.is_mssp_staff:
        return list(Tlp.choices)
    if mssp_authored or not access.is_customer_worker:
        return []
    return [(value, label) for value, label in Tlp.choices if value in CUSTOMER_SETS]


def check_tlp(
    access: Access,
    requested: str | None,
    *,
    current: str | None = None,
    mssp_authored: bool = False,
    field: str = "tlp",
) -> str:
    """The level an item gets: the requested one when this caller may set it, else the
    current one (or GREEN for a new item) when nothing was asked. A customer asking for RED is
    a 400; a customer changing the level of what the MSSP wrote is refused (403)."""
    if requested in (None, ""):
        return current or Tlp.GREEN
    if requested not in RANK:
        raise Invalid({field: [UNKNOWN_TLP]})
    if access.is_mssp_staff or requested == current:
        return str(requested)
    if mssp_authored:
        raise Refused(NOT_YOURS)
    if requested not in CUSTOMER_SETS:
        raise Invalid({field: [NO_RED]})
    return str(requested)


def check_pap(
    access: Access,
    requested: str | None,
    *,
    current: str | None = None,
    mssp_authored: bool = False,
    field: str = "pap",
) -> str:
    """As check_tlp for PAP: staff set any; a customer sets it on what it authors."""
    if requested in (None, ""):
        return current or Pap.GREEN
    if requested not in Pap.values:
        raise Invalid({field: [UNKNOWN_PAP]})
    if access.is_mssp_staff or requested == current:
        return str(requested)
    if mssp_authored:
        raise Refused(NOT_YOURS)
    return str(requested)


# --- the stream and messages -------------------------------------------------------------------


def stream_shape(level: str, audience: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """How an event about something of this level goes out (tenants.events): a RED one to MSSP
    staff only, an AMBER one to the customer's workers only (their sockets' clearance)."""
    from tenants import events

    if level == Tlp.RED or level not in RANK:
        return {"audience": [events.STAFF] if events.STAFF in audience else []}
    if level in (Tlp.AMBER, Tlp.AMBER_STRICT):
        return {"clearance": CLEARANCE_WORKERS}
    return {}


def _incident_of(event: dict[str, Any]) -> UUID | None:
    """The incident an event is about: incident.* and sla.* events name it as their object,
    the others (alerts, observables, escalations) in their data."""
    kind = str(event.get("type", ""))
    raw = event.get("id") if kind.startswith(("incident.", "sla.")) else None
    raw = raw or (event.get("data") or {}).get("incident")
    try:
        return UUID(str(raw)) if raw else None
    except ValueError:
        return None


def shape_events(tenant_id: int, built: list[dict[str, Any]]) -> None:
    """tenants.events' shaper: each event takes the stricter of its item's TLP and its
    incident's (one query for the batch, for incidents not CLEAR or GREEN)."""
    from .models import Incident

    ids = {found for event in built if (found := _incident_of(event)) is not None}
    levels: dict[UUID, str] = {}
    if ids:
        levels = dict(
            Incident.objects.for_tenant(tenant_id)
            .filter(pk__in=sorted(ids))
            .exclude(tlp__in=sorted(EVERY_MEMBER))
            .values_list("pk", "tlp")
        )
    for event in built:
        incident = _incident_of(event)
        level = stricter(event.get("tlp") or Tlp.GREEN, levels.get(incident, Tlp.GREEN))  # type: ignore[arg-type]
        event.update(stream_shape(level, event["audience"]))


def shared_channel_may_carry(level: str) -> bool:
    """Whether a shared channel (a Slack or Teams channel, a webhook, a contact list) may be
    told about something of this level: CLEAR and GREEN only; otherwise the neutral form."""
    return level in EVERY_MEMBER


def named_person_may_receive(level: str, *, works: bool, is_staff: bool) -> bool:
    """Whether a message about something of this level may go to one named person."""
    if is_staff:
        return True
    return level in (WORKERS if works else EVERY_MEMBER)


# --- reports -----------------------------------------------------------------------------------


def report_may_carry(level: str, marking: str) -> bool:
    """An item goes into a report marked `marking` when it is no stricter than the marking and
    not RED (a report is for the customer)."""
    return level != Tlp.RED and at_most(level, marking)


def files_may_carry(access: Access) -> list[str]:
    """The incident TLP levels a file made to leave the portal (an incident export) may carry
    for this caller: what they read, less RED and AMBER+STRICT (REPORTED), for MSSP staff too:
    a file outlives the portal's checks, so what may not leave the portal stays in it."""
    return sorted(readable(access) & REPORTED)


def marking_label(level: str) -> str:
    return str(Tlp(level).label) if level in RANK else str(Tlp.RED.label)


# --- PAP ---------------------------------------------------------------------------------------


class Use(StrEnum):
    """What the product (and connectors, issue 16) may do with a classified observable."""

    CROSS_CUSTOMER = "cross_customer"  # compared with other customers' data
    LOOKUP = "lookup"  # sent to an outside service for enrichment
    ACTIVE = "active"  # acted on where the adversary could notice (block, isolate)


PERMITS: dict[str, frozenset[Use]] = {
    Pap.CLEAR: frozenset(Use),
    Pap.GREEN: frozenset(Use),
    Pap.AMBER: frozenset({Use.CROSS_CUSTOMER, Use.LOOKUP}),
    Pap.RED: frozenset(),
}


def pap_allows(level: str, use: Use) -> bool:
    return use in PERMITS.get(level, frozenset())


def pap_barred(use: Use) -> list[str]:
    """The PAP levels that forbid `use` (a queryset's exclude)."""
    return sorted(level for level, permits in PERMITS.items() if use not in permits)


def audit_may_carry(level: str) -> bool:
    """Whether a customer-readable audit entry may name the item (its admins read it): not
    when it is RED."""
    return level in WORKERS


def audit_tenant(level: str, tenant_id: int) -> int | None:
    """The tenant an audit entry about something of this level is written in: a RED item's
    goes to the MSSP's own log (no tenant: MSSP staff read it, the customer's admins never),
    with the customer named in its data."""
    return None if level == Tlp.RED else tenant_id


def audit_data(level: str, tenant_id: int) -> dict[str, Any]:
    """What an audit entry adds when it goes to the MSSP's own log (audit_tenant)."""
    return {"tlp": level, "tenant_id": tenant_id} if level == Tlp.RED else {}
