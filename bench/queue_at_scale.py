"""Queue-at-scale benchmark (not a test): how long an analyst waits for a filtered page of the
multi-tenant queue when the database holds a million alerts over 500 tenants, next to a
BASELINE measured in the same run: the same page through OFFSET pagination.

    .venv/bin/python bench/queue_at_scale.py            # 1 million alerts, about 3 minutes
    .venv/bin/python bench/queue_at_scale.py --quick    # 1 million alerts, fewer samples
    .venv/bin/python bench/queue_at_scale.py --small    # 100,000 alerts (page 500: see below)
    .venv/bin/python bench/queue_at_scale.py --scale    # 10 million alerts (long: ~20 min)
    .venv/bin/python bench/queue_at_scale.py --reuse    # keep the data of the previous run

Data, loaded with psycopg COPY as the schema owner in one transaction (TRUNCATE, drop the
secondary indexes, COPY ... FREEZE into alerts_incident then alerts_alert, recreate the
indexes; foreign-key triggers off for the load: rows are consistent by construction; then
VACUUM ANALYZE): --alerts alerts grouped into incidents of 1 to ~40 alerts (geometric, mean
2.5), tenant sizes log-normal (the largest customers ~50x the smallest), created_at over 90
days (recent days denser), severities info 10 % / low 30 % / medium 35 % / high 20 % /
critical 5 %, statuses by age (a day old: mostly open; older than a week: 85 % resolved or
closed, a stale open backlog), owners (two analysts work each tenant; most open 'new'
incidents unassigned), respond_by as the SLA app writes it (new: created + respond target,
acknowledged/investigating/contained: created + resolve target, by severity; awaiting
customer, resolved, closed and info: no deadline), alert titles/rules/observables/raw payloads
from the same rule catalogue as the intake benchmarks.

Requests go through Django's full request handler in-process (middleware, bearer-token
authentication, ATOMIC_REQUESTS, row-level security as the app role, DRF view, filters,
KeysetPagination with its capped count, serializer, JSON rendering): the work daphne would do
minus the socket. Each SQL statement is timed too, so the count, the page and the
authentication queries are shown apart.

Who asks: an analyst (analyst_l2) working 50 of the 500 tenants (every 10th: large and small
customers), and a manager who sees all 500 (the queue's page 500 needs more open incidents
than one analyst's tenants hold at 1 million alerts).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import types
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Its own database (created and migrated on first use), so that the intake benchmarks, which
# TRUNCATE alerts in mssp_bench before each phase, and this one never empty each other's tables
# (and --reuse can keep a 10-million-alert load). BENCH_DATABASE_* still override.
QUEUE_DB = "mssp_bench_queue"
os.environ.setdefault(
    "BENCH_DATABASE_OWNER_URL", f"postgresql://postgres@127.0.0.1:5432/{QUEUE_DB}"
)
os.environ.setdefault(
    "BENCH_DATABASE_URL", f"postgresql://mssp_app:mssp_app@127.0.0.1:5432/{QUEUE_DB}"
)

from bench import _common as common  # noqa: E402
from bench import _stream as stream  # noqa: E402

DAY = 86400.0
SEVERITIES = ("info", "low", "medium", "high", "critical")
SEVERITY_WEIGHTS = (10, 30, 35, 20, 5)
RESPOND_MINUTES = {"critical": 15, "high": 30, "medium": 120, "low": 480}
RESOLVE_MINUTES = {"critical": 240, "high": 480, "medium": 1440, "low": 4320}
# (status, weight) by age: under a day, a day to a week, older
STATUS_BY_AGE = (
    (1.0, (("new", 45), ("acknowledged", 20), ("investigating", 20), ("contained", 5),
           ("awaiting_customer", 5), ("resolved", 4), ("closed", 1))),
    (7.0, (("new", 15), ("acknowledged", 10), ("investigating", 15), ("contained", 5),
           ("awaiting_customer", 10), ("resolved", 25), ("closed", 20))),
    (1e9, (("new", 6), ("acknowledged", 2), ("investigating", 3), ("contained", 1),
           ("awaiting_customer", 3), ("resolved", 15), ("closed", 70))),
)  # fmt: skip
OPEN = {"new", "acknowledged", "investigating", "contained", "awaiting_customer"}
NO_DEADLINE = "9999-12-31 00:00:00+00"
RESOLUTIONS = (("true_positive", 30), ("false_positive", 50), ("benign", 20))
INCIDENT_COLUMNS = (
    "id", "tenant_id", "title", "severity", "severity_rank", "category", "status", "resolution",
    "fingerprint", "source_id", "alert_count", "first_seen", "last_seen", "owner_id",
    "owner_team_id", "awaiting_reason", "respond_by", "merged_into_id", "created_at",
    "updated_at", "acknowledged_at", "contained_at", "resolved_at", "closed_at",
)  # fmt: skip
ANALYST_GROUPS = 10  # analyst k works the tenants t with t % 10 == k % 10
MEASURED_ANALYST = 3
DATA_TAG = "bench queue_at_scale"


# --- data ------------------------------------------------------------------------------------
def _ts(epoch: float) -> str:
    micro = int(epoch * 1e6) % 1_000_000
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(epoch))}.{micro:06d}+00"


def _uuid7(epoch: float, rng: random.Random) -> str:
    ms = int(epoch * 1000)
    bits = rng.getrandbits(74)
    return "%08x-%04x-7%03x-%04x-%012x" % (  # noqa: UP031  (the fast way, 1M times)
        ms >> 16,
        ms & 0xFFFF,
        bits >> 62,
        0x8000 | ((bits >> 48) & 0x3FFF),
        bits & 0xFFFFFFFFFFFF,
    )


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _pick(rng: random.Random, table) -> str:
    total = sum(w for _, w in table)
    x = rng.random() * total
    for value, weight in table:
        x -= weight
        if x < 0:
            return value
    return table[-1][0]


@dataclass
class Plan:
    alerts: int
    tenants: list[common.BenchSource]
    owners: dict[int, list[int]]  # tenant index -> staff user ids who work it
    now: float
    seed: int = 11

    def tenant_incidents(self) -> list[int]:
        """Incidents per tenant (log-normal sizes), summing to about alerts / 2.5."""
        rng = random.Random(self.seed)
        weights = [rng.lognormvariate(0, 1.0) for _ in self.tenants]
        total = self.alerts / 2.5
        return [max(1, round(total * w / sum(weights))) for w in weights]


@dataclass
class IncidentRow:
    line: str
    id: str
    fingerprint: str
    title: str  # COPY-escaped
    severity: str
    rank: int
    category: str
    rule_id: str
    host: str
    attacker: str
    created: float
    span: float
    alerts: int


def incidents(plan: Plan, index: int, count: int):
    """The tenant's incidents, the same on every call (so alerts can be generated in a second
    pass without keeping a million incidents in memory)."""
    rng = random.Random(plan.seed * 100_003 + index)
    source = plan.tenants[index]
    world = common.tenant_world(index)
    owners = plan.owners[index]
    src, tenant = str(source.source_id), str(source.tenant_id)
    for _ in range(count):
        (rule_id, title, category, _mitre, _w), host, attacker = rng.choice(world.problems)
        age = 90 * DAY * rng.random() ** 1.6
        created = plan.now - age
        severity = rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0]
        rank = SEVERITIES.index(severity)
        status = next(_pick(rng, table) for limit, table in STATUS_BY_AGE if age < limit * DAY)
        k = 1
        while rng.random() < 0.6 and k < 40:
            k += 1
        span = min(age, rng.expovariate(1 / 1800) * k)
        last = created + span
        owner = "\\N"
        if (status == "new" and rng.random() < 0.15) or (status != "new" and rng.random() < 0.92):
            owner = str(rng.choice(owners))
        ack = contained = resolved = closed = "\\N"
        if status != "new":
            ack = _ts(created + rng.uniform(60, 3600))
        if status == "contained":
            contained = _ts(created + rng.uniform(3600, 7200))
        resolution = ""
        if status in ("resolved", "closed"):
            resolution = _pick(rng, RESOLUTIONS)
            resolved = _ts(min(plan.now, created + rng.uniform(3600, 5 * DAY)))
            if status == "closed":
                closed = resolved
        if severity == "info" or status not in OPEN or status == "awaiting_customer":
            respond_by = NO_DEADLINE
        elif status == "new":
            respond_by = _ts(created + RESPOND_MINUTES[severity] * 60)
        else:
            respond_by = _ts(created + RESOLVE_MINUTES[severity] * 60)
        awaiting = "Waiting for the customer to confirm" if status == "awaiting_customer" else ""
        incident_id = _uuid7(created, rng)
        fingerprint = "%064x" % rng.getrandbits(256)  # noqa: UP031
        full_title = _esc(f"{title} on {host}")
        created_ts = _ts(created)
        line = "\t".join(
            (
                incident_id, tenant, full_title, severity, str(rank), category, status,
                resolution, fingerprint, src, str(k), created_ts, _ts(last), owner, "\\N",
                awaiting, respond_by, "\\N", created_ts, _ts(min(plan.now, last + 60)), ack,
                contained, resolved, closed,
            )
        )  # fmt: skip
        yield IncidentRow(
            line, incident_id, fingerprint, full_title, severity, rank, category, rule_id,
            host, attacker, created, span, k,
        )  # fmt: skip


def incident_copy(plan: Plan, index: int, count: int) -> bytes:
    return ("\n".join(row.line for row in incidents(plan, index, count)) + "\n").encode()


def alert_copy(plan: Plan, index: int, count: int) -> tuple[bytes, int]:
    """COPY text of the alerts of the tenant's incidents, and how many."""
    import json

    rng = random.Random(plan.seed * 200_003 + index)
    source = plan.tenants[index]
    world = common.tenant_world(index)
    src, tenant = str(source.source_id), str(source.tenant_id)
    rules = {rule[0]: (json.dumps(rule[3]), _esc(rule[1])) for rule in common.RULES}
    lines = []
    for row in incidents(plan, index, count):
        mitre_json, rule_name = rules[row.rule_id]
        host, attacker = row.host, row.attacker
        for j in range(row.alerts):
            seen = row.created + row.span * j / row.alerts
            user = rng.choice(world.users)
            process = rng.choice(common.PROCESSES)
            observables = (
                f'[{{"type":"hostname","value":"{host}"}},{{"type":"ip","value":"{attacker}"}},'
                f'{{"type":"user","value":"{user}"}}]'
            )
            raw = (
                f'{{"vendor":"acme-xdr","sensor":{{"id":"sn-{rng.getrandbits(40):010x}",'
                f'"host":"{host}"}},"event":{{"id":{rng.getrandbits(53)},"action":'
                f'"{rng.choice(common.ACTIONS)}","process":{{"name":"{process}","pid":'
                f'{rng.randrange(300, 65000)}}},"network":{{"dst":"{attacker}","dst_port":443}}}}}}'
            )
            ref = f"q{index:04d}-{len(lines):09d}"
            lines.append(
                "\t".join(
                    (
                        _uuid7(seen, rng),
                        tenant,
                        src,
                        ref,
                        ref,
                        row.fingerprint,
                        row.title,
                        _esc(f"{row.title} : {process} by {user} contacted {attacker}."),
                        row.severity,
                        str(row.rank),
                        row.category,
                        _ts(seen),
                        _ts(seen + 1.5),
                        row.rule_id,
                        rule_name,
                        mitre_json,
                        '["edr","prod"]',
                        observables,
                        raw,
                        "firing",
                        "\\N",
                        row.id,
                    )
                )  # fmt: skip
            )
    return ("\n".join(lines) + "\n").encode() if lines else b"", len(lines)


