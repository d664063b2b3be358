"""Threat-intelligence workflows: saving indicators (one, or an import's), retro-hunts, expiry.

Who may do what is intel.policy's; the actions (intel.actions) check it, then call these.
Customers never read global indicators; they see the matches on their own alerts (the match
rows, without the indicator's source or description) except those of TLP:RED global
indicators.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from alerts import services as alert_services
from alerts.models import SEVERITY_RANK, Alert, Incident, IncidentEvent, Visibility
from tenants import jobs
from tenants.actions import Invalid
from tenants.models import Tenant, User
from tenants.rls import rls_bypass, tenant_scope

from . import matching, parsing
from .models import Indicator, IndicatorImport, IndicatorMatch, IndicatorType, RetroHunt

logger = logging.getLogger("mssp.intel")

IMPORT_CHUNK = 500
HUNT_CHUNK = 2000
ATTRS = ("tlp", "confidence", "severity", "source", "description", "valid_from", "valid_until")


class IntelError(Invalid):
    """A change that cannot be made in the target's state; the message says why. The API
    answers 409 (the state conflicts)."""

    status_code = 409


# --- indicators ---------------------------------------------------------------------------------
def _scope(tenant_id: int | None):
    if tenant_id is None:
        return Indicator.objects.dangerously_unscoped("global indicators").filter(
            tenant__isnull=True
        )
    return Indicator.objects.for_tenant(tenant_id)


def _status_for(attrs: dict, now: datetime) -> str:
    until = attrs.get("valid_until")
    return Indicator.Status.EXPIRED if until and until <= now else Indicator.Status.ACTIVE


@transaction.atomic
def indicator_create(
    tenant_id: int | None,
    kind: str,
    value: str,
    attrs: dict,
    *,
    actor: User | None,
    hunt: bool = True,
) -> tuple[Indicator, bool, RetroHunt | None]:
    """Save one indicator (already normalised) in its scope; an existing one of the same type
    and value is updated and made active again. A retro-hunt is started for it when it
    becomes active (`_hunt_needed`)."""
    now = timezone.now()
    attrs = {k: v for k, v in attrs.items() if k in ATTRS and v is not None}
    existing = _scope(tenant_id).select_for_update().filter(type=kind, value=value).first()
    if existing is None:
        indicator = Indicator(tenant_id=tenant_id, type=kind, value=value, created_by=actor)
        created, was_active = True, False
    else:
        indicator, created, was_active = existing, False, _active(existing, now)
        if attrs.get("tlp") and attrs["tlp"] != existing.tlp:
            _reclassify_matches(existing, attrs["tlp"])
    for name, attr in attrs.items():
        setattr(indicator, name, attr)
    indicator.status = _status_for({"valid_until": indicator.valid_until}, now)
    indicator.save()
    retro = None
    if hunt and _hunt_needed(was_active, indicator, now):
        retro = retro_hunt_start(tenant_id, indicator=indicator, actor=actor)
    return indicator, created, retro


def _active(indicator: Indicator, now: datetime) -> bool:
    """Active and not past its validity (the expiry sweep may not have marked it yet)."""
    return indicator.status == Indicator.Status.ACTIVE and (
        indicator.valid_until is None or indicator.valid_until > now
    )


def _hunt_needed(was_active: bool, indicator: Indicator, now: datetime) -> bool:
    """A retro-hunt searches INTEL_RETRO_HUNT_DAYS of alerts: worth it for an indicator that
    becomes active (new, or revoked / expired before), never for one saved again while active:
    intake has matched every alert since it was, and its first hunt those before (a changed
    TLP, confidence or severity finds no alert that was not matched already)."""
    return not was_active and _active(indicator, now)


def indicator_update(
    indicator: Indicator, changes: dict, *, actor: User | None = None
) -> Indicator:
    """tlp, confidence, severity, source, description, validity and status (active|revoked).
    An expired one given a validity that has not ended is active again; one that becomes
    active is retro-hunted (the alerts of the time it was not were not matched)."""
    now = timezone.now()
    was_active = _active(indicator, now)
    if "tlp" in changes and changes["tlp"] != indicator.tlp:
        _reclassify_matches(indicator, changes["tlp"])
    for name, value in changes.items():
        setattr(indicator, name, value)
    if indicator.status == Indicator.Status.EXPIRED and "valid_until" in changes:
        indicator.status = Indicator.Status.ACTIVE  # checked against the new end just below
    if (
        indicator.status == Indicator.Status.ACTIVE
        and indicator.valid_until
        and indicator.valid_until <= now
    ):
        indicator.status = Indicator.Status.EXPIRED
    indicator.save()
    if _hunt_needed(was_active, indicator, now):
        retro_hunt_start(indicator.tenant_id, indicator=indicator, actor=actor)
    return indicator


def indicator_delete(indicator: Indicator) -> None:
    """Deletes it; its matches and retro-hunts stay and lose the link. A global indicator's
    matches are in every tenant, most of them outside the caller's scope, so the links are
    cut with the scope lifted (whoever may manage the indicator may delete it)."""
    with rls_bypass(f"intel: indicator {indicator.pk} deleted"):
        indicator.delete()


def _reclassify_matches(indicator: Indicator, tlp: str) -> None:
    """A new TLP applies to the matches made before it too: a global indicator turned
    TLP:RED takes its matches, and their timeline entries, away from the customers (across
    tenants: the indicator is global, whoever changes it)."""
    visible = matching.customer_may_see(indicator.tenant_id, tlp)
    with rls_bypass(f"intel: TLP of indicator {indicator.pk} changed"):
        matches = IndicatorMatch.objects.dangerously_unscoped("an indicator's own matches")
        mine = matches.filter(indicator=indicator)
        rows = list(mine.values_list("pk", "incident_id"))
        mine.update(tlp=tlp, customer_visible=visible)
        if visible or not rows:
            return
        ids = {str(pk) for pk, _ in rows}
        entries = IncidentEvent.objects.dangerously_unscoped("the matches' timeline entries")
        # the entries naming the matches, and those of the raises they caused, whose reason
        # names the match (the severity stays: the customer saw it)
        hidden = [
            event.pk
            for event in entries.filter(
                kind__in=("intel_matched", "severity_raised"),
                incident_id__in={i for _, i in rows if i},
                visibility=Visibility.SHARED,
            ).only("pk", "kind", "data")
            if ids & set(event.data.get("matches", []))
            or (event.kind == "severity_raised" and event.data.get("match") in ids)
        ]
        entries.filter(pk__in=hidden).update(visibility=Visibility.INTERNAL)


# --- matches ----------------------------------------------------------------------------------
@transaction.atomic
def match_raise_severity(match: IndicatorMatch, *, actor: User) -> Incident:
    """MSSP staff raise the match's incident to the match's severity by hand. For the
    customer this is an ordinary analyst action (a shared timeline entry in the analyst's
    name, `incident.updated`, the SLA clocks following the new severity) that names neither
    the match nor its indicator, so that a restricted (TLP:RED) match stays restricted; the
    internal timeline entry ties it to the match for MSSP staff."""
    if not match.incident_id:
        raise IntelError("The matched alert belongs to no incident; open one first.")
    incident = (
        Incident.objects.for_tenant(match.tenant_id)
        .select_related("tenant")
        .filter(pk=match.incident_id)
        .first()
    )
    if incident is None or not incident.is_open:
        raise IntelError("The matched alert's incident is closed.")
    if SEVERITY_RANK[match.severity] <= incident.severity_rank:
        raise IntelError(f"The incident is already {incident.severity}.")
    before = incident.severity
    alert_services.incident_raise_severity(
        incident, match.severity, reason="raised by an analyst", actor=actor
    )
    IncidentEvent.objects.create(
        tenant_id=incident.tenant_id,
        incident=incident,
        actor=actor,
        actor_name=actor.username,
        kind="intel_raised",
        summary=(
            f"Severity {before} → {match.severity} by hand, from the threat intelligence match "
            f"{match.observable_type} {match.observable_value[:120]} "
            f"(TLP:{match.tlp.upper()}, confidence {match.confidence})"
        )[:500],
        data={"match": str(match.pk), "from": before, "to": match.severity},
        visibility=Visibility.INTERNAL,
    )
    IndicatorMatch.objects.for_tenant(match.tenant_id).filter(pk=match.pk).update(
        severity_raised_to=match.severity
    )
    match.severity_raised_to = match.severity
    return incident


# --- imports --------------------------------------------------------------------------------------
def import_create(
    tenant_id: int | None,
    fmt: str,
    content: str,
    *,
    filename: str = "",
    defaults: dict | None = None,
    actor: User | None,
) -> IndicatorImport:
    """Check the document is readable (an unreadable one raises parsing.UnreadableImport, the
    caller's 400), store it and start its background parse after commit."""
    total = parsing.count(fmt, content)
    limit = settings.INTEL_IMPORT_MAX_RECORDS
    if total > limit:
        raise parsing.UnreadableImport(
            f"The file has {total} records; an import takes at most {limit}. Split it."
        )
    record = IndicatorImport.objects.create(
        tenant_id=tenant_id,
        format=fmt,
        filename=filename[:255],
        content=content,
        size=len(content.encode()),
        defaults=_json_defaults(defaults or {}),
        total=total,
        created_by=actor,
    )
    jobs.start_after_commit("intel.tasks.run_import", tenant_id, record.pk)
    return record


def _json_defaults(defaults: dict) -> dict:
    return {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in defaults.items()
        if v not in (None, "")
    }


def _import_scope(tenant_id: int | None):
    return tenant_scope([tenant_id] if tenant_id else [], staff=tenant_id is None)


def _imports(tenant_id: int | None):
    if tenant_id is None:
        return IndicatorImport.objects.dangerously_unscoped("global import").filter(
            tenant__isnull=True
        )
    return IndicatorImport.objects.for_tenant(tenant_id)


def import_run(import_id: str, tenant_id: int | None) -> str:
    """Parse and save an import's records in chunks, each chunk its own transaction, progress
    and per-record errors stored as it goes. Idempotent: a finished import is left alone, and
    a redelivered one starts over (saving an indicator twice updates it)."""
    with _import_scope(tenant_id):
        record = _imports(tenant_id).select_for_update().filter(pk=import_id).first()
        if record is None or record.status in (
            IndicatorImport.Status.DONE,
            IndicatorImport.Status.FAILED,
        ):
            return record.status if record else "missing"
        record.status = IndicatorImport.Status.RUNNING
        record.started_at = record.updated_at = timezone.now()
        record.processed = record.created_count = record.updated_count = 0
        record.rejected_count = 0
        record.errors = []
        record.save()
    defaults = _parsed_defaults(record.defaults)
    errors: list[dict] = []
    counts = {"created": 0, "updated": 0, "revived": 0, "rejected": 0, "processed": 0}
    chunk: list[parsing.IndicatorRecord] = []
    try:
        for item in parsing.records(record.format, record.content):
            if isinstance(item, parsing.RecordError):
                counts["rejected"] += 1
                counts["processed"] += 1
                if len(errors) < IndicatorImport.MAX_ERRORS:
                    errors.append({"index": item.index, "error": item.error})
                continue
            chunk.append(item)
            if len(chunk) >= IMPORT_CHUNK:
                _save_chunk(record, chunk, defaults, counts, errors)
                chunk = []
        _save_chunk(record, chunk, defaults, counts, errors)
    except (parsing.UnreadableImport, ValueError, TypeError, RecursionError) as exc:
        # A document that cannot be read to its end fails once, with why (no retry loop).
        if not isinstance(exc, parsing.UnreadableImport):
            logger.exception("indicator import %s failed", import_id)
            exc = parsing.UnreadableImport(f"The file could not be read ({type(exc).__name__}).")
        with _import_scope(tenant_id):
            _imports(tenant_id).filter(pk=import_id).update(
                status=IndicatorImport.Status.FAILED,
                error=str(exc),
                finished_at=timezone.now(),
                content="",
            )
        return IndicatorImport.Status.FAILED
    with _import_scope(tenant_id):
        _imports(tenant_id).filter(pk=import_id).update(
            status=IndicatorImport.Status.DONE,
            processed=max(counts["processed"], record.total),
            total=max(counts["processed"], record.total),
            created_count=counts["created"],
            updated_count=counts["updated"],
            rejected_count=counts["rejected"],
            errors=errors,
            finished_at=timezone.now(),
            content="",
        )
        # the list's hunt: when some indicator became active (saved again while active,
        # intake already matched it), over the whole list (the cost is the alerts walked)
        if counts["created"] or counts["revived"]:
            record = _imports(tenant_id).get(pk=import_id)
            retro_hunt_start(tenant_id, indicator_import=record, actor=record.created_by)
    return IndicatorImport.Status.DONE


def _parsed_defaults(defaults: dict) -> dict:
    parsed = {}
    for name, value in defaults.items():
        if name in ("valid_from", "valid_until") and isinstance(value, str):
            parsed[name] = parsing.moment_of(value, name)
        elif name in ATTRS:
            parsed[name] = value
    return parsed


def _save_chunk(
    record: IndicatorImport,
    chunk: list[parsing.IndicatorRecord],
    defaults: dict,
    counts: dict,
    errors: list,
) -> None:
    """Upsert one chunk of records in the import's scope, and store the progress."""
    tenant_id = record.tenant_id
    now = timezone.now()
    latest: dict[tuple[str, str], parsing.IndicatorRecord] = {}
    for item in chunk:
        try:
            kind, value = matching.normalise.normalise(item.type, item.value)
        except matching.normalise.InvalidIndicator as exc:
            counts["rejected"] += 1
            if len(errors) < IndicatorImport.MAX_ERRORS:
                errors.append({"index": item.index, "error": str(exc)})
            continue
        latest[(kind, value)] = parsing.IndicatorRecord(item.index, kind, value, item.attrs)
    counts["processed"] += len(chunk)
    with _import_scope(tenant_id):
        if latest:
            existing = {
                (i.type, i.value): i
                for i in _scope(tenant_id)
                .select_for_update()
                .filter(value__in=sorted({v for _, v in latest}))
            }
            new, changed, reclassified = [], [], []
            for (kind, value), item in latest.items():
                attrs = {**defaults, **item.attrs}
                indicator = existing.get((kind, value))
                if indicator is None:
                    indicator = Indicator(
                        tenant_id=tenant_id,
                        type=kind,
                        value=value,
                        created_by=record.created_by,
                        created_at=now,
                    )
                    new.append(indicator)
                else:
                    changed.append((indicator, _active(indicator, now)))
                    if attrs.get("tlp") and attrs["tlp"] != indicator.tlp:
                        reclassified.append((indicator, attrs["tlp"]))
                for name in ATTRS:
                    if name in attrs:
                        setattr(indicator, name, attrs[name])
                if indicator.confidence is None or not 0 <= indicator.confidence <= 100:
                    indicator.confidence = 50
                indicator.status = _status_for(attrs, now)
                indicator.last_import_id = record.pk
                indicator.updated_at = now
            Indicator.objects.bulk_create(new, ignore_conflicts=True)
            for indicator, tlp in reclassified:  # as an edit of the indicator does
                _reclassify_matches(indicator, tlp)
            if changed:
                _scope(tenant_id).bulk_update(
                    [indicator for indicator, _ in changed],
                    [*ATTRS, "status", "last_import", "updated_at"],
                )
            counts["created"] += len(new)
            counts["updated"] += len(changed)
            counts["revived"] += sum(
                1 for indicator, was in changed if _hunt_needed(was, indicator, now)
            )
        jobs.heartbeat(
            _imports(tenant_id).filter(pk=record.pk),
            processed=counts["processed"],
            created_count=counts["created"],
            updated_count=counts["updated"],
            rejected_count=counts["rejected"],
            errors=errors,
        )


# --- retro-hunts --------------------------------------------------------------------------------
def retro_hunt_start(
    tenant_id: int | None,
    *,
    indicator: Indicator | None = None,
    indicator_import: IndicatorImport | None = None,
    actor: User | None,
    days: int | None = None,
) -> RetroHunt:
    """A hunt over the last `days` (INTEL_RETRO_HUNT_DAYS) of alerts of the tenants the
    indicator(s) apply to, run in the background after commit."""
    now = timezone.now()
    days = settings.INTEL_RETRO_HUNT_DAYS if days is None else days
    hunt = RetroHunt.objects.create(
        tenant_id=tenant_id,
        indicator=indicator,
        indicator_import=indicator_import,
        since=now - timedelta(days=days),
        until=now,
        created_by=actor,
    )
    jobs.start_after_commit("intel.tasks.run_retro_hunt", tenant_id, hunt.pk)
    return hunt


def _hunts(tenant_id: int | None):
    if tenant_id is None:
        return RetroHunt.objects.dangerously_unscoped("global retro-hunt").filter(
            tenant__isnull=True
        )
    return RetroHunt.objects.for_tenant(tenant_id)


@dataclass
class HuntMatcher:
    """The hunt's indicators in memory: exact values by (type, value), networks in a list."""

    exact: dict
    networks: list

    @classmethod
    def of(cls, rows: list[tuple]) -> HuntMatcher:
        import ipaddress

        exact, networks = {}, []
        for row in rows:
            if row[2] == IndicatorType.CIDR:
                networks.append((ipaddress.ip_network(row[3]), row))
            else:
                exact[(row[2], row[3])] = row
        return cls(exact, networks)

    def hits(self, alerts: list[tuple]) -> list[matching.Hit]:
        import ipaddress

        found, seen, cache = [], set(), {}
        for alert_id, observables, _severity, incident_id in alerts:
            for kind, value, indicator_type, lookup in matching.lookups_of(observables, cache):
                rows = []
                if (indicator_type, lookup) in self.exact:
                    rows.append(self.exact[(indicator_type, lookup)])
                if indicator_type == IndicatorType.IP and self.networks:
                    address = ipaddress.ip_address(lookup)
                    rows += [
                        row
                        for net, row in self.networks
                        if net.version == address.version and address in net
                    ]
                for row in rows:
                    if (alert_id, row[0]) not in seen:
                        seen.add((alert_id, row[0]))
                        found.append(matching.Hit(alert_id, incident_id, kind, value, row))
        return found


def _hunt_indicators(hunt: RetroHunt) -> list[tuple]:
    rows = _scope(hunt.tenant_id).filter(status=Indicator.Status.ACTIVE)
    if hunt.indicator_id:
        rows = rows.filter(pk=hunt.indicator_id)
    else:
        rows = rows.filter(last_import_id=hunt.indicator_import_id)
    return list(rows.values_list(*matching.INDICATOR_COLUMNS))


def retro_hunt_run(hunt_id: str, tenant_id: int | None) -> str:
    """Walk the hunt's tenants' alerts of its period in chunks (keyset on received_at, id),
    each chunk its own transaction in that tenant's scope; the cursor and progress are stored
    with each chunk, so a redelivered task goes on where the last one stopped."""
    staff = tenant_id is None
    with tenant_scope([tenant_id] if tenant_id else [], staff=staff):
        hunt = _hunts(tenant_id).select_for_update().filter(pk=hunt_id).first()
        if hunt is None or hunt.status in (RetroHunt.Status.DONE, RetroHunt.Status.FAILED):
            return hunt.status if hunt else "missing"
        matcher = HuntMatcher.of(_hunt_indicators(hunt))
        if hunt.status == RetroHunt.Status.QUEUED:
            tenants = (
                [tenant_id]
                if tenant_id
                else list(
                    Tenant.objects.filter(status=Tenant.Status.ACTIVE)
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
            )
            hunt.tenant_ids = tenants
            hunt.cursor = [0, None, None]
            hunt.status = RetroHunt.Status.RUNNING
            hunt.started_at = hunt.updated_at = timezone.now()
            hunt.save()
    if hunt.status == RetroHunt.Status.RUNNING and not hunt.per_tenant and hunt.tenant_ids:
        # what there is to search, per tenant: a viewer is shown their tenants' part only
        with tenant_scope(hunt.tenant_ids, staff=staff):
            counts = dict(
                Alert.objects.for_tenants(hunt.tenant_ids)
                .filter(received_at__gte=hunt.since, received_at__lt=hunt.until)
                .order_by()
                .values_list("tenant_id")
                .annotate(n=Count("id"))
                .values_list("tenant_id", "n")
            )
            done_before = (hunt.cursor or [0])[0]  # a hunt started before this was kept
            hunt.per_tenant = {
                str(t): [counts.get(t, 0), counts.get(t, 0) if i < done_before else 0]
                for i, t in enumerate(hunt.tenant_ids)
            }
            hunt.alerts_total = sum(counts.values())
            _hunts(tenant_id).filter(pk=hunt_id).update(
                alerts_total=hunt.alerts_total, per_tenant=hunt.per_tenant
            )
    slugs = dict(Tenant.objects.filter(pk__in=hunt.tenant_ids).values_list("pk", "slug"))
    index, after_at, after_id = hunt.cursor or [0, None, None]
    scanned, hits = hunt.alerts_scanned, hunt.hits
    per_tenant = hunt.per_tenant
    while index < len(hunt.tenant_ids) and (matcher.exact or matcher.networks):
        current = hunt.tenant_ids[index]
        with tenant_scope([current], staff=staff):
            rows = (
                Alert.objects.for_tenant(current)
                .filter(received_at__gte=hunt.since, received_at__lt=hunt.until)
                .order_by("received_at", "id")
            )
            if after_at is not None:
                moment = datetime.fromisoformat(after_at)
                rows = rows.filter(received_at__gte=moment).exclude(
                    received_at=moment, id__lte=after_id
                )
            batch = list(
                rows.values_list("id", "observables", "severity", "incident_id", "received_at")[
                    :HUNT_CHUNK
                ]
            )
            found = matcher.hits([row[:4] for row in batch])
            recorded = matching.record_matches(
                current,
                slugs.get(current, ""),
                found,
                origin=IndicatorMatch.Origin.RETRO_HUNT,
                retro_hunt_id=hunt.pk,
            )
            scanned += len(batch)
            hits += len(recorded)
            mine = per_tenant.setdefault(str(current), [0, 0])
            mine[1] += len(batch)
            mine[0] = max(mine)  # alerts that arrived after the count
            if len(batch) < HUNT_CHUNK:
                index, after_at, after_id = index + 1, None, None
            else:
                after_at, after_id = batch[-1][4].isoformat(), str(batch[-1][0])
            jobs.heartbeat(
                _hunts(tenant_id).filter(pk=hunt_id),
                cursor=[index, after_at, after_id],
                alerts_scanned=scanned,
                hits=hits,
                per_tenant=per_tenant,
            )
    with tenant_scope([tenant_id] if tenant_id else [], staff=staff):
        _hunts(tenant_id).filter(pk=hunt_id).update(
            status=RetroHunt.Status.DONE,
            finished_at=timezone.now(),
            alerts_total=max(scanned, hunt.alerts_total),
        )
    return RetroHunt.Status.DONE


# --- stalled work -------------------------------------------------------------------------------
STALL_AFTER = timedelta(minutes=5)


def resume_stalled(now: datetime | None = None) -> int:
    """Imports and retro-hunts whose task was lost or whose worker died (pending or running,
    no committed progress for STALL_AFTER) are enqueued again: an import starts over (saving
    an indicator twice updates it), a hunt goes on from its stored cursor. Returns how many."""
    now = now or timezone.now()
    taken_up = 0
    with rls_bypass("sweep: stalled intel imports and retro-hunts of every tenant"):
        for model, task in (
            (IndicatorImport, "intel.tasks.run_import"),
            (RetroHunt, "intel.tasks.run_retro_hunt"),
        ):
            rows = model.objects.dangerously_unscoped("stalled sweep")
            stalled = list(
                jobs.stalled(
                    rows, now, queued_for=STALL_AFTER, running_for=STALL_AFTER
                ).values_list("pk", "tenant_id")
            )
            # claimed: the next sweep waits STALL_AFTER again before enqueueing them once more
            rows.filter(pk__in=[pk for pk, _ in stalled]).update(updated_at=now)
            for pk, tenant_id in stalled:
                jobs.start_after_commit(task, tenant_id, pk)
            taken_up += len(stalled)
    return taken_up


# --- expiry ---------------------------------------------------------------------------------------
def expire_indicators(now: datetime | None = None) -> int:
    """Indicators whose validity has ended become `expired` (matching already ignores them
    from that moment; this makes the state say so); sightings past their days are deleted.
    Returns how many indicators expired."""
    from . import sightings

    now = now or timezone.now()
    with rls_bypass("expiry sweep: global and every tenant's indicators, old sightings"):
        sightings.purge(now)
        return (
            Indicator.objects.dangerously_unscoped("expiry sweep")
            .filter(status=Indicator.Status.ACTIVE, valid_until__lte=now)
            .update(status=Indicator.Status.EXPIRED, updated_at=now)
        )
