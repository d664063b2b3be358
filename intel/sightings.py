"""Sightings: which tenant saw which observable on which day, written at intake (one statement
per batch, in the intake transaction) so that the incident page can say, for MSSP staff only,
how many of the analyst's other tenants saw the same observable recently.

One row per (observable, tenant, day): the first alert of the day that carried it. Looked up by
a 63-bit key of the observable, by equality: under row-level security PostgreSQL uses an index
only for leakproof operators, which bigint equality is and jsonb containment (searching the
alerts themselves) is not; reading a month of alerts row by row through the policy took
seconds. Rows older than INTEL_SIGHTING_DAYS are deleted by the expiry sweep.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .models import Sighting

INSERT_SQL = """
INSERT INTO intel_sighting (tenant_id, key, day, alert_id, incident_id, seen_at)
SELECT %(tenant)s, s.key, %(day)s, s.alert, s.incident, %(at)s
FROM unnest(%(keys)s::bigint[], %(alerts)s::uuid[], %(incidents)s::uuid[])
    AS s(key, alert, incident)
ORDER BY s.key
ON CONFLICT DO NOTHING
"""


def key_of(kind: str, value: str) -> int:
    """63 bits of BLAKE2b over "<type>\\0<value>" (the value as the alert stores it)."""
    digest = hashlib.blake2b(f"{kind}\0{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def record(tenant_id: int, alerts: list[tuple], at: datetime) -> None:
    """The batch's observables, each once: [(alert id, observables, severity, incident id)]."""
    first: dict[int, tuple] = {}
    for alert_id, observables, _severity, incident_id in alerts:
        for item in observables or ():
            if isinstance(item, dict) and isinstance(item.get("value"), str):
                key = key_of(str(item.get("type", "")), item["value"])
                first.setdefault(key, (alert_id, incident_id))
    if not first:
        return
    day = at.astimezone(UTC).date()
    keys = sorted(first)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                INSERT_SQL,
                {
                    "tenant": tenant_id,
                    "day": day,
                    "at": at,
                    "keys": keys,
                    "alerts": [first[k][0] for k in keys],
                    "incidents": [first[k][1] for k in keys],
                },
            )
        return
    Sighting.objects.bulk_create(
        [
            Sighting(
                tenant_id=tenant_id,
                key=key,
                day=day,
                alert_id=first[key][0],
                incident_id=first[key][1],
                seen_at=at,
            )
            for key in keys
        ],
        ignore_conflicts=True,
    )


def since(days: int | None = None):
    days = settings.INTEL_SIGHTING_DAYS if days is None else days
    return (timezone.now() - timedelta(days=days)).date()


def purge(now: datetime | None = None) -> int:
    """Sightings older than INTEL_SIGHTING_DAYS (called by the expiry sweep, under its
    bypass)."""
    cutoff = (now or timezone.now()).date() - timedelta(days=settings.INTEL_SIGHTING_DAYS + 1)
    deleted, _ = (
        Sighting.objects.dangerously_unscoped("sighting retention").filter(day__lt=cutoff).delete()
    )
    return deleted