def load(plan: Plan) -> dict[str, float]:
    """TRUNCATE, COPY the plan's incidents and alerts, rebuild indexes: one transaction."""
    import psycopg

    timings: dict[str, float] = {}
    counts = plan.tenant_incidents()
    with psycopg.connect(common.OWNER_URL) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")  # no FK triggers
        conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
        conn.execute("SET LOCAL synchronous_commit = off")
        indexes = common.secondary_indexes(conn, "alerts_incident") + common.secondary_indexes(
            conn, "alerts_alert"
        )
        conn.execute("TRUNCATE alerts_incidentevent, alerts_alert, alerts_incident CASCADE")
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        incident_sql = f"COPY alerts_incident ({', '.join(INCIDENT_COLUMNS)}) FROM STDIN FREEZE"
        alert_sql = f"COPY alerts_alert ({', '.join(common.ALERT_COLUMNS)}) FROM STDIN FREEZE"
        started, generated = time.perf_counter(), 0.0
        with conn.cursor() as cursor, cursor.copy(incident_sql) as copy:
            for index, count in enumerate(counts):
                began = time.perf_counter()
                payload = incident_copy(plan, index, count)
                generated += time.perf_counter() - began
                copy.write(payload)
        timings["incidents: generate + COPY"] = time.perf_counter() - started
        started, total = time.perf_counter(), 0
        with conn.cursor() as cursor, cursor.copy(alert_sql) as copy:
            for index, count in enumerate(counts):
                began = time.perf_counter()
                payload, written = alert_copy(plan, index, count)
                generated += time.perf_counter() - began
                total += written
                copy.write(payload)
        timings["alerts: generate + COPY"] = time.perf_counter() - started
        timings["(Python generation in both)"] = generated
        started = time.perf_counter()
        for _, statement in indexes:
            conn.execute(statement)
        timings[f"rebuild {len(indexes)} secondary indexes"] = time.perf_counter() - started
        conn.execute(f"COMMENT ON TABLE alerts_incident IS '{DATA_TAG} {plan.alerts} {total}'")
        conn.commit()
    started = time.perf_counter()
    with psycopg.connect(common.OWNER_URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE alerts_incident")
        conn.execute("VACUUM ANALYZE alerts_alert")
    timings["VACUUM ANALYZE"] = time.perf_counter() - started
    return timings


def loaded(alerts: int) -> bool:
    """The data of a previous run with the same --alerts is still there, untouched."""
    import psycopg

    with psycopg.connect(common.OWNER_URL) as conn:
        tag = conn.execute("SELECT obj_description('alerts_incident'::regclass)").fetchone()[0]
        parts = (tag or "").rsplit(" ", 2)
        if len(parts) != 3 or parts[0] != DATA_TAG or parts[1] != str(alerts):
            return False
        return conn.execute("SELECT count(*) FROM alerts_alert").fetchone()[0] == int(parts[2])


def data_profile() -> list[str]:
    import psycopg

    with psycopg.connect(common.OWNER_URL) as conn:
        alerts = conn.execute("SELECT count(*) FROM alerts_alert").fetchone()[0]
        incidents, open_ = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status IN ('new','acknowledged',"
            "'investigating','contained','awaiting_customer')) FROM alerts_incident"
        ).fetchone()
        sizes = conn.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('alerts_alert')), "
            "pg_size_pretty(pg_total_relation_size('alerts_incident'))"
        ).fetchone()
        per_tenant = conn.execute(
            "SELECT min(n), percentile_disc(0.5) WITHIN GROUP (ORDER BY n), max(n) FROM "
            "(SELECT count(*) n FROM alerts_incident GROUP BY tenant_id) t"
        ).fetchone()
    return [
        f"{alerts:,} alerts ({sizes[0]}), {incidents:,} incidents ({sizes[1]}), "
        f"{open_:,} open ({open_ / max(1, incidents):.0%})",
        f"incidents per tenant: min {per_tenant[0]:,}, median {per_tenant[1]:,}, "
        f"max {per_tenant[2]:,}",
    ]


