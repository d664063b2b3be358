"""Matching alerts' observables against the active indicators that apply to their tenant
(global ones and the tenant's own), at intake and in retro-hunts.

At intake (`on_alerts_ingested`, connected to alerts.signals.alerts_ingested) this runs in the
intake transaction, once per batch, with one statement whatever the batch's size: the
observables' canonical values, and every network that could contain each address, joined by
equality to a partial index of active indicators (see MATCH_SQL for why not `inet <<= cidr`).
On SQLite (the embedded mode) it is one `IN` query plus containment in Python over the active
CIDR indicators.

What a match does (`record_matches`):
- an IndicatorMatch row per (alert, indicator), the indicator's details copied;
- the severity rule: an indicator with confidence >= RAISE_MIN_CONFIDENCE (80) raises the
  alert's incident to at least the indicator's severity (alerts.services.
  incident_raise_severity: timeline, stream, the SLA app told). Lower confidence enriches
  only;
- one timeline entry per incident naming what matched;
- a live `intel.matched` event per alert, for MSSP staff and the customer's portal users.

Restricted matches (of an indicator the tenant's customers may not see: a TLP:RED global
one, `customer_may_see`) change nothing a customer can observe, or the customer could test
any value against the MSSP's RED list with its own intake source: no severity raise (the
severity, the SLA clocks that follow it, notifications and the stream would all tell), an
internal timeline entry that says what the rule would have done, an `intel.matched` event
for MSSP staff only, and the customer's API and pages never list the match. MSSP staff who
decide the match warrants it raise the incident by hand (intel.services.match_raise_severity):
an ordinary analyst action, which the customer sees as such, without the match.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from alerts import services as alert_services
from alerts.models import SEVERITY_RANK, Incident, IncidentEvent, Visibility
from tenants import events

from . import normalise
from .models import Indicator, IndicatorMatch, IndicatorType, Tlp

logger = logging.getLogger("mssp.intel")

RAISE_MIN_CONFIDENCE = 80
INTEL_AUDIENCE = events.ALERTS  # MSSP staff and the customer's portal users
STAFF_ONLY = (events.STAFF,)


@dataclass(frozen=True)
class Hit:
    """One indicator (as a row of values) named by one observable of one alert."""

    alert_id: object
    incident_id: object
    observable_type: str
    observable_value: str
    indicator: tuple  # INDICATOR_COLUMNS


INDICATOR_COLUMNS = ("id", "tenant_id", "type", "value", "tlp", "confidence", "severity")

# The observables' own values, and for each address every network that could hold it as an
# indicator (IPv4 /8 to /31, IPv6 /16 to /127: intel.normalise.MIN_PREFIX), spelled as
# networks are stored ("198.51.100.0/24"), all looked up by equality on one index. Equality
# rather than `inet <<= cidr` on a GiST index: PostgreSQL's inet containment operators are not
# leakproof, so under row-level security the planner may not use them as index conditions
# before the policy's own checks, and every active network was scanned for every batch (1.7 s
# at 50,000 networks, measured); text equality is leakproof and costs one index probe a
# candidate (about 25 an IPv4 address).
MATCH_SQL = """
WITH o(v) AS (
    SELECT unnest(%(values)s::text[])
    UNION ALL
    SELECT network(set_masklen(a.ip, p))::text
    FROM unnest(%(ips4)s::inet[]) AS a(ip), generate_series(8, 31) AS p
    UNION ALL
    SELECT network(set_masklen(a.ip, p))::text
    FROM unnest(%(ips6)s::inet[]) AS a(ip), generate_series(16, 127) AS p
)
SELECT {columns}, o.v FROM o
JOIN intel_indicator i ON i.value = o.v
WHERE i.status = 'active' AND (i.tenant_id IS NULL OR i.tenant_id = %(tenant)s)
  AND i.valid_from <= %(now)s AND (i.valid_until IS NULL OR i.valid_until > %(now)s)
