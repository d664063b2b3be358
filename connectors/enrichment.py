"""Enriching an incident's observable: what the tenant's enrichment services and the portal's
own sources say of it, kept per observable and source until the source's TTL.

Where a value may go (checked here, for every source, before anything is sent):
- only to the observable's own tenant's connectors, enabled, of an enrichment kind that looks
  up its type: never another tenant's, never one the tenant has not enabled;
- never outside the portal when the observable or its incident is TLP:RED or TLP:AMBER+STRICT
  (alerts.tlp: RED is the MSSP's alone, AMBER+STRICT never leaves the portal), nor when their
  PAP forbids outside look-ups (`pap_allows(..., Use.LOOKUP)`: PAP:RED);
- DNS resolution asks resolvers and, in the end, the domain's own name servers, which the
  adversary may run: it needs `Use.ACTIVE` (PAP:GREEN or CLEAR), and the TLP rule above.
The portal's own intel (indicators of the MSSP and of this tenant, this tenant's sightings)
needs no network and is always asked. Cross-customer sightings are not stored here: MSSP
staff see them on the observable itself (alerts' `other_tenants`), customers never.

A run writes one timeline entry on the incident (carrying the observable's visibility and
TLP) and one audit entry; each HTTP call is a ConnectorCall of the incident."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.utils import timezone

from alerts import tlp as classification
from alerts.models import IncidentEvent, IncidentObservable, Pap, Tlp, Visibility
from tenants import audit

from . import kinds
from .http import ConnectorClient, ConnectorError
from .models import Connector, Enrichment

logger = logging.getLogger("mssp.connectors")

RAW_LIMIT = 16 * 1024  # characters of a source's answer kept (JSON)
FAILED_TTL = timedelta(minutes=10)  # a failed look-up is not repeated on every click
INTEL_TTL = timedelta(hours=1)
DNS_TTL = timedelta(hours=1)
NEVER_LEAVES = frozenset({Tlp.RED.value, Tlp.AMBER_STRICT.value})
PAP_RANK = {Pap.CLEAR: 0, Pap.GREEN: 1, Pap.AMBER: 2, Pap.RED: 3}
DNS_TYPES = frozenset({"domain", "hostname", "ip"})


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str


@dataclass
class Run:
    enrichments: list[Enrichment]
    skipped: list[Skipped]


def _stricter_pap(*levels: str) -> str:
    return max(levels, key=lambda level: PAP_RANK.get(level, 99))  # type: ignore[call-overload]


def classification_of(observable: IncidentObservable) -> tuple[str, str]:
    """(TLP, PAP) of the observable, capped by its incident's."""
    incident = observable.incident
    return (
        classification.stricter(observable.tlp, incident.tlp),
        _stricter_pap(observable.pap, incident.pap),
    )


def may_leave(observable: IncidentObservable, use: classification.Use) -> str:
    """Why the value may not be sent out for `use`, or "" when it may."""
    level, pap = classification_of(observable)
    if level in NEVER_LEAVES:
        return f"{classification.marking_label(level)}: the value never leaves the portal."
    if not classification.pap_allows(pap, use):
        return f"PAP:{pap.upper()}: no outside look-ups of this value."
    return ""


def _not_public(observable: IncidentObservable) -> str:
    """An address of a private network tells an outside service nothing and tells it of the
    customer's network: never sent."""
    if observable.type != "ip":
        return ""
    try:
        public = ipaddress.ip_address(observable.value).is_global
    except ValueError:
        return "Not an IP address."
    return "" if public else "A private or reserved address: outside services are not asked."


def enrichment_connectors(tenant_id: int) -> list[Connector]:
    """The tenant's own enabled enrichment connectors (never another tenant's)."""
    wanted = [s.kind for s in kinds.specs(kinds.Purpose.ENRICHMENT)]
    rows = Connector.objects.for_tenant(tenant_id).filter(is_enabled=True, kind__in=wanted)
    return list(rows.order_by("name"))


def _bounded(raw: Any) -> Any:
    try:
        text = json.dumps(raw, default=str)
    except (TypeError, ValueError):
        return {}
    if len(text) <= RAW_LIMIT:
        return json.loads(text)
    return {"truncated": True, "excerpt": text[:RAW_LIMIT]}