# --- the requests ------------------------------------------------------------------------------
class Client:
    """Django's request handler called directly, as daphne's thread would, timing the request
    and each SQL statement in it."""

    def __init__(self, token: str):
        from django.core.handlers.base import BaseHandler
        from django.test import RequestFactory

        self.handler = BaseHandler()
        self.handler.load_middleware()
        self.factory = RequestFactory(HTTP_HOST=common.HOST)
        self.token = token
        self.queries: list[tuple[str, list, float]] = []

    def _timed(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append((sql, params, time.perf_counter() - started))

    def get(self, url: str, urlconf=None) -> tuple[float, dict, list]:
        import json

        from django.db import close_old_connections, connection

        request = self.factory.get(url, HTTP_AUTHORIZATION=f"Bearer {self.token}")
        if urlconf is not None:
            request.urlconf = urlconf
        self.queries = []
        started = time.perf_counter()
        with connection.execute_wrapper(self._timed):
            response = self.handler.get_response(request)
            body = response.content
        close_old_connections()
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code} {body[:300]!r}")
        return elapsed, json.loads(body), self.queries


def classify(sql: str) -> str:
    """count: the capped count; page: the query that picks the page's rows (in order); rows:
    fetching those rows by primary key with their related objects (KeysetPagination reads
    keys first); other: authentication, entitlements, the RLS context."""
    head = sql.lstrip()[:40].upper()
    if head.startswith("SELECT COUNT(*)") and "alerts_incident" in sql:
        return "count"
    if '"alerts_incident"' in sql and "ORDER BY" in sql:
        return "page"
    if '"alerts_incident"' in sql and '"alerts_incident"."id" IN (' in sql:
        return "rows"
    return "other"


