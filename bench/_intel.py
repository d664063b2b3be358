"""Threat-intelligence load for the intake benchmarks: N active global indicators COPYed into
intel_indicator (kept between runs of the same size), a few of which the workload's alerts
really carry, so that matches, timeline entries and severity raises happen as they would.

Mix of the N indicators (deterministic, seed 11):
  86 %  random IPv4 addresses            (type ip)
   5 %  random IPv4 networks /20 - /28    (type cidr)
   5 %  random domains                    (type domain)
   3 %  random SHA-256 digests            (type sha256)
   1 %  random URLs                       (type url)
plus MATCHING_DOMAINS of the workload's own `bad-<n>.example` domains (confidence 90, severity
high): about 1 alert in 40 of the workload carries one of them (as a domain, or in a URL's
host, matched through its parent domain), so each 500-alert batch has a dozen matches.
"""

from __future__ import annotations

import ipaddress
import random
import time
import uuid
from datetime import UTC, datetime

from bench import _common as common

SOURCE = "bench"
MATCHING_DOMAINS = [f"bad-{n}.example" for n in range(0, 97, 8)]  # 13 of the 97

COLUMNS = (
    "id",
    "tenant_id",
    "type",
    "value",
    "tlp",
    "confidence",
    "severity",
    "source",
    "description",
    "valid_from",
    "valid_until",
    "status",
    "created_by_id",
    "last_import_id",
    "created_at",
    "updated_at",
)


def _rows(count: int, seed: int = 11):
    rng = random.Random(seed)
    now = datetime.now(UTC).isoformat()
    seen: set[tuple[str, str]] = set()

    def row(kind: str, value: str, confidence: int = 60):
        key = (kind, value)
        if key in seen:
            return None
        seen.add(key)
        return "\t".join(
            [
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                r"\N",
                kind,
                value,
                "amber",
                str(confidence),
                "high",
                SOURCE,
                "",
                "2026-01-01T00:00:00+00:00",
                r"\N",
                "active",
                r"\N",
                r"\N",
                now,
                now,
            ]
        )

    for domain in MATCHING_DOMAINS:
        yield row("domain", domain, confidence=90)
    made = len(MATCHING_DOMAINS)
    while made < count:
        pick = rng.random()
        if pick < 0.86:
            item = row("ip", str(ipaddress.IPv4Address(rng.getrandbits(32))))
        elif pick < 0.91:
            prefix = rng.randrange(20, 29)
            net = ipaddress.IPv4Network((rng.getrandbits(32), prefix), strict=False)
            item = row("cidr", str(net))
        elif pick < 0.96:
            item = row("domain", f"x{rng.getrandbits(48):012x}.{rng.choice(['com', 'net', 'ru'])}")
        elif pick < 0.99:
            item = row("sha256", f"{rng.getrandbits(256):064x}")
        else:
            item = row("url", f"http://h{rng.getrandbits(40):010x}.example/{rng.getrandbits(32):x}")
        if item is not None:
            made += 1
            yield item


def loaded() -> int:
    import psycopg

    with psycopg.connect(common.OWNER_URL) as conn:
        return conn.execute(
            "SELECT count(*) FROM intel_indicator WHERE source = %s AND tenant_id IS NULL",
            [SOURCE],
        ).fetchone()[0]


def ensure_indicators(count: int) -> str:
    """Exactly `count` bench indicators, loaded with COPY as the schema owner when the table
    holds another number of them. Returns what it did."""
    import psycopg

    have = loaded()
    if have == count:
        return f"{count:,} active global indicators already loaded"
    started = time.monotonic()
    with psycopg.connect(common.OWNER_URL) as conn:
        conn.execute("TRUNCATE intel_indicator CASCADE")
        if count:
            with (
                conn.cursor() as cursor,
                cursor.copy(f"COPY intel_indicator ({', '.join(COLUMNS)}) FROM STDIN") as copy,
            ):
                for line in _rows(count):
                    copy.write(line + "\n")
        conn.commit()
    with psycopg.connect(common.OWNER_URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE intel_indicator")
    return f"{count:,} active global indicators COPYed in {time.monotonic() - started:.0f} s"


def count_matches() -> int:
    import psycopg

    with psycopg.connect(common.OWNER_URL) as conn:
        return conn.execute("SELECT count(*) FROM intel_indicatormatch").fetchone()[0]


def set_matching(enabled: bool) -> None:
    """In this process: intake matches (the app as shipped) or does not (intel's receiver
    disconnected: the intake as it was before threat intelligence)."""
    from alerts.signals import alerts_ingested
    from intel import matching

    alerts_ingested.disconnect(dispatch_uid="intel-match-intake")
    if enabled:
        alerts_ingested.connect(matching.on_alerts_ingested, dispatch_uid="intel-match-intake")


def reset_sightings() -> None:
    """Empty intel_sighting (alerts' TRUNCATE does not reach it: no foreign key), so that each
    phase starts with every observable unseen: the most inserting case."""
    import psycopg

    with psycopg.connect(common.OWNER_URL, autocommit=True) as conn:
        conn.execute("TRUNCATE intel_sighting, intel_indicatormatch")
