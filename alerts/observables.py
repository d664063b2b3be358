"""Observables as case data: each incident's observables (alerts.models.IncidentObservable),
written from its alerts when they join it and added, tagged, noted and removed by hand.

- Intake writes the rows of a whole batch in its grouping statement (alerts.ingest: on
  PostgreSQL a part of the one statement that upserts the batch's incidents, on SQLite one
  upsert after them), never a query per alert. Promoting alerts, merging and a hunt's incident
  call `add_from_alerts`, one statement each.
- A hand-entered value is checked strictly (`parse`): the intake's own normalisation
  (alerts.intake.base.normalise_observable), and no control characters, no value over 2,000
  characters, a URL with a scheme: an error a person can act on, never a 500.
- Each change by hand is a timeline entry and an audit entry, and an `observable.added` or
  `observable.updated` stream event for the audience that may see the observable (an internal
  one's: MSSP staff only).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from tenants import audit, events
from tenants.actions import Invalid
from tenants.models import Tenant, User, new_public_id

from . import tlp as classification
from .intake.base import MAX_FIELD, OBSERVABLE_TYPES, Observable, normalise_observable
from .models import (
    Incident,
    IncidentEvent,
    IncidentObservable,
    ObservableSource,
    ObservableTag,
    Pap,
    Tlp,
    Visibility,
)

MAX_NOTE = 5000
TYPE_LABELS = {
    "ip": "IP address",
    "domain": "domain",
    "url": "URL",
    "hostname": "host name",
    "user": "user name",
    "hash": "hash (MD5, SHA-1, SHA-256 or SHA-512 in hex)",
    "email": "e-mail address",
}
_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def key_of(kind: str, value: str) -> int:
    """63 bits of BLAKE2b over "<type>\\0<value>": the same as intel.sightings.key_of, so an
    incident's observables find intel's sightings by their key."""
    digest = hashlib.blake2b(f"{kind}\0{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def parse(kind: Any, value: Any) -> Observable:
    """A hand-entered observable, normalised as intake normalises it; ValueError with a
    sentence for anything that is not one."""
    if not isinstance(kind, str) or kind not in OBSERVABLE_TYPES:
        raise ValueError(f"The type is one of {', '.join(OBSERVABLE_TYPES)}.")
    if not isinstance(value, str):
        raise ValueError("The value is text.")
    text = value.strip()
    if not text:
        raise ValueError("Give the observable's value.")
    if len(text) > MAX_FIELD:
        raise ValueError(f"A value is at most {MAX_FIELD:,} characters.")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in text):
        raise ValueError("A value has no control characters (line breaks, tabs, NUL …).")
    if kind == "url" and not _URL.fullmatch(text):
        raise ValueError("A URL starts with its scheme (https://…) and has no spaces.")
    if kind in ("domain", "hostname", "email") and any(char.isspace() for char in text):
        raise ValueError(f"A {TYPE_LABELS[kind]} has no spaces.")
    observable = normalise_observable(kind, text)
    if observable is None:
        raise ValueError(f"'{text[:80]}' is not a valid {TYPE_LABELS[kind]}.")
    return observable


# --- rows from alerts ----------------------------------------------------------------------------


@dataclass
class Seen:
    type: str
    value: str
    alerts: int
    first_seen: datetime
    last_seen: datetime


def tally(alerts: Iterable[tuple[Any, datetime]]) -> dict[int, Seen]:
    """{key: Seen} of the observables of [(observables list, seen at)], each once."""
    found: dict[int, Seen] = {}
    for observables, at in alerts:
        for item in observables or ():
            if not isinstance(item, dict):
                continue
            kind, value = item.get("type"), item.get("value")
            if not isinstance(kind, str) or not isinstance(value, str) or not kind or not value:
                continue
            key = key_of(kind, value)
            seen = found.get(key)
            if seen is None:
                found[key] = Seen(kind, value[:MAX_FIELD], 1, at, at)
            else:
                seen.alerts += 1
                seen.first_seen = min(seen.first_seen, at)
                seen.last_seen = max(seen.last_seen, at)
    return found


# One statement for any number of rows (chunked below SQLite's limit on parameters). The same
# text on both databases: CASE rather than GREATEST/LEAST (SQLite has neither; its max() is
# not PostgreSQL's). `replace` (the backfill) sets what its count from the alerts says.
COLUMNS = (
    "id",
    "tenant_id",
    "incident_id",
    "key",
    "type",
    "value",
    "tag",
    "note",
    "source",
    "visibility",
    "added_by_id",
    "alert_count",
    "first_seen",
    "last_seen",
    "created_at",
    "updated_at",
)
UPSERT_SQL = """
INSERT INTO {table} ({columns}) VALUES {values}
ON CONFLICT (incident_id, key) DO UPDATE SET
    alert_count = {count},
    first_seen = CASE WHEN excluded.first_seen < {table}.first_seen
                      THEN excluded.first_seen ELSE {table}.first_seen END,
    last_seen = CASE WHEN excluded.last_seen > {table}.last_seen
                     THEN excluded.last_seen ELSE {table}.last_seen END,
    updated_at = excluded.updated_at