def split_queries(queries) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for sql, _, seconds in queries:
        out[classify(sql)] += seconds
    return out


def offset_urlconf():
    """The portal's URLs plus two bench-only lists that page the same views by OFFSET."""
    from django.urls import path

    from alerts.api.views import IncidentViewSet, QueueViewSet
    from mssp import urls as portal
    from tenants.api.pagination import KeysetPagination

    class OffsetPagination(KeysetPagination):
        """?page=N: the same capped count, then ORDER BY urgency OFFSET (N-1)*50 LIMIT 51."""

        def paginate_queryset(self, queryset, request, view=None):
            self.request = request
            self.size = self.page_size
            self.count = self.capped = None
            if getattr(view, "count_cap", None):
                capped = queryset.order_by()[: view.count_cap + 1].count()
                self.count, self.capped = min(capped, view.count_cap), capped > view.count_cap
            offset = (int(request.query_params.get("page", 1)) - 1) * self.size
            rows = list(queryset.order_by(*view.keyset_ordering)[offset : offset + self.size + 1])
            self.next_values = None
            return rows[: self.size]

    class OffsetQueue(QueueViewSet):
        pagination_class = OffsetPagination

    class OffsetIncidents(IncidentViewSet):
        pagination_class = OffsetPagination

    module = types.ModuleType("bench_offset_urls")
    module.urlpatterns = [
        path("bench/offset/queue/", OffsetQueue.as_view({"get": "list"})),
        path("bench/offset/incidents/", OffsetIncidents.as_view({"get": "list"})),
        *portal.urlpatterns,
    ]
    module.handler404, module.handler500 = portal.handler404, portal.handler500
    return module