def _fresh(
    observable: IncidentObservable, source: str, connector: Connector | None
) -> Enrichment | None:
    """A fresh answer of this source about this value: this observable's own, or one another
    incident of the same tenant got (copied here, keeping its times: the service is not asked
    twice about one value within its TTL). A failure is this observable's alone."""
    rows = Enrichment.objects.for_tenant(observable.tenant_id).filter(
        source=source, connector=connector, expires_at__gt=timezone.now()
    )
    own: Enrichment | None = rows.filter(observable=observable).order_by("-fetched_at").first()
    if own is not None:
        return own
    found: Enrichment | None = (
        rows.filter(observable__key=observable.key, observable__type=observable.type, error="")
        .order_by("-fetched_at")
        .first()
    )
    if found is None:
        return None
    Enrichment.objects.for_tenant(observable.tenant_id).filter(
        observable=observable, source=source, connector=connector
    ).delete()
    copy: Enrichment = Enrichment.objects.create(
        tenant_id=observable.tenant_id,
        observable=observable,
        source=source,
        connector=connector,
        source_name=found.source_name,
        verdict=found.verdict,
        score=found.score,
        summary=found.summary,
        raw=found.raw,
        fetched_at=found.fetched_at,
        expires_at=found.expires_at,
        requested_by=found.requested_by,
    )
    return copy


def _store(
    observable: IncidentObservable,
    source: str,
    connector: Connector | None,
    name: str,
    finding: kinds.Finding | None,
    ttl: timedelta,
    actor: Any,
    error: str = "",
) -> Enrichment:
    now = timezone.now()
    Enrichment.objects.for_tenant(observable.tenant_id).filter(
        observable=observable, source=source, connector=connector
    ).delete()
    made: Enrichment = Enrichment.objects.create(
        tenant_id=observable.tenant_id,
        observable=observable,
        source=source,
        connector=connector,
        source_name=name[:100],
        verdict=finding.verdict if finding else Enrichment.Verdict.UNKNOWN,
        score=finding.score if finding else None,
        summary=(finding.summary if finding else "")[:500],
        raw=_bounded(finding.raw) if finding and finding.raw else {},
        error=error[:500],
        fetched_at=now,
        expires_at=now + (FAILED_TTL if error else ttl),
        requested_by=actor if getattr(actor, "pk", None) else None,
    )
    return made


# --- built-in sources --------------------------------------------------------------------------
def intel_finding(observable: IncidentObservable) -> kinds.Finding:
    """The MSSP's and this tenant's indicators naming the value, and this tenant's own
    sightings of it; only what this tenant's customers may see (no TLP:RED global indicator)."""
    from intel.matching import customer_may_see, find_hits
    from intel.models import Sighting

    item = {"type": observable.type, "value": observable.value}
    hits = find_hits(observable.tenant_id, [(None, [item], "", None)])
    shown = [h for h in hits if customer_may_see(h.indicator[1], h.indicator[4])]
    days = Sighting.objects.for_tenant(observable.tenant_id).filter(key=observable.key).count()
    strongest = max((h.indicator[5] for h in shown), default=0)
    if shown:
        verdict = kinds.Verdict.MALICIOUS if strongest >= 80 else kinds.Verdict.SUSPICIOUS
        summary = f"Named by {len(shown)} indicator(s), confidence up to {strongest}"
    else:
        verdict = kinds.Verdict.UNKNOWN
        summary = "No indicator names it"
    summary += f"; seen here on {days} day(s)." if days else "."
    raw = {
        "indicators": [
            {"type": h.indicator[2], "value": h.indicator[3], "confidence": h.indicator[5]}
            for h in shown[:20]
        ],
        "sighting_days": days,
    }
    return kinds.Finding(verdict, strongest if shown else None, summary, raw)