"""


def lookups_of(observables: Iterable, cache: dict | None = None) -> list[tuple[str, str, str, str]]:
    """[(observable type, observable value, indicator type, lookup value)] of an alert.
    `cache` (per batch) keeps each distinct observable's lookups: hosts and addresses repeat
    across a batch's alerts."""
    found = []
    for item in observables or ():
        if not isinstance(item, dict):
            continue
        kind, value = str(item.get("type", "")), item.get("value")
        if not isinstance(value, str) or not value:
            continue
        key = (kind, value)
        lookups = cache.get(key) if cache is not None else None
        if lookups is None:
            lookups = normalise.observable_lookups(kind, value)
            if cache is not None:
                cache[key] = lookups
        for indicator_type, lookup in lookups:
            found.append((kind, value, indicator_type, lookup))
    return found


def find_hits(tenant_id: int, alerts: list[tuple], now: datetime | None = None) -> list[Hit]:
    """The hits of [(alert id, observables, severity, incident id)], one query on PostgreSQL."""
    now = now or timezone.now()
    wanted: dict[str, list[tuple]] = {}  # lookup value -> [(alert, incident, type, obs, ind type)]
    ips: dict[str, list[tuple]] = {}
    cache: dict = {}
    for alert_id, observables, _severity, incident_id in alerts:
        for kind, value, indicator_type, lookup in lookups_of(observables, cache):
            ref = (alert_id, incident_id, kind, value, indicator_type)
            wanted.setdefault(lookup, []).append(ref)
            if indicator_type == IndicatorType.IP:
                ips.setdefault(lookup, []).append(ref)
    if not wanted:
        return []
    if connection.vendor == "postgresql":
        rows = _query_postgresql(tenant_id, sorted(wanted), sorted(ips), now)
    else:
        rows = _query_python(tenant_id, sorted(wanted), sorted(ips), now)
    hits = []
    seen = set()
    for row in rows:
        indicator, matched = tuple(row[:-1]), row[-1]
        if indicator[2] == IndicatorType.CIDR:
            refs = _inside(indicator[3], ips)
        else:
            refs = wanted.get(matched, ())
        for alert_id, incident_id, kind, value, indicator_type in refs:
            if indicator[2] != IndicatorType.CIDR and indicator_type != indicator[2]:
                continue  # same text, another type (never in practice; keep types apart)
            key = (alert_id, indicator[0])
            if key in seen:
                continue
            seen.add(key)
            hits.append(Hit(alert_id, incident_id, kind, value, indicator))
    return hits


def _inside(network: str, ips: dict[str, list[tuple]]) -> list[tuple]:
    """The observables (refs) whose address is in `network`."""
    net = ipaddress.ip_network(network)
    found = []
    for address, refs in ips.items():
        parsed = ipaddress.ip_address(address)
        if parsed.version == net.version and parsed in net:
            found += refs
    return found


def _query_postgresql(tenant_id: int, values: list[str], ips: list[str], now) -> list[tuple]:
    sql = MATCH_SQL.format(columns=", ".join(f"i.{c}" for c in INDICATOR_COLUMNS))
    with connection.cursor() as cursor:
        ips4 = [ip for ip in ips if ":" not in ip]
        ips6 = [ip for ip in ips if ":" in ip]
        params = {"values": values, "ips4": ips4, "ips6": ips6, "tenant": tenant_id, "now": now}
        cursor.execute(sql, params)
        return cursor.fetchall()


def _live(queryset, tenant_id: int, now):
    return queryset.filter(
        Q(tenant_id=tenant_id) | Q(tenant__isnull=True),
        status=Indicator.Status.ACTIVE,
        valid_from__lte=now,
    ).filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))