@dataclass
class Scenario:
    label: str
    path: str
    who: str = "analyst"


def scenarios(slug_big: str, other_owner: str, since: str) -> list[Scenario]:
    return [
        Scenario("queue: all open", "/api/v1/queue/"),
        Scenario("queue: high+critical", "/api/v1/queue/?severity=high,critical"),
        Scenario("queue: unassigned", "/api/v1/queue/?owner=none"),
        Scenario("queue: mine", "/api/v1/queue/?owner=me"),
        Scenario("queue: one tenant", f"/api/v1/queue/?tenant={slug_big}"),
        Scenario("queue: new critical", "/api/v1/queue/?status=new&severity=critical"),
        Scenario("queue: text 'powershell'", "/api/v1/queue/?q=powershell"),
        Scenario(
            "queue: tenant+high+unassigned",
            f"/api/v1/queue/?tenant={slug_big}&severity=high,critical&owner=none",
        ),
        Scenario("incidents: all statuses", "/api/v1/incidents/"),
        Scenario("incidents: last 7 days high+", f"/api/v1/incidents/?since={since}&severity=high"),
        Scenario(
            "incidents: closed, text 'phishing'",
            "/api/v1/incidents/?status=resolved,closed&q=phishing",
        ),
        Scenario("incidents: owner=colleague", f"/api/v1/incidents/?owner={other_owner}"),
        Scenario("queue: manager, all 500 tenants", "/api/v1/queue/", "manager"),
    ]


def measure(client: Client, url: str, samples: int, warmup: int, urlconf=None):
    times, parts = [], defaultdict(list)
    body = None
    for n in range(warmup + samples):
        elapsed, body, queries = client.get(url, urlconf)
        if n >= warmup:
            times.append(elapsed)
            for kind, seconds in split_queries(queries).items():
                parts[kind].append(seconds)
    return times, parts, body


def p(values: list[float], q: float) -> float:
    return common.percentile(sorted(values), q) * 1000


def walk(client: Client, url: str, pages: int, size: int = 50) -> tuple[list[float], str, int]:
    """Follow `next` cursors from page 1 to the start of page `pages` (of `size` rows): in
    strides of page_size=500 (the API's maximum) while at least 500 rows remain to skip, then
    of `size`, so that reaching page 500 takes ~60 requests, not 500. Returns the time of each
    request, the URL of page `pages` (page_size `size`) and the page number reached (lower when
    the list is shorter)."""
    from urllib.parse import parse_qs, urlencode, urlsplit

    times: list[float] = []
    to_skip, cursor = (pages - 1) * size, None
    skipped = 0
    base, _, query = url.partition("?")
    params = dict(parse_qs(query))
    while skipped < to_skip:
        stride = 500 if to_skip - skipped >= 500 else size
        step = {**params, "page_size": [str(stride)]}
        if cursor:
            step["cursor"] = [cursor]
        elapsed, body, _ = client.get(f"{base}?{urlencode(step, doseq=True)}")
        times.append(elapsed)
        if not body.get("next"):
            skipped += len(body["results"])
            break
        skipped += stride
        cursor = parse_qs(urlsplit(body["next"]).query)["cursor"][0]
    final = dict(params)
    if cursor:
        final["cursor"] = [cursor]
    reached = 1 + min(skipped, to_skip) // size
    return times, f"{base}?{urlencode(final, doseq=True)}" if final else base, reached


def explain(access, sql: str, params) -> str:
    from django.db import connection, transaction

    from tenants import rls

    with transaction.atomic():
        rls.activate(access)
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            return "\n".join("      " + row[0] for row in cursor.fetchall())


