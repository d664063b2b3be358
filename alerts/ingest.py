"""The intake pipeline after parsing: store alerts once, group them into incidents, tell the
stream. Runs inside the request's transaction, whose tenant context is the source's tenant;
the caller answers 202 only after that transaction commits.

Redelivery never duplicates: each alert carries a dedup key (the sender's id, or a digest of
the record) under a unique constraint (source, dedup_key), and rows are inserted with
ON CONFLICT DO NOTHING, so two concurrent deliveries of one alert store it once. Incidents are
upserted against a partial unique index (one open incident per tenant and fingerprint).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

try:
    import orjson
except ImportError:  # a dependency (pyproject.toml); json does the same job, slower
    orjson = None
from django.db import connection
from django.db.models import F
from django.utils import timezone

from tenants import events
from tenants.models import new_public_id

from . import observables, rules, signals
from .intake.base import NormalizedAlert, content_digest
from .models import (
    OPEN_STATUSES,
    SEVERITY_RANK,
    Alert,
    CorrelationRule,
    Incident,
    IncidentEvent,
    IncidentObservable,
    IntakeSource,
    SuppressionRule,
    Visibility,
)

LAST_SEEN_RESOLUTION = timedelta(seconds=30)
EVENT_SUMMARY_MAX = IncidentEvent._meta.get_field("summary").max_length


@dataclass
class IngestResult:
    alert_ids: list[str] = field(default_factory=list)  # per accepted record, in order
    created: int = 0
    duplicates: int = 0
    resolved: int = 0
    incidents_created: list[str] = field(default_factory=list)
    incidents_updated: list[str] = field(default_factory=list)


def dedup_key_of(alert: NormalizedAlert) -> str:
    return alert.source_ref or content_digest(alert.raw)


def ingest(
    source: IntakeSource,
    alerts: list[NormalizedAlert],
    *,
    mark_seen: bool = True,
    ids: list[str] | None = None,
    received_at: datetime | None = None,
) -> IngestResult:
    """`ids`: the id each new alert is stored with, in the order of `alerts` (the intake log
    gives the sender its alerts' ids before the pipeline runs); new ones when None.
    `received_at`: when the portal accepted them (the log's append), if not now."""
    now = received_at or timezone.now()
    result = IngestResult()
    firing: list[tuple[int, NormalizedAlert]] = []
    for index, alert in enumerate(alerts):
        if alert.status == Alert.Status.RESOLVED and alert.source_ref:
            alert_id = _resolve(source, alert, now)
            if alert_id is not None:
                result.alert_ids.append(alert_id)
                result.resolved += 1
                continue
        firing.append((index, alert))
    suppression, correlation = rules.active_rules(source.tenant_id)
    given = [ids[index] for index, _ in firing] if ids is not None else None
    inserted = _insert(source, [a for _, a in firing], now, result, suppression, given)
    if inserted:
        _group_into_incidents(source, inserted, now, result, correlation)
    if mark_seen:  # alerts the portal raises about a source (silence) are not signs of life
        _mark_seen(source, now)
    _publish(source, inserted, result)
    if inserted and signals.alerts_ingested.has_listeners(Alert):
        # after _publish: what the receivers announce follows alert.created on the stream
        signals.alerts_ingested.send(
            sender=Alert,
            tenant_id=source.tenant_id,
            tenant_slug=source.tenant.slug,
            alerts=[(a.pk, a.observables, a.severity, a.incident_id) for a in inserted],
            at=now,
        )
    return result


def _resolve(source: IntakeSource, alert: NormalizedAlert, now: datetime) -> str | None:
    """A `resolved` notification updates the alert it resolves (Alertmanager)."""
    row = (
        Alert.objects.for_tenant(source.tenant_id)
        .filter(source=source, dedup_key=dedup_key_of(alert))
        .values_list("pk", "incident_id")
        .first()
    )
    if row is None:
        return None  # resolved before we saw it fire: store it as an alert of its own
    alert_id, incident_id = row
    Alert.objects.for_tenant(source.tenant_id).filter(pk=alert_id).update(
        status=Alert.Status.RESOLVED, ends_at=alert.ends_at or now
    )
    if incident_id:
        IncidentEvent.objects.create(
            tenant_id=source.tenant_id,
            incident_id=incident_id,
            kind="alert_resolved",
            # a title may be as long as the column: the summary is cut to fit it
            summary=f"Source reports resolved: {alert.title}"[:EVENT_SUMMARY_MAX],
            data={"alert": str(alert_id)},
        )
    return str(alert_id)


def _insert(
    source: IntakeSource,
    alerts: list[NormalizedAlert],
    now: datetime,
    result: IngestResult,
    suppression: list[SuppressionRule],
    ids: list[str] | None = None,
) -> list[Alert]:
    source_id = str(source.pk)
    rows: list[Alert] = []
    by_key: dict[str, Alert] = {}
    order: list[str] = []
    for index, alert in enumerate(alerts):
        key = dedup_key_of(alert)
        order.append(key)
        if key in by_key:
            continue  # the same alert twice in one batch
        row = Alert(
            id=new_public_id() if ids is None else uuid.UUID(ids[index]),
            tenant_id=source.tenant_id,
            source_id=source.pk,
            dedup_key=key,
            source_ref=alert.source_ref,
            fingerprint=alert.fingerprint,
            title=alert.title,
            description=alert.description,
            severity=alert.severity,
            severity_rank=SEVERITY_RANK[alert.severity],
            category=alert.category,
            observed_at=alert.observed_at,
            received_at=now,
            rule_id=alert.rule_id,
            rule_name=alert.rule_name,
            mitre=alert.mitre,
            tags=alert.tags,
            observables=[o.as_dict() for o in alert.observables],
            raw=alert.raw,
            status=alert.status,
            ends_at=alert.ends_at,
            suppressed_by_id=next(
                (r.pk for r in suppression if rules.suppresses(r.conditions, alert, source_id)),
                None,
            ),
        )
        row.normalized = alert  # for correlation, below
        by_key[key] = row
        rows.append(row)
    if not rows:
        return []
    known: set[str] = set()  # SQLite, ids given: stored before (one writer: no race)
    if connection.vendor == "postgresql":
        stored = _insert_postgresql(rows)  # {dedup_key: id} of the rows that are new
        new = set(stored)
    else:
        if ids is not None:  # a given id may be the stored alert's own (a redelivery)
            known = set(
                Alert.objects.for_tenant(source.tenant_id)
                .filter(source=source, dedup_key__in=list(by_key))
                .values_list("dedup_key", flat=True)
            )
        Alert.objects.bulk_create(
            [row for row in rows if row.dedup_key not in known], ignore_conflicts=True
        )
        stored = {}
    missing = [key for key in by_key if key not in stored]
    if missing:  # redeliveries (or SQLite): the id each alert was stored with
        stored.update(
            Alert.objects.for_tenant(source.tenant_id)
            .filter(source=source, dedup_key__in=missing)
            .values_list("dedup_key", "pk")
        )
    if connection.vendor != "postgresql":
        new = {k for k, row in by_key.items() if k not in known and stored.get(k) == row.pk}
    inserted = [row for row in rows if row.dedup_key in new]
    _count_suppression_hits(source, inserted, now)
    result.created = len(inserted)
    result.duplicates = len(order) - len(inserted)
    result.alert_ids.extend(str(stored[key]) for key in order)
    return inserted


# PostgreSQL: the whole batch in one INSERT whose rows arrive as one JSON document, expanded by
# json_populate_recordset() on the server. Django's bulk_create() binds every value on the client
# (psycopg's client-side binding quotes each array element with a regular expression), which cost
# more than the insert itself. ON CONFLICT DO NOTHING keeps the unique constraint the judge of
# redelivery; RETURNING says which rows are new, so only redeliveries need a second look. Rows
# are inserted in dedup-key order, so concurrent batches of one source take locks alike.
INSERT_SQL = """
INSERT INTO {table} AS a ({columns})
SELECT {values} FROM json_populate_recordset(NULL::{table}, %s::json) AS r
ORDER BY r.dedup_key
ON CONFLICT DO NOTHING
RETURNING a.dedup_key, a.id
"""


@cache
def _row_plan() -> tuple[str, list[tuple[str, str]]]:
    """(INSERT statement, [(column, attribute)]) for Alert's concrete fields."""
    fields = Alert._meta.concrete_fields
    quote = connection.ops.quote_name
    values = [
        # json_populate_recordset() reads JSON null as SQL NULL: store it as Django does
        f"coalesce(r.{quote(f.column)}, 'null'::jsonb)"
        if f.get_internal_type() == "JSONField" and not f.null
        else f"r.{quote(f.column)}"
        for f in fields
    ]
    sql = INSERT_SQL.format(
        table=quote(Alert._meta.db_table),
        columns=", ".join(quote(f.column) for f in fields),
        values=", ".join(values),
    )
    return sql, [(f.column, f.attname) for f in fields]


def _insert_postgresql(rows: list[Alert]) -> dict[str, object]:
    """Insert the rows that are new; {dedup_key: id} of those."""
    sql, plan = _row_plan()
    document = [{column: getattr(row, attname) for column, attname in plan} for row in rows]
    with connection.cursor() as cursor:
        cursor.execute(sql, [_json_text(document)])
        return dict(cursor.fetchall())


def _json_text(document) -> str:
    """JSON for PostgreSQL's json functions: orjson (UUIDs and aware datetimes in ISO 8601
    natively, ~10x faster than json on a batch), json for what orjson refuses (integers
    beyond 64 bits in a raw payload, lone surrogates)."""
    if orjson is not None:
        try:
            return orjson.dumps(document).decode()
        except TypeError:  # orjson.JSONEncodeError
            pass
    return json.dumps(document, separators=(",", ":"), default=_json_default)


def _json_default(value) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _count_suppression_hits(source: IntakeSource, inserted: list[Alert], now: datetime) -> None:
    hits: dict = {}
    for alert in inserted:
        if alert.suppressed_by_id:
            hits[alert.suppressed_by_id] = hits.get(alert.suppressed_by_id, 0) + 1
    for rule_id, count in hits.items():
        SuppressionRule.objects.for_tenant(source.tenant_id).filter(pk=rule_id).update(
            hit_count=F("hit_count") + count, last_hit_at=now
        )


def _group_into_incidents(
    source: IntakeSource,
    alerts: list[Alert],
    now: datetime,
    result: IngestResult,
    correlation: list[CorrelationRule],
) -> None:
    """Suppressed alerts stay out of incidents; a correlation rule's group key replaces the
    alert's own fingerprint when the alert has every field the rule groups by."""
    groups: dict[str, list[Alert]] = {}
    windows: dict[str, int] = {}
    source_id = str(source.pk)
    for alert in alerts:
        if alert.status != Alert.Status.FIRING or alert.suppressed_by_id:
            continue
        key = alert.fingerprint
        for rule in correlation:
            correlated = rules.correlation_key(rule, alert.normalized, source_id)
            if correlated is not None:
                key, windows[correlated] = correlated, rule.window_minutes
                break
        groups.setdefault(key, []).append(alert)
    by_fingerprint: dict[str, list[Alert]] = {}
    opened, details = [], {}
    for key, members in groups.items():
        fingerprint = key
        if key in windows:
            fingerprint = _correlated_fingerprint(source, key, windows[key], now)
        by_fingerprint.setdefault(fingerprint, []).extend(members)
    if connection.vendor == "postgresql":
        outcome = _upsert_incidents_postgresql(source, by_fingerprint, now)
    else:
        outcome = {}
        found = {}
        for fingerprint, members in by_fingerprint.items():
            incident_id, created = _upsert_incident(source, fingerprint, members, now)
            Alert.objects.for_tenant(source.tenant_id).filter(
                pk__in=[a.pk for a in members]
            ).update(incident_id=incident_id)
            IncidentEvent.objects.create(
                tenant_id=source.tenant_id,
                incident_id=incident_id,
                at=now,
                kind="created" if created else "alerts_added",
                summary=_event_summary(source, members, created),
                data=_event_data(members),
                visibility=Visibility.SHARED,
            )
            outcome[fingerprint] = (incident_id, created)
            found[incident_id] = _tally(members)
        # the incidents' observables: one upsert for the batch (on PostgreSQL, GROUP_SQL's)
        observables.upsert(source.tenant_id, {i: seen for i, seen in found.items() if seen})
    for fingerprint, members in by_fingerprint.items():
        incident_id, created = outcome[fingerprint]
        for alert in members:
            alert.incident_id = incident_id
        (result.incidents_created if created else result.incidents_updated).append(str(incident_id))
        if created:
            opened.append(incident_id)
            worst = max(members, key=lambda a: a.severity_rank)
            details[incident_id] = {
                "severity": worst.severity,
                "category": members[0].category,
                "source_kind": source.kind,
            }
    if opened:  # the SLA app starts the new incidents' clocks, in this transaction
        signals.incidents_opened.send(
            sender=Incident,
            tenant_id=source.tenant_id,
            incident_ids=opened,
            at=now,
            details=details,
        )


def _tally(members: list[Alert]) -> dict[int, observables.Seen]:
    """The observables a group of alerts brings its incident (alerts.observables)."""
    return observables.tally((a.observables, a.observed_at or a.received_at) for a in members)


def _event_summary(source: IntakeSource, members: list[Alert], created: bool) -> str:
    if created:
        return f"Opened from {len(members)} alert(s) of {source.name}"
    return f"{len(members)} more alert(s) from {source.name}"


def _event_data(members: list[Alert]) -> dict:
    return {"alerts": [str(a.pk) for a in members[:50]], "count": len(members)}


def _correlated_fingerprint(
    source: IntakeSource, key: str, window_minutes: int, now: datetime
) -> str:
    """The open incident of this correlation group whose last alert is within the window
    (a sliding window), or a new group anchored now. A transaction-scoped advisory lock makes
    concurrent batches of the same group agree on one incident."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, %s))", [key, source.tenant_id]
            )
    current = (
        Incident.objects.for_tenant(source.tenant_id)
        .filter(
            fingerprint__startswith=f"{key}#",
            status__in=[s.value for s in OPEN_STATUSES],
            last_seen__gte=now - timedelta(minutes=window_minutes),
        )
        .order_by("-last_seen")
        .values_list("fingerprint", flat=True)
        .first()
    )
    return current or f"{key}#{int(now.timestamp() * 1000)}"


ON_OPEN_INCIDENT = """
ON CONFLICT (tenant_id, fingerprint) WHERE status IN ({open_statuses})
DO UPDATE SET alert_count = i.alert_count + EXCLUDED.alert_count,
    last_seen = CASE WHEN EXCLUDED.last_seen > i.last_seen THEN EXCLUDED.last_seen
                     ELSE i.last_seen END,
    severity = CASE WHEN EXCLUDED.severity_rank > i.severity_rank THEN EXCLUDED.severity
                    ELSE i.severity END,
    severity_rank = CASE WHEN EXCLUDED.severity_rank > i.severity_rank
                         THEN EXCLUDED.severity_rank ELSE i.severity_rank END,
    updated_at = EXCLUDED.updated_at
"""

UPSERT_SQL = """
INSERT INTO {table} AS i (id, tenant_id, title, severity, severity_rank, category, status,
    resolution, fingerprint, source_id, alert_count, first_seen, last_seen, awaiting_reason,
    created_at, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, 'new', '', %s, %s, %s, %s, %s, '', %s, %s)
{on_open_incident}
RETURNING id
"""

# PostgreSQL: every incident of the batch in one round trip, whatever the number of groups:
# upsert them (in fingerprint order, so concurrent batches of a tenant lock alike), point the
# new alerts at them, and write one timeline event each. The groups and the alert -> group map
# travel as JSON documents.
GROUP_SQL = """
WITH g AS (
    SELECT * FROM json_to_recordset(%(groups)s::json) AS g(
        proposed uuid, fingerprint text, title text, severity text, severity_rank smallint,
        category text, alert_count integer, first_seen timestamptz, last_seen timestamptz,
        event_id uuid, opened text, added text, data jsonb)
),
upserted AS (
    INSERT INTO {incident} AS i (id, tenant_id, title, severity, severity_rank, category,
        status, resolution, fingerprint, source_id, alert_count, first_seen, last_seen,
        awaiting_reason, created_at, updated_at)
    SELECT proposed, %(tenant)s, title, severity, severity_rank, category, 'new', '',
        fingerprint, %(source)s, alert_count, first_seen, last_seen, '', %(now)s, %(now)s
    FROM g ORDER BY fingerprint
    {on_open_incident}
    RETURNING i.id, i.fingerprint
),
linked AS (
    UPDATE {alert} AS a SET incident_id = u.id
    FROM json_to_recordset(%(members)s::json) AS m(id uuid, fingerprint text)
    JOIN upserted u ON u.fingerprint = m.fingerprint
    WHERE a.id = m.id AND a.tenant_id = %(tenant)s
),
logged AS (
    INSERT INTO {event} (id, tenant_id, incident_id, at, actor_id, actor_name, kind, summary,
        data, visibility)
    SELECT g.event_id, %(tenant)s, u.id, %(now)s, NULL, '',
        CASE WHEN u.id = g.proposed THEN 'created' ELSE 'alerts_added' END,
        CASE WHEN u.id = g.proposed THEN g.opened ELSE g.added END, g.data, %(visibility)s
    FROM upserted u JOIN g ON g.fingerprint = u.fingerprint
),
observed AS (
    INSERT INTO {observable} AS o (id, tenant_id, incident_id, key, type, value, tag, note,
        source, visibility, added_by_id, alert_count, first_seen, last_seen, created_at,
        updated_at)
    SELECT x.id, %(tenant)s, u.id, x.key, x.type, x.value, '', '', %(alert_source)s,
        %(visibility)s, NULL, x.alerts, x.first_seen, x.last_seen, %(now)s, %(now)s
    FROM json_to_recordset(%(observables)s::json) AS x(id uuid, fingerprint text, key bigint,
        type text, value text, alerts integer, first_seen timestamptz, last_seen timestamptz)
    JOIN upserted u ON u.fingerprint = x.fingerprint
    ORDER BY u.id, x.key
    ON CONFLICT (incident_id, key) DO UPDATE SET alert_count = o.alert_count + EXCLUDED.alert_count,
        first_seen = LEAST(o.first_seen, EXCLUDED.first_seen),
        last_seen = GREATEST(o.last_seen, EXCLUDED.last_seen),
        updated_at = EXCLUDED.updated_at
)
SELECT u.fingerprint, u.id, u.id = g.proposed
FROM upserted u JOIN g ON g.fingerprint = u.fingerprint
"""


def _on_open_incident() -> str:
    return ON_OPEN_INCIDENT.format(open_statuses=", ".join(f"'{s.value}'" for s in OPEN_STATUSES))


def _upsert_incidents_postgresql(
    source: IntakeSource, by_fingerprint: dict[str, list[Alert]], now: datetime
) -> dict[str, tuple[object, bool]]:
    """{fingerprint: (incident id, created)} for every group, in one statement."""
    groups, members, found = [], [], []
    for fingerprint, alerts in by_fingerprint.items():
        worst = max(alerts, key=lambda a: a.severity_rank)
        seen = [a.observed_at or a.received_at for a in alerts]
        groups.append(
            {
                "proposed": str(new_public_id()),
                "fingerprint": fingerprint,
                "title": alerts[0].title,
                "severity": worst.severity,
                "severity_rank": worst.severity_rank,
                "category": alerts[0].category,
                "alert_count": len(alerts),
                "first_seen": min(seen).isoformat(),
                "last_seen": max(seen).isoformat(),
                "event_id": str(new_public_id()),
                "opened": _event_summary(source, alerts, True),
                "added": _event_summary(source, alerts, False),
                "data": _event_data(alerts),
            }
        )
        members += [{"id": str(a.pk), "fingerprint": fingerprint} for a in alerts]
        for key, seen in sorted(_tally(alerts).items()):
            found.append(
                {
                    "id": str(new_public_id()),
                    "fingerprint": fingerprint,
                    "key": key,
                    "type": seen.type,
                    "value": seen.value,
                    "alerts": seen.alerts,
                    "first_seen": seen.first_seen.isoformat(),
                    "last_seen": seen.last_seen.isoformat(),
                }
            )
    quote = connection.ops.quote_name
    sql = GROUP_SQL.format(
        incident=quote(Incident._meta.db_table),
        alert=quote(Alert._meta.db_table),
        event=quote(IncidentEvent._meta.db_table),
        observable=quote(IncidentObservable._meta.db_table),
        on_open_incident=_on_open_incident(),
    )
    params = {
        "groups": _json_text(groups),
        "members": _json_text(members),
        "tenant": source.tenant_id,
        "source": source.pk,
        "now": now,
        "visibility": Visibility.SHARED.value,
        "observables": _json_text(found),
        "alert_source": "alert",
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {fingerprint: (pk, created) for fingerprint, pk, created in cursor.fetchall()}


def _upsert_incident(
    source: IntakeSource, fingerprint: str, members: list[Alert], now: datetime
) -> tuple[object, bool]:
    """One statement, safe under concurrency: opens the incident or adds to the open one."""
    worst = max(members, key=lambda a: a.severity_rank)
    seen = [a.observed_at or a.received_at for a in members]
    new_id = new_public_id()
    fields = {f.name: f for f in Incident._meta.concrete_fields}
    values = [
        ("id", new_id),
        ("tenant", source.tenant_id),
        ("title", members[0].title),
        ("severity", worst.severity),
        ("severity_rank", worst.severity_rank),
        ("category", members[0].category),
        ("fingerprint", fingerprint),
        ("source", source.pk),
        ("alert_count", len(members)),
        ("first_seen", min(seen)),
        ("last_seen", max(seen)),
        ("created_at", now),
        ("updated_at", now),
    ]
    params = [fields[name].get_db_prep_save(value, connection) for name, value in values]
    sql = UPSERT_SQL.format(
        table=connection.ops.quote_name(Incident._meta.db_table),
        on_open_incident=_on_open_incident(),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = fields["id"].to_python(cursor.fetchone()[0])
    return returned, returned == new_id


def _mark_seen(source: IntakeSource, now: datetime) -> None:
    # Only when stale: a busy source would otherwise serialise every request on its row lock.
    if source.last_seen_at is None or now - source.last_seen_at > LAST_SEEN_RESOLUTION:
        IntakeSource.objects.for_tenant(source.tenant_id).filter(pk=source.pk).update(
            last_seen_at=now, silence_alerted_at=None
        )


def _publish(source: IntakeSource, inserted: list[Alert], result: IngestResult) -> None:
    """One log append and one channel-layer message for the whole batch, after commit."""
    items = [
        (
            "alert.created",
            str(alert.pk),
            {"severity": alert.severity, "incident": str(alert.incident_id or "")},
            events.ALERTS,
        )
        for alert in inserted
    ]
    items += [("incident.created", i, None, events.EVERYONE) for i in result.incidents_created]
    items += [
        ("incident.updated", i, {"change": "alerts_added"}, events.EVERYONE)
        for i in result.incidents_updated
    ]
    events.tenant_events(source.tenant_id, source.tenant.slug, items)