def _query_python(tenant_id: int, values: list[str], ips: list[str], now) -> list[tuple]:
    """SQLite: exact values by one IN query, containment over the active networks in Python."""
    base = Indicator.objects.dangerously_unscoped("matching: global and the tenant's own")
    rows = [
        (*row, row[3])
        for row in _live(base, tenant_id, now)
        .filter(value__in=values)
        .values_list(*INDICATOR_COLUMNS)
    ]
    if ips:
        networks = [
            (row, ipaddress.ip_network(row[3]))
            for row in _live(base, tenant_id, now)
            .filter(type=IndicatorType.CIDR)
            .values_list(*INDICATOR_COLUMNS)
        ]
        for ip in ips:
            address = ipaddress.ip_address(ip)
            rows += [
                (*row, ip)
                for row, net in networks
                if net.version == address.version and address in net
            ]
    return rows


# --- what a match does ------------------------------------------------------------------------
def customer_may_see(indicator_tenant_id, tlp: str) -> bool:
    """A customer sees matches of its own indicators, and of global ones unless TLP:RED."""
    return indicator_tenant_id is not None or tlp != Tlp.RED


def record_matches(
    tenant_id: int,
    tenant_slug: str,
    hits: list[Hit],
    *,
    origin: str,
    retro_hunt_id=None,
    now: datetime | None = None,
) -> list[IndicatorMatch]:
    """Store the hits that are new, raise severities by the rule, write the incidents'
    timelines and publish `intel.matched`. Runs in the caller's transaction, scoped to
    `tenant_id`."""
    if not hits:
        return []
    now = now or timezone.now()
    if origin == IndicatorMatch.Origin.RETRO_HUNT:
        known = set(
            IndicatorMatch.objects.for_tenant(tenant_id)
            .filter(alert_id__in={h.alert_id for h in hits})
            .values_list("alert_id", "indicator_id")
        )
        hits = [h for h in hits if (h.alert_id, h.indicator[0]) not in known]
    matches = []
    for hit in hits:
        ind_id, ind_tenant, ind_type, ind_value, tlp, confidence, severity = hit.indicator
        matches.append(
            IndicatorMatch(
                tenant_id=tenant_id,
                alert_id=hit.alert_id,
                incident_id=hit.incident_id,
                indicator_id=ind_id,
                retro_hunt_id=retro_hunt_id,
                origin=origin,
                observable_type=hit.observable_type,
                observable_value=hit.observable_value[:2048],
                indicator_type=ind_type,
                indicator_value=ind_value,
                indicator_global=ind_tenant is None,
                tlp=tlp,
                confidence=confidence,
                severity=severity,
                customer_visible=customer_may_see(ind_tenant, tlp),
                matched_at=now,
            )
        )
    if not matches:
        return []
    IndicatorMatch.objects.bulk_create(matches, ignore_conflicts=True)
    raised = _work_incidents(tenant_id, matches, now)
    items = [
        (
            "intel.matched",
            str(m.alert_id),
            {
                "incident": str(m.incident_id or ""),
                "observable_type": m.observable_type,
                "origin": m.origin,
            },
            INTEL_AUDIENCE if m.customer_visible else STAFF_ONLY,
        )
        for m in matches
    ]
    # the raised incidents' own announcement, in the same one publication as the matches
    items += [
        (
            "incident.updated",
            str(incident.pk),
            {"change": "severity", "status": incident.status},
            events.EVERYONE,
        )
        for incident in raised
    ]
    events.tenant_events(tenant_id, tenant_slug, items)
    return matches