def page_one(clients, accesses, chosen: list[Scenario], args) -> dict[str, dict]:
    """Time page 1 of each scenario; print a line each; {label: {"times", "parts"}}."""
    results: dict[str, dict] = {}
    print(
        f"   {'scenario':<38}{'p50':>7}{'p95':>7}{'max':>7}  {'page':>6}{'count':>7}"
        f"{'rows':>6}{'other':>7} (p50s)   got  count"
    )
    for scenario in chosen:
        client = clients[scenario.who]
        times, parts, body = measure(client, scenario.path, args.samples, args.warmup)
        results[scenario.label] = {"times": times, "parts": parts, "path": scenario.path}
        count = body.get("count", "-")
        capped = "+" if body.get("count_is_capped") else ""
        print(
            f"   {scenario.label:<38}{p(times, 50):>7.1f}{p(times, 95):>7.1f}"
            f"{max(times) * 1000:>7.1f}  {p(parts['page'], 50):>6.1f}"
            f"{p(parts['count'], 50) if parts['count'] else 0:>7.1f}"
            f"{p(parts['rows'], 50) if parts['rows'] else 0:>6.1f}"
            f"{p(parts['other'], 50):>7.1f}  {len(body['results']):>5}  {count}{capped}"
        )
        if args.explain:
            _, _, queries = client.get(scenario.path)
            for sql, params, _ in queries:
                if classify(sql) in ("page", "count"):
                    print(f"   -- {classify(sql)} query:")
                    print(explain(accesses[scenario.who], sql, params))
    return results


# What would change the figures, tried on the bench database only (--what-if) and undone after:
# the row-level-security policy of alerts_incident with its tenant list computed once per query
# (an InitPlan) instead of parsed again for every row, and random_page_cost for a database that
# fits in memory. Neither is the portal's configuration.
WHAT_IF_POLICY = """
DROP POLICY IF EXISTS mssp_tenant_isolation ON alerts_incident;
CREATE POLICY mssp_tenant_isolation ON alerts_incident
  USING ((SELECT coalesce(current_setting('mssp.bypass', true), '') = 'on')
         OR tenant_id = ANY ((SELECT string_to_array(
                nullif(current_setting('mssp.tenant_ids', true), ''), ',')::bigint[])::bigint[]))
  WITH CHECK (mssp_tenant_visible(tenant_id));
"""


def what_if(apply: bool, database: str, random_page_cost: bool) -> None:
    from urllib.parse import urlsplit

    import psycopg
    from django.db import connection

    role = urlsplit(common.APP_URL).username
    with psycopg.connect(common.OWNER_URL, autocommit=True) as conn:
        if apply:
            conn.execute(WHAT_IF_POLICY)
            if random_page_cost:
                conn.execute(
                    f'ALTER ROLE "{role}" IN DATABASE "{database}" SET random_page_cost = 1.1'
                )
        else:
            conn.execute(f'ALTER ROLE "{role}" IN DATABASE "{database}" RESET random_page_cost')
    if not apply:
        common.ensure_database()  # migrate re-installs the portal's own policies
    connection.close_pool()  # new connections, with the role's settings