def _resolve(kind: str, value: str) -> list[str]:
    if kind == "ip":
        return [socket.gethostbyaddr(value)[0]]
    infos = socket.getaddrinfo(value, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def dns_finding(observable: IncidentObservable) -> kinds.Finding:
    """The names an address has, or the addresses a name has (the system's resolver, bounded
    by ENRICHMENT_DNS_TIMEOUT seconds)."""
    timeout = float(getattr(settings, "ENRICHMENT_DNS_TIMEOUT", 3.0))
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        found = pool.submit(_resolve, observable.type, observable.value).result(timeout)
    except FutureTimeout:
        return kinds.Finding(kinds.Verdict.UNKNOWN, None, "DNS did not answer in time.", {})
    except (OSError, UnicodeError, ValueError):
        return kinds.Finding(kinds.Verdict.UNKNOWN, None, "Does not resolve.", {"answers": []})
    finally:
        pool.shutdown(wait=False)
    found = found[:20]
    what = "Names" if observable.type == "ip" else "Resolves to"
    return kinds.Finding(
        kinds.Verdict.UNKNOWN, None, f"{what}: {', '.join(found)}"[:480], {"answers": found}
    )


# --- the run -----------------------------------------------------------------------------------
def enrich(
    observable: IncidentObservable,
    *,
    actor: Any = None,
    connector_ids: list[Any] | None = None,
    refresh: bool = False,
    request: Any = None,
    dns: bool = True,
) -> Run:
    """Ask every source that may be asked (see the module's rules); a fresh answer already
    held is kept unless `refresh`. Never raises for a source's failure: its row says why."""
    tenant_id = observable.tenant_id
    enrichments: list[Enrichment] = []
    skipped: list[Skipped] = []
    asked: list[str] = []

    def take(
        source: str,
        connector: Connector | None,
        name: str,
        ttl: timedelta,
        lookup: Callable[[], kinds.Finding],
    ) -> None:
        held = None if refresh else _fresh(observable, source, connector)
        if held is not None:
            enrichments.append(held)
            return
        try:
            finding, error = lookup(), ""
        except ConnectorError as exc:
            finding, error = None, exc.message
        except Exception:  # a client's bug or an answer it misread: a failed row, not a 500
            logger.exception("enrichment of %s by %s failed", observable.pk, name)
            finding, error = None, "The portal could not read the service's answer."
        enrichments.append(_store(observable, source, connector, name, finding, ttl, actor, error))
        asked.append(name)

    take(
        Enrichment.Source.INTEL,
        None,
        "Portal intel",
        INTEL_TTL,
        lambda: intel_finding(observable),
    )
    if dns and observable.type in DNS_TYPES and getattr(settings, "ENRICHMENT_DNS", True):
        reason = may_leave(observable, classification.Use.ACTIVE)
        if reason:
            skipped.append(Skipped("DNS", reason))
        else:
            take(Enrichment.Source.DNS, None, "DNS", DNS_TTL, lambda: dns_finding(observable))
    connectors = enrichment_connectors(tenant_id)
    if connector_ids is not None:
        wanted = {str(c) for c in connector_ids}
        connectors = [c for c in connectors if str(c.pk) in wanted]
    outbound = may_leave(observable, classification.Use.LOOKUP) or _not_public(observable)
    for connector in connectors:
        spec = kinds.spec(connector.kind)
        if spec.enrich is None or observable.type not in spec.observable_types:
            continue
        if outbound:
            skipped.append(Skipped(connector.name, outbound))
            continue
        client = ConnectorClient(
            connector, purpose="enrich", incident=observable.incident_id, actor=actor
        )
        hook = spec.enrich
        take(
            Enrichment.Source.CONNECTOR,
            connector,
            f"{spec.label} ({connector.name})" if connector.name != spec.label else spec.label,
            spec.ttl,
            partial(hook, client, observable.type, observable.value),
        )
    if asked:
        _record(observable, actor, enrichments, request)
    return Run(enrichments, skipped)


def _record(
    observable: IncidentObservable, actor: Any, rows: list[Enrichment], request: Any
) -> None:
    level = observable.tlp
    verdicts = ", ".join(f"{r.source_name}: {r.error and 'failed' or r.verdict}" for r in rows)
    summary = f"Enriched {observable.type} {observable.value[:200]} ({verdicts})"
    IncidentEvent.objects.create(
        tenant_id=observable.tenant_id,
        incident_id=observable.incident_id,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=getattr(actor, "username", "") or "",
        kind="observable_enriched",
        summary=summary[:500],
        data={
            "observable": str(observable.pk),
            "results": [
                {"source": r.source_name, "verdict": r.verdict, "error": bool(r.error)}
                for r in rows
            ],
        },
        visibility=Visibility.INTERNAL if level == Tlp.RED else observable.visibility,
        tlp=level,
    )
    shared = observable.visibility == Visibility.SHARED and classification.audit_may_carry(level)
    audit.record(
        "observable.enriched",
        actor=actor if getattr(actor, "pk", None) else None,
        tenant=classification.audit_tenant(level, observable.tenant_id),
        obj=observable,
        request=request,
        summary=(summary if shared else "an observable enriched")[:300],
        data={
            "incident": str(observable.incident_id),
            "sources": [r.source_name for r in rows],
            **classification.audit_data(level, observable.tenant_id),
        },
    )