def _work_incidents(tenant_id: int, matches: list[IndicatorMatch], now: datetime) -> list:
    """Timeline entries and severity raises (by the matches the customer may see only);
    returns the incidents raised."""
    by_incident: dict = {}
    for match in matches:
        if match.incident_id:
            by_incident.setdefault(match.incident_id, []).append(match)
    if not by_incident:
        return []
    incidents = {
        i.pk: i
        for i in Incident.objects.for_tenant(tenant_id)
        .select_related("tenant")
        .filter(pk__in=list(by_incident))
    }
    timeline, raised = [], []
    for incident_id, found in by_incident.items():
        incident = incidents.get(incident_id)
        if incident is None:
            continue
        shared = [m for m in found if m.customer_visible]
        restricted = [m for m in found if not m.customer_visible]
        if shared:
            timeline.append(_timeline_entry(incident, shared, Visibility.SHARED, now))
        if _raise(incident, shared):
            raised.append(incident)
        if restricted:
            entry = _timeline_entry(incident, restricted, Visibility.INTERNAL, now)
            would = _would_raise_to(incident, restricted)
            if would:
                entry.summary = (
                    f"{entry.summary[:300]}. Restricted: the incident's severity is left as it "
                    f"is (the rule would raise it to {would}); raise it by hand from the "
                    "match if warranted."
                )
                entry.data["would_raise_to"] = would
            timeline.append(entry)
    IncidentEvent.objects.bulk_create(timeline)
    return raised


def _describe(match: IndicatorMatch) -> str:
    scope = "MSSP intelligence" if match.indicator_global else "your own indicator"
    return (
        f"{match.observable_type} {match.observable_value[:120]} matched {scope} "
        f"({match.indicator_type}, confidence {match.confidence}, TLP:{match.tlp.upper()})"
    )


def _timeline_entry(incident, group: list[IndicatorMatch], visibility: str, now) -> IncidentEvent:
    summary = "Threat intelligence: " + "; ".join(_describe(m) for m in group[:3])
    if len(group) > 3:
        summary += f"; and {len(group) - 3} more"
    return IncidentEvent(
        tenant_id=incident.tenant_id,
        incident_id=incident.pk,
        at=now,
        kind="intel_matched",
        summary=summary[:500],
        data={
            "matches": [str(m.pk) for m in group[:50]],
            "alerts": sorted({str(m.alert_id) for m in group})[:50],
            "count": len(group),
        },
        visibility=visibility,
    )


def _strongest(incident: Incident, found: list[IndicatorMatch]) -> IndicatorMatch | None:
    """The confident match that would raise the open incident the most, if any would."""
    confident = [m for m in found if m.confidence >= RAISE_MIN_CONFIDENCE]
    if not confident or not incident.is_open:
        return None
    strongest = max(confident, key=lambda m: SEVERITY_RANK[m.severity])
    if SEVERITY_RANK[strongest.severity] <= incident.severity_rank:
        return None
    return strongest


def _would_raise_to(incident: Incident, restricted: list[IndicatorMatch]) -> str:
    strongest = _strongest(incident, restricted)
    return strongest.severity if strongest else ""


def _raise(incident: Incident, shared: list[IndicatorMatch]) -> bool:
    """The severity rule, applied to the matches the customer may see only: confident ones
    lift the incident to the indicator's severity. Whether it was raised."""
    strongest = _strongest(incident, shared)
    if strongest is None:
        return False
    raised = alert_services.incident_raise_severity(
        incident,
        strongest.severity,
        reason=(
            f"threat intelligence match ({strongest.observable_type} "
            f"{strongest.observable_value[:80]}, confidence {strongest.confidence})"
        ),
        data={"match": str(strongest.pk)},
        announce=False,
    )
    if raised:
        incident.severity = strongest.severity  # this copy too: restricted matches are next
        incident.severity_rank = SEVERITY_RANK[strongest.severity]
        IndicatorMatch.objects.for_tenant(incident.tenant_id).filter(
            pk__in=[
                m.pk
                for m in shared
                if m.confidence >= RAISE_MIN_CONFIDENCE and m.severity == strongest.severity
            ]
        ).update(severity_raised_to=strongest.severity)
    return raised


def on_alerts_ingested(sender, tenant_id, tenant_slug, alerts, at, **kwargs) -> None:
    """alerts.signals.alerts_ingested: record the batch's sightings and match it, in its
    transaction."""
    from . import sightings

    sightings.record(tenant_id, alerts, at)
    hits = find_hits(tenant_id, alerts, at)
    if hits:
        record_matches(tenant_id, tenant_slug, hits, origin=IndicatorMatch.Origin.INTAKE, now=at)