# --- main ----------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--small", action="store_true", help="100,000 alerts")
    size.add_argument("--scale", action="store_true", help="10,000,000 alerts")
    size.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="fewer samples (data as chosen)")
    parser.add_argument("--reuse", action="store_true", help="keep the previous run's data")
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--samples", type=int, default=30, help="page-1 requests per scenario")
    parser.add_argument("--deep-samples", type=int, default=20, help="page 1/page N requests")
    parser.add_argument("--offset-samples", type=int, default=5, help="OFFSET baseline")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--page", type=int, default=500, help="the deep page")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the queries")
    parser.add_argument("--match", default="", help="only scenarios whose label contains this")
    parser.add_argument("--only", default="", help="comma-separated phases: page1,deep,offset")
    parser.add_argument(
        "--what-if",
        action="store_true",
        help="also time page 1 with an InitPlan RLS policy on alerts_incident and "
        "random_page_cost 1.1 (bench database only; undone afterwards)",
    )
    args = parser.parse_args()
    if args.small:
        args.alerts = 100_000
    if args.scale:
        args.alerts = 10_000_000
    if args.quick:
        args.samples, args.deep_samples, args.offset_samples, args.warmup = 15, 10, 3, 2
    phases = set(args.only.split(",")) if args.only else {"page1", "deep", "offset"}

    common.configure_environment()
    run_started = time.monotonic()
    common.ensure_database()
    print("Queue-at-scale benchmark: " + " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"machine: {common.machine()}; database {common.OWNER_URL.rsplit('/', 1)[1]}")
    print(f"load before: {common.uptime()}")

    with common.section("setup: tenants, staff and tokens"):
        common.setup_django()
        sources = common.ensure_tenants(args.tenants)
        staff = []
        for k in range(ANALYST_GROUPS * 2):
            ids = [s.tenant_id for n, s in enumerate(sources) if n % ANALYST_GROUPS == k % 10]
            staff.append(stream.ensure_staff(f"bench-q-analyst-{k:02d}", "analyst_l2", ids))
        analyst = staff[MEASURED_ANALYST]
        manager = stream.ensure_staff("bench-q-manager", "manager", None)
        stream.issue_tokens([analyst, manager])
        owners = {
            n: [p.user_id for p in staff if n % ANALYST_GROUPS == int(p.username[-2:]) % 10]
            for n in range(len(sources))
        }
        print(
            f"   {len(sources)} tenants; analyst {analyst.username} works "
            f"{len(analyst.tenant_ids)} tenants; {manager.username} sees "
            f"{len(manager.tenant_ids)}; {len(staff)} analysts own incidents"
        )

    plan = Plan(args.alerts, sources, owners, time.time())
    if args.reuse and loaded(args.alerts):
        print("\n== data: reusing the previous run's (--reuse)")
    else:
        with common.section(f"load: {args.alerts:,} alerts and their incidents by COPY"):
            timings = load(plan)
            for label, seconds in timings.items():
                print(f"   {label}: {seconds:.1f} s")
    for line in data_profile():
        print(f"   {line}")

    from django.db import connection

    from tenants.access import access_for
    from tenants.models import User

    clients = {"analyst": Client(analyst.token), "manager": Client(manager.token)}
    accesses = {
        "analyst": access_for(User.objects.get(pk=analyst.user_id)),
        "manager": access_for(User.objects.get(pk=manager.user_id)),
    }
    analyst_slugs = stream.tenant_slugs(analyst.tenant_ids)
    counts = plan.tenant_incidents()
    big = max(
        (n for n, s in enumerate(sources) if s.tenant_id in analyst.tenant_ids),
        key=lambda n: counts[n],
    )
    colleague = next(p for p in staff if p is not analyst and p.tenant_ids & analyst.tenant_ids)
    since = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        jit = cursor.fetchone()[0]

    page1 = scenarios(analyst_slugs[sources[big].tenant_id], colleague.username, since)
    page1 = [sc for sc in page1 if args.match in sc.label] if "page1" in phases else []
    with common.section(
        f"OURS page 1 (50 rows), {args.samples} requests each after {args.warmup} warm-up; "
        "ms; page = the query choosing the page (keys), count = the capped count, rows = "
        "fetching the page's rows, other = auth, entitlements, RLS context"
    ):
        results = page_one(clients, accesses, page1, args)

    urlconf = offset_urlconf()
    deep: dict[str, dict] = {}
    walks = [
        ("analyst /incidents/", "analyst", "/api/v1/incidents/", "/bench/offset/incidents/"),
        ("manager /queue/", "manager", "/api/v1/queue/", "/bench/offset/queue/"),
    ]
    walks = [w for w in walks if args.match in w[0]] if phases & {"deep", "offset"} else []
    with common.section(
        f"OURS page {args.page}: follow `next` from page 1, then time page 1 and page "
        f"{args.page} again ({args.deep_samples} requests each)"
    ):
        for label, who, url, _ in walks:
            if "deep" not in phases:
                deep[label] = {"reached": args.page}
                continue
            client = clients[who]
            started = time.perf_counter()
            times, deep_url, reached = walk(client, url, args.page)
            walked = time.perf_counter() - started
            first, _, _ = measure(client, url, args.deep_samples, args.warmup)
            last, parts, _ = measure(client, deep_url, args.deep_samples, args.warmup)
            deep[label] = {"first": first, "last": last, "reached": reached, "parts": parts}
            print(
                f"   {label}: reached page {reached} in {len(times)} requests, {walked:.1f} s "
                f"(median {p(times, 50):.1f} ms, slowest {max(times) * 1000:.1f} ms)"
            )
            print(
                f"     page 1: p50 {p(first, 50):.1f} ms, p95 {p(first, 95):.1f} ms;   "
                f"page {reached}: p50 {p(last, 50):.1f} ms, p95 {p(last, 95):.1f} ms "
                f"(page query p50 {p(parts['page'], 50):.1f} ms)   ratio p95 "
                f"{p(last, 95) / p(first, 95):.2f}x"
            )
            if args.explain:
                _, _, queries = client.get(deep_url)
                for sql, params, _ in queries:
                    if classify(sql) == "page":
                        print(f"   -- page {reached} query:")
                        print(explain(accesses[who], sql, params))

    with common.section(
        f"BASELINE OFFSET pagination: the same views, ORDER BY urgency OFFSET n LIMIT 51 "
        f"({args.offset_samples} requests each)"
    ):
        for label, who, _, offset_url in walks if "offset" in phases else []:
            client = clients[who]
            reached = deep[label]["reached"]
            samples = args.offset_samples
            first, _, _ = measure(client, offset_url, samples, 1, urlconf)
            last, parts, _ = measure(client, f"{offset_url}?page={reached}", samples, 1, urlconf)
            deep[label]["offset_first"], deep[label]["offset_last"] = first, last
            print(
                f"   {label}: page 1 p50 {p(first, 50):.1f} ms, p95 {p(first, 95):.1f} ms;   "
                f"page {reached} (OFFSET {(reached - 1) * 50:,}) p50 {p(last, 50):.1f} ms, "
                f"p95 {p(last, 95):.1f} ms (page query p50 {p(parts['page'], 50):.1f} ms)   "
                f"ratio p95 {p(last, 95) / p(first, 95):.2f}x"
            )

    what_ifs: dict[str, dict] = {}
    if args.what_if and page1:
        database = common.OWNER_URL.rsplit("/", 1)[1]
        for label, rpc in (
            ("RLS tenant list as InitPlan", False),
            ("... + random_page_cost 1.1", True),
        ):
            with common.section(f"WHAT IF (bench database only, undone after): {label}"):
                what_if(True, database, rpc)
                try:
                    what_ifs[label] = page_one(clients, accesses, page1, args)
                finally:
                    what_if(False, database, rpc)

    print(
        f"\n== SUMMARY ({args.alerts:,} alerts over {args.tenants} tenants; in-process API; "
        f"jit {jit})"
    )
    if results:
        by_p95 = sorted(results.items(), key=lambda kv: p(kv[1]["times"], 95))
        worst_label, worst = by_p95[-1][0], p(by_p95[-1][1]["times"], 95)
        analyst = [(k, p(r["times"], 95)) for k, r in by_p95 if "manager" not in k]
        print(
            f"   page 1 p95 over {len(results)} scenarios: best {p(by_p95[0][1]['times'], 95):.1f}"
            f" ms, worst {worst:.1f} ms ({worst_label})"
        )
        if analyst:
            label, value = analyst[-1]
            verdict = "MET" if value < 50 else "NOT MET"
            print(
                f"   analyst (50 tenants), worst filtered page 1 p95 {value:.1f} ms ({label}): "
                f"target < 50 ms {verdict} ({value / 50:.2f}x the target)"
            )
        verdict = "MET" if worst < 50 else "NOT MET"
        print(f"   every scenario incl. manager: target < 50 ms {verdict} ({worst / 50:.2f}x)")
    for label, d in deep.items():
        if "last" not in d:
            continue
        ratio = p(d["last"], 95) / p(d["first"], 95)
        verdict = "MET" if ratio <= 1.5 and d["reached"] >= args.page else "NOT MET"
        if d["reached"] < args.page:
            verdict += f" (only {d['reached']} pages exist)"
        line = (
            f"   {label}: page {d['reached']} p95 {p(d['last'], 95):.1f} ms vs page 1 "
            f"{p(d['first'], 95):.1f} ms = {ratio:.2f}x (target <= 1.5x: {verdict})"
        )
        if "offset_last" in d:
            offset_ratio = p(d["offset_last"], 95) / p(d["offset_first"], 95)
            line += (
                f"; OFFSET baseline page {d['reached']} {p(d['offset_last'], 95):.1f} ms vs page "
                f"1 {p(d['offset_first'], 95):.1f} ms = {offset_ratio:.2f}x; keyset "
                f"{p(d['offset_last'], 95) / p(d['last'], 95):.1f}x faster at page {d['reached']}"
            )
        print(line)
    for label, found in what_ifs.items():
        worst_label, worst = max(
            ((k, p(r["times"], 95)) for k, r in found.items()), key=lambda kv: kv[1]
        )
        met = sum(p(r["times"], 95) < 50 for r in found.values())
        print(
            f"   what if {label}: page 1 p95 < 50 ms in {met} of {len(found)} scenarios; "
            f"worst {worst:.1f} ms ({worst_label})"
        )
    if results:
        met = sum(p(r["times"], 95) < 50 for r in results.values())
        print(f"   as is: page 1 p95 < 50 ms in {met} of {len(results)} scenarios")
    print(f"\nload after: {common.uptime()}")
    print(f"total {time.monotonic() - run_started:.0f} s")
    return 0


if __name__ == "__main__":
    os.chdir(common.ROOT)
    sys.exit(main())