"""
CHUNK = 500


def upsert(tenant_id: int, rows: dict[Any, dict[int, Seen]], *, replace: bool = False) -> int:
    """Write {incident id: {key: Seen}} as rows from alerts: new ones inserted, existing ones
    (added by hand, or by earlier alerts) counted on, their tag and note kept."""
    now = timezone.now()
    fields = {f.column: f for f in IncidentObservable._meta.concrete_fields}
    flat = [
        (incident_id, key, seen)
        for incident_id in sorted(rows, key=str)
        for key, seen in sorted(rows[incident_id].items())
    ]
    quote = connection.ops.quote_name
    table = quote(IncidentObservable._meta.db_table)
    count = "excluded.alert_count" if replace else f"{table}.alert_count + excluded.alert_count"
    placeholders = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
    for start in range(0, len(flat), CHUNK):
        chunk = flat[start : start + CHUNK]
        params: list[Any] = []
        for incident_id, key, seen in chunk:
            values = (
                new_public_id(),
                tenant_id,
                incident_id,
                key,
                seen.type,
                seen.value,
                "",
                "",
                ObservableSource.ALERT.value,
                Visibility.SHARED.value,
                None,
                seen.alerts,
                seen.first_seen,
                seen.last_seen,
                now,
                now,
            )
            params += [
                fields[column].get_db_prep_save(value, connection)
                for column, value in zip(COLUMNS, values, strict=True)
            ]
        sql = UPSERT_SQL.format(
            table=table,
            columns=", ".join(quote(c) for c in COLUMNS),
            values=", ".join([placeholders] * len(chunk)),
            count=count,
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    return len(flat)


def add_from_alerts(tenant_id: int, incident_id: Any, alerts: Iterable[Any]) -> None:
    """The observables of `alerts` (Alert rows) joined `incident_id`: one statement."""
    found = tally((a.observables, a.observed_at or a.received_at) for a in alerts)
    if found:
        upsert(tenant_id, {incident_id: found})


def merge_hand_added(incident: Incident, into: Incident) -> None:
    """Merging: what people said about the merged incident's observables joins the survivor
    (its alerts' observables already did, through add_from_alerts): rows added by hand are
    copied, and a tag or note fills the survivor's where it has none (its own wins)."""
    theirs = list(
        IncidentObservable.objects.for_tenant(incident.tenant_id)
        .filter(incident=incident)
        .exclude(source=ObservableSource.ALERT, tag="", note="")
    )
    if not theirs:
        return
    ours = {
        row.key: row
        for row in IncidentObservable.objects.for_tenant(into.tenant_id).filter(
            incident=into, key__in=[row.key for row in theirs]
        )
    }
    for row in theirs:
        mine = ours.get(row.key)
        if mine is None:
            IncidentObservable.objects.create(
                tenant_id=into.tenant_id,
                incident=into,
                **{
                    name: getattr(row, name)
                    for name in (
                        "type",
                        "value",
                        "key",
                        "tag",
                        "note",
                        "source",
                        "visibility",
                        "tlp",
                        "pap",
                    )
                },
                added_by_id=row.added_by_id,
                first_seen=row.first_seen,
                last_seen=row.last_seen,
            )
            continue
        changed = [
            name for name in ("tag", "note") if getattr(row, name) and not getattr(mine, name)
        ]
        for name in changed:
            setattr(mine, name, getattr(row, name))
        if changed:
            mine.save(update_fields=changed)


# --- by hand -------------------------------------------------------------------------------------


def _tenant_slug(tenant_id: int) -> str:
    return Tenant.objects.only("slug").get(pk=tenant_id).slug


def _short(observable: IncidentObservable) -> str:
    value = observable.value if len(observable.value) <= 120 else observable.value[:119] + "…"
    return f"{observable.type} {value}"


def _record(
    observable: IncidentObservable,
    actor: User | None,
    change: str,
    summary: str,
    data: dict[str, Any],
    *,
    request: Any = None,
    event_type: str = "observable.updated",
) -> None:
    """The timeline entry (with the observable's visibility), the audit entry and the event."""
    IncidentEvent.objects.create(
        tenant_id=observable.tenant_id,
        incident_id=observable.incident_id,
        actor=actor,
        actor_name=getattr(actor, "username", "") or "",
        kind=f"observable_{change}",
        summary=summary[:500],
        data={"observable": str(observable.pk), **data},
        visibility=Visibility.INTERNAL if observable.tlp == Tlp.RED else observable.visibility,
        tlp=observable.tlp,
    )
    # The customer's admins read their tenant's audit log: an internal (or RED) observable's
    # entry says what happened, never its value (the staff-only timeline entry keeps it).
    shared = observable.visibility == Visibility.SHARED and classification.audit_may_carry(
        observable.tlp
    )
    audit.record(
        f"observable.{change}",
        actor=actor,
        tenant=classification.audit_tenant(observable.tlp, observable.tenant_id),
        obj=observable,
        request=request,
        summary=summary[:300] if shared else f"an internal observable: {change}",
        data={
            "incident": str(observable.incident_id),
            "visibility": observable.visibility,
            **classification.audit_data(observable.tlp, observable.tenant_id),
            **data,
        },
    )
    audience = (events.STAFF,) if observable.visibility == Visibility.INTERNAL else events.EVERYONE
    events.tenant_event(
        observable.tenant_id,
        _tenant_slug(observable.tenant_id),
        event_type,
        str(observable.pk),
        {"incident": str(observable.incident_id), "change": change, "tag": observable.tag},
        audience=audience,
        tlp=observable.tlp,
    )


@transaction.atomic
def observable_add(
    incident: Incident,
    *,
    actor: User,
    observable: Observable,
    source: str,
    visibility: str,
    tag: str = "",
    note: str = "",
    tlp: str = Tlp.GREEN,
    pap: str = Pap.GREEN,
    request: Any = None,
) -> IncidentObservable:
    now = timezone.now()
    row = IncidentObservable(
        tlp=tlp,
        pap=pap,
        tenant_id=incident.tenant_id,
        incident=incident,
        type=observable.type,
        value=observable.value,
        key=key_of(observable.type, observable.value),
        tag=tag,
        note=note,
        source=source,
        visibility=visibility,
        added_by=actor,
        first_seen=now,
        last_seen=now,
        created_at=now,
        updated_at=now,
    )
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        raise Invalid(
            {"value": ["This incident already has that observable: tag or note it there."]}
        ) from None
    _record(
        row,
        actor,
        "added",
        f"Observable added: {_short(row)}" + (f" ({row.get_tag_display()})" if tag else ""),
        {"type": row.type, "tag": tag, "source": source},
        request=request,
        event_type="observable.added",
    )
    return row


EDITABLE = ("tag", "note", "visibility")


@transaction.atomic
def observable_update(
    observable: IncidentObservable, *, actor: User, request: Any = None, **changes: Any
) -> IncidentObservable:
    row = (
        IncidentObservable.objects.for_tenant(observable.tenant_id)
        .select_for_update()
        .get(pk=observable.pk)
    )
    before = {name: getattr(row, name) for name in EDITABLE if name in changes}
    for name in before:
        setattr(row, name, changes[name])
    changed = [name for name in before if before[name] != getattr(row, name)]
    if not changed:
        return row
    row.updated_at = timezone.now()
    row.save(update_fields=[*changed, "updated_at"])
    if "tag" in changed:
        summary = f"Observable {_short(row)} tagged {row.get_tag_display()}"
    elif changed == ["visibility"]:
        summary = (
            f"Observable {_short(row)} shared with the customer"
            if row.visibility == Visibility.SHARED
            else f"Observable {_short(row)} made internal"
        )
    else:
        summary = f"Observable {_short(row)} changed ({', '.join(changed)})"
    data: dict[str, Any] = {"changed": changed}
    if "tag" in changed:
        data |= {"from": before["tag"], "to": row.tag}
    change = "tagged" if "tag" in changed else "updated"
    _record(row, actor, change, summary, data, request=request)
    return row


@transaction.atomic
def observable_remove(
    observable: IncidentObservable, *, actor: User, request: Any = None
) -> IncidentObservable:
    row = (
        IncidentObservable.objects.for_tenant(observable.tenant_id)
        .select_for_update()
        .get(pk=observable.pk)
    )
    row.delete()
    row.pk = observable.pk  # named by its id in the entries below
    _record(
        row,
        actor,
        "removed",
        f"Observable removed: {_short(row)}",
        {"type": row.type, "source": row.source},
        request=request,
    )
    return row


__all__ = [
    "MAX_NOTE",
    "ObservableTag",
    "key_of",
    "parse",
    "tally",
    "upsert",
    "add_from_alerts",
    "observable_add",
    "observable_update",
    "observable_remove",
]
