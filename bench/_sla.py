"""The SLA sweep benchmark's own pieces (bench/sla_sweep.py): its database and Redis db, the
COPY load of tenants' incidents and clocks, the Celery worker and beat it starts, the
baseline's ETA task, and what it samples (worker RSS, Redis memory, CPU per process group).

The ETA baseline task lives here, not in the app: the bench's worker imports this module with
`--include bench._sla`, which registers `bench.sla.eta_breach` on the portal's Celery app.
Nothing at import time touches Django, so the worker can import it before Django is set up.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from celery import shared_task

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
DATABASE = "mssp_bench_sla"
OWNER_URL = os.environ.get(
    "BENCH_SLA_DATABASE_OWNER_URL", f"postgresql://postgres@{HOST}:5432/{DATABASE}"
)
APP_URL = os.environ.get(
    "BENCH_SLA_DATABASE_URL", f"postgresql://mssp_app:mssp_app@{HOST}:5432/{DATABASE}"
)
REDIS_URL = os.environ.get("BENCH_SLA_REDIS_URL", f"redis://{HOST}:6379/12")
REDIS_PREFIX = "mssp-bench-sla"
LOG_DIR = ROOT / "var" / "bench"
ETA_TASK = "bench.sla.eta_breach"
DATA_TAG = "bench-sla"

# The variables _common reads at import: the shared helpers (ensure_database, ensure_tenants,
# flush_redis ...) then work on this bench's database and Redis db, never mssp_bench.
os.environ["BENCH_DATABASE_OWNER_URL"] = OWNER_URL
os.environ["BENCH_DATABASE_URL"] = APP_URL
os.environ["BENCH_REDIS_URL"] = REDIS_URL

from bench import _common as common  # noqa: E402
from bench._common import (  # noqa: E402
    _stat_fields,
    children,
    rss_mib,
)

PARKED_QUEUE = "bench-sla-deliveries"
WORKER_ENV = {
    **common.BENCH_ENV,
    "CHANNELS_REDIS_PREFIX": REDIS_PREFIX,
    "DJANGO_SETTINGS_MODULE": "mssp.settings",
    # Outbox rows are written by each firing (the path measured); delivering them sends to a
    # mail backend that drops the message, so no mail server is involved.
    "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
}


def park_deliveries() -> None:
    """In the bench's worker (it imports this module with --include) when
    BENCH_SLA_PARK_DELIVERIES is set: the delivery tasks each firing queues after commit go to
    a queue no worker consumes, so that the phase measures detection, not this machine's
    capacity to send notifications (about 5 ms each). Beat's every-10-s delivery task still
    runs. The outbox rows are written either way."""
    if os.environ.get("BENCH_SLA_PARK_DELIVERIES"):
        from mssp.celery import app

        app.conf.task_routes = {"sla.tasks.deliver_notifications": {"queue": PARKED_QUEUE}}


park_deliveries()


def configure() -> None:
    """This process: the bench's database as the app role, Redis db 12, mssp.settings."""
    common.configure_environment("mssp.settings")
    os.environ.update(WORKER_ENV)
    import django

    django.setup()


# --- the baseline: one Celery ETA task per clock -------------------------------------------------
@shared_task(name=ETA_TASK, ignore_result=True)
def eta_breach(clock_id: str) -> bool:
    """Run at the clock's due time (apply_async(eta=due_at)): load the clock, check it is still
    live, unfired and due, fire it with the app's own firing code (timeline, audit, stream
    event, notification outbox). A clock met, paused or re-timed since is left alone (a real
    ETA design would also have to revoke or re-enqueue on every such change)."""
    from django.db import transaction
    from django.utils import timezone

    from sla import services
    from sla.models import SlaClock
    from tenants.rls import rls_bypass

    now = timezone.now()
    with transaction.atomic(), rls_bypass("bench: ETA baseline task"):
        clock = (
            SlaClock.objects.dangerously_unscoped("bench: ETA baseline task")
            .filter(pk=clock_id, state__in=services.LIVE, breach_fired_at__isnull=True)
            .select_for_update(of=("self",))
            .select_related("incident", "tenant")
            .first()
        )
        if clock is None or clock.due_at is None or clock.due_at > now:
            return False
        services._fire_breaches([clock], now)
    return True


# --- machine and load ---------------------------------------------------------------------------
# --- processes: RSS and CPU ---------------------------------------------------------------------
class CpuMeter:
    """CPU seconds per group between start() and stop(), as cores busy: the bench process, the
    Celery worker (main process + pool children), beat, PostgreSQL backends of this bench's
    database, all other PostgreSQL processes, redis-server, and the rest of the machine.

    The worker opens a new connection for each task (Celery's Django fixup closes the pool
    around every task under prefork), so backends come and go: each process's CPU is read at
    every sample() and the last reading of one that has exited still counts."""

    def __init__(self, worker_pid: int, beat_pid: int | None):
        self.worker_pid, self.beat_pid = worker_pid, beat_pid
        self.first: dict[int, tuple[str, float]] = {}
        self.last: dict[int, tuple[str, float]] = {}

    def _groups(self) -> dict[int, str]:
        groups = {os.getpid(): "bench", self.worker_pid: "worker"}
        groups.update(dict.fromkeys(children(self.worker_pid), "worker"))
        if self.beat_pid:
            groups[self.beat_pid] = "beat"
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in groups:
                continue
            try:
                comm = Path(f"/proc/{entry}/comm").read_text().strip()
            except OSError:
                continue
            if comm == "postgres":
                in_bench = f" {DATABASE} " in common._cmdline(entry)
                groups[int(entry)] = "pg_bench" if in_bench else "pg_other"
            elif comm.startswith("redis-server"):
                groups[int(entry)] = "redis"
        return groups

    @staticmethod
    def _reaped_pg() -> float:
        """CPU of PostgreSQL processes that have exited (the postmaster's reaped children):
        short-lived backends of every database, the bench's per-task connections and other
        people's alike."""
        try:
            pid = int(Path("/var/run/postgresql/15-main.pid").read_text().split()[0])
        except (OSError, ValueError):
            return 0.0
        fields = _stat_fields(pid)
        return 0.0 if fields is None else (int(fields[13]) + int(fields[14])) / common._TICK

    @staticmethod
    def _machine() -> float:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return (sum(values[:8]) - values[3] - values[4]) / common._TICK

    def sample(self, first: bool = False) -> None:
        for pid, group in self._groups().items():
            used = common._proc_cpu(pid)
            if first:
                self.first[pid] = (group, used)
            self.last[pid] = (group, used)

    def start(self) -> CpuMeter:
        self.sample(first=True)
        self.machine_before, self.wall_before = self._machine(), time.monotonic()
        self.reaped_before = self._reaped_pg()
        return self

    def stop(self) -> dict[str, float]:
        self.sample()
        wall = time.monotonic() - self.wall_before
        used = dict.fromkeys(("bench", "worker", "beat", "pg_bench", "pg_other", "redis"), 0.0)
        for pid, (group, cpu) in self.last.items():
            used[group] += (cpu - self.first.get(pid, (group, 0.0))[1]) / wall
        # exited backends: what their last sample showed is counted above, the rest here
        reaped = self._reaped_pg() - self.reaped_before
        seen = sum(
            cpu - self.first.get(pid, (group, 0.0))[1]
            for pid, (group, cpu) in self.last.items()
            if group.startswith("pg_") and not Path(f"/proc/{pid}").exists()
        )
        used["pg_exited"] = max(0.0, reaped - seen) / wall
        known = sum(used.values())
        used["machine_busy"] = (self._machine() - self.machine_before) / wall
        used["other"] = max(0.0, used["machine_busy"] - known)
        return used


def format_cpu(used: dict[str, float]) -> str:
    names = ("worker", "beat", "pg_bench", "pg_exited", "pg_other", "redis", "bench", "other")
    names += ("machine_busy",)
    return "cores busy: " + ", ".join(f"{n} {used[n]:.2f}" for n in names if n in used)


# --- Celery worker and beat ---------------------------------------------------------------------
class Celery:
    """A real worker (prefork, `concurrency` processes, as `make run` starts it) on this bench's
    database as the app role, optionally with a real beat (the portal's schedule: the SLA sweep
    every second) and extra modules to import (-I)."""

    def __init__(
        self,
        label: str,
        *,
        beat: bool,
        include: str = "bench._sla",
        concurrency: int = 2,
        env: dict[str, str] | None = None,
    ):
        self.label, self.with_beat, self.include = label, beat, include
        self.concurrency, self.env = concurrency, env or {}
        self.hostname = f"{label}-{os.getpid()}@bench"
        self.worker: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = open(LOG_DIR / log_name, "wb")  # noqa: SIM115 (the child keeps it)
        env = {**os.environ, **WORKER_ENV, **self.env}
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mssp", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def __enter__(self) -> Celery:
        args = ["worker", "--concurrency", str(self.concurrency), "--hostname", self.hostname]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        args += ["--loglevel", "WARNING"]
        if self.include:
            args += ["--include", self.include]
        self.worker = self._spawn(args, f"sla-{self.label}-worker.log")
        try:
            self._wait_ready()
            if self.with_beat:
                schedule = LOG_DIR / f"sla-{self.label}-beat-schedule"
                for stale in LOG_DIR.glob(f"sla-{self.label}-beat-schedule*"):
                    stale.unlink()
                self.beat = self._spawn(
                    ["beat", "--schedule", str(schedule), "--loglevel", "WARNING"],
                    f"sla-{self.label}-beat.log",
                )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        from mssp.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise RuntimeError(f"worker exited ({self.worker.returncode}); see {LOG_DIR}")
            if app.control.ping(destination=[self.hostname], timeout=0.5):
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s; see {LOG_DIR}")

    def kill(self) -> None:
        """Stop at once (SIGKILL to the worker, its pool processes and beat): for a worker that
        holds tens of thousands of ETA tasks, whose warm shutdown would hand each back to the
        broker first. The phase's results are already read; Redis is flushed before the next."""
        if self.worker is not None and self.worker.poll() is None:
            pool = children(self.worker.pid)
            self.worker.kill()
            for pid in pool:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.__exit__(None, None, None)

    def __exit__(self, *exc) -> None:
        for proc in (self.beat, self.worker):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (self.beat, self.worker):
            if proc is None:
                continue
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- Redis --------------------------------------------------------------------------------------
def redis_client():
    import redis

    return redis.Redis.from_url(REDIS_URL)


def broker_memory(client) -> dict[str, float]:
    """Bytes held in this db by the broker: the queue list, and the unacked hash and its index
    (late-acked tasks a worker holds: an ETA task sits there until it has run)."""
    pipe = client.pipeline(transaction=False)
    for key in ("celery", "unacked", "unacked_index"):
        pipe.memory_usage(key, samples=0)
    pipe.llen("celery")
    pipe.hlen("unacked")
    pipe.llen(PARKED_QUEUE)
    queue, unacked, index, queued, held, parked = pipe.execute()
    return {
        "bytes": float((queue or 0) + (unacked or 0) + (index or 0)),
        "queued": float(queued or 0),
        "unacked": float(held or 0),
        "parked": float(parked or 0),
    }


def used_memory(client) -> float:
    return float(client.info("memory")["used_memory"])


# --- sampling a phase ---------------------------------------------------------------------------
@dataclass
class Samples:
    at: list[float] = field(default_factory=list)  # seconds since the window opened
    worker_rss: list[float] = field(default_factory=list)  # MiB: main + pool children
    worker_main_rss: list[float] = field(default_factory=list)
    beat_rss: list[float] = field(default_factory=list)
    broker_bytes: list[float] = field(default_factory=list)
    broker_unacked: list[float] = field(default_factory=list)
    broker_queued: list[float] = field(default_factory=list)
    broker_parked: list[float] = field(default_factory=list)
    redis_used: list[float] = field(default_factory=list)
    fired: list[tuple[float, int]] = field(default_factory=list)

    def take(self, t: float, celery: Celery, client) -> None:
        main = rss_mib(celery.worker.pid)
        pool = sum(rss_mib(c) for c in children(celery.worker.pid))
        self.at.append(t)
        self.worker_main_rss.append(main)
        self.worker_rss.append(main + pool)
        self.beat_rss.append(rss_mib(celery.beat.pid) if celery.beat else 0.0)
        broker = broker_memory(client)
        self.broker_bytes.append(broker["bytes"])
        self.broker_unacked.append(broker["unacked"])
        self.broker_queued.append(broker["queued"])
        self.broker_parked.append(broker["parked"])
        self.redis_used.append(used_memory(client))


# --- data ---------------------------------------------------------------------------------------
TARGETS = ("acknowledge", "notify", "contain", "resolve")
MINUTES = {
    "critical": (15, 30, 60, 240),
    "high": (30, 60, 240, 480),
    "medium": (120, 240, 720, 1440),
    "low": (480, 960, 2880, 4320),
}
SEVERITIES = ("low", "medium", "high", "critical")
SEVERITY_WEIGHTS = (30, 40, 22, 8)
RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}
TITLES = (
    "Suspicious PowerShell encoded command",
    "Credential dumping via LSASS access",
    "Outbound connection to known C2",
    "Impossible travel sign-in",
    "Phishing link clicked",
    "Web shell upload detected",
)
INCIDENT_COLUMNS = (
    "id",
    "tenant_id",
    "title",
    "severity",
    "severity_rank",
    "category",
    "status",
    "resolution",
    "fingerprint",
    "alert_count",
    "first_seen",
    "last_seen",
    "awaiting_reason",
    "created_at",
    "updated_at",
    "respond_by",
)
CLOCK_COLUMNS = (
    "id",
    "tenant_id",
    "incident_id",
    "target",
    "owner",
    "state",
    "coverage",
    "target_minutes",
    "at_risk_percent",
    "started_at",
    "consumed_seconds",
    "resumed_at",
    "due_at",
    "at_risk_at",
    "created_at",
)
PARKED = "2999-01-01 00:00:00+00"  # the due set's deadline between phases


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S+00")


def _ids(count: int) -> list[str]:
    """Random 128-bit ids as 32 hex digits (PostgreSQL's uuid input takes them as they are)."""
    blob = os.urandom(16 * count).hex()
    return [blob[i : i + 32] for i in range(0, 32 * count, 32)]


@dataclass
class Loaded:
    clocks: int
    due: int
    incidents: int
    tenants: int
    timings: dict[str, float]


def loaded_tag(conn) -> str:
    row = conn.execute("SELECT obj_description('sla_slaclock'::regclass, 'pg_class')").fetchone()
    return (row and row[0]) or ""


def reusable(clocks: int, tenants: int) -> bool:
    """A previous run's load of the same size is there and its far deadlines are still far."""
    import psycopg

    with psycopg.connect(OWNER_URL) as conn:
        tag = loaded_tag(conn).split()
        if tag[:3] != [DATA_TAG, str(clocks), str(tenants)]:
            return False
        exists = conn.execute("SELECT to_regclass('bench_due_set') IS NOT NULL").fetchone()[0]
        if not exists:
            return False
        soonest = conn.execute(
            "SELECT min(due_at) > now() + interval '1 hour' FROM sla_slaclock c "
            "WHERE state = 'running'"
        ).fetchone()[0]
        return bool(soonest)


def load(tenant_ids: list[int], clocks: int, due_fraction: float, seed: int = 7) -> Loaded:
    """TRUNCATE, then COPY incidents (four clocks each: acknowledge, notify, contain, resolve)
    and their clocks, spread evenly over the tenants; rebuild the secondary indexes; one
    transaction, FK triggers off (rows are consistent by construction). A random
    `due_fraction` of the clocks forms the due set (bench_due_set: id, position): parked far
    away until a phase gives them deadlines in its window. The others run, with deadlines 1 to
    30 days ahead and at-risk warnings at 75 % of their target, so they never fire here."""
    import psycopg

    rng = random.Random(seed)
    timings: dict[str, float] = {}
    incidents = clocks // len(TARGETS)
    clocks = incidents * len(TARGETS)
    due_count = round(clocks * due_fraction)
    now = time.time()
    now_ts = _ts(now)
    started = time.perf_counter()
    incident_ids = _ids(incidents)
    clock_ids = _ids(clocks)
    due_positions = list(range(due_count))
    rng.shuffle(due_positions)
    due_index = dict(zip(rng.sample(range(clocks), due_count), due_positions, strict=True))
    minute_cache: dict[int, str] = {}

    def minute_ts(epoch: float) -> str:
        minute = int(epoch // 60)
        text = minute_cache.get(minute)
        if text is None:
            text = minute_cache[minute] = _ts(minute * 60)
        return text

    incident_lines, clock_lines, due_lines = [], [], []
    for n in range(incidents):
        tenant_id = tenant_ids[n % len(tenant_ids)]
        severity = rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0]
        incident_id = incident_ids[n]
        earliest = None
        for k, target in enumerate(TARGETS):
            index = n * len(TARGETS) + k
            minutes = MINUTES[severity][k]
            clock_id = clock_ids[index]
            position = due_index.get(index)
            if position is not None:
                state, due, risk = "at_risk", PARKED, PARKED
                due_lines.append(f"{clock_id}\t{position}")
            else:
                due_epoch = now + 86400 * (1 + 29 * rng.random())
                state = "running"
                due = minute_ts(due_epoch)
                risk = minute_ts(due_epoch - minutes * 15)  # 75 % of the target
                earliest = due if earliest is None or due < earliest else earliest
            clock_lines.append(
                f"{clock_id}\t{tenant_id}\t{incident_id}\t{target}\tmssp\t{state}\t24x7\t"
                f"{minutes}\t75\t{now_ts}\t0\t{now_ts}\t{due}\t{risk}\t{now_ts}"
            )
        incident_lines.append(
            f"{incident_id}\t{tenant_id}\t{rng.choice(TITLES)}\t{severity}\t{RANK[severity]}\t"
            f"execution\tnew\t\tbench-{n}\t1\t{now_ts}\t{now_ts}\t\t{now_ts}\t{now_ts}\t"
            f"{earliest or PARKED}"
        )
    timings["generate rows (Python)"] = time.perf_counter() - started

    with psycopg.connect(OWNER_URL) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")  # no FK triggers
        conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute("DROP TABLE IF EXISTS bench_due_set")
        conn.execute("CREATE TABLE bench_due_set (id uuid PRIMARY KEY, n integer NOT NULL)")
        indexes = common.secondary_indexes(conn, "alerts_incident") + common.secondary_indexes(
            conn, "sla_slaclock"
        )
        conn.execute(
            "TRUNCATE alerts_incident, alerts_incidentevent, sla_slaclock, sla_notification,"
            " tenants_auditevent CASCADE"
        )
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        for table, columns, lines in (
            ("alerts_incident", INCIDENT_COLUMNS, incident_lines),
            ("sla_slaclock", CLOCK_COLUMNS, clock_lines),
            ("bench_due_set", ("id", "n"), due_lines),
        ):
            began = time.perf_counter()
            sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            with conn.cursor() as cursor, cursor.copy(sql) as copy:
                for chunk in range(0, len(lines), 50_000):
                    copy.write(("\n".join(lines[chunk : chunk + 50_000]) + "\n").encode())
            timings[f"COPY {len(lines):,} rows into {table}"] = time.perf_counter() - began
        began = time.perf_counter()
        for _, statement in indexes:
            conn.execute(statement)
        timings[f"rebuild {len(indexes)} secondary indexes"] = time.perf_counter() - began
        conn.execute(
            f"COMMENT ON TABLE sla_slaclock IS '{DATA_TAG} {clocks} {len(tenant_ids)} {now:.0f}'"
        )
        conn.commit()
    began = time.perf_counter()
    with psycopg.connect(OWNER_URL, autocommit=True) as conn:
        for table in ("alerts_incident", "sla_slaclock", "bench_due_set"):
            conn.execute(f"VACUUM ANALYZE {table}")
    timings["VACUUM ANALYZE"] = time.perf_counter() - began
    return Loaded(clocks, due_count, incidents, len(tenant_ids), timings)


def due_count() -> int:
    import psycopg

    with psycopg.connect(OWNER_URL) as conn:
        return conn.execute("SELECT count(*) FROM bench_due_set").fetchone()[0]


def park() -> None:
    """Before a phase's worker starts: empty what previous firings wrote (timeline, audit,
    outbox), and move the due set's clocks that could still fire (a previous phase's leftovers)
    far away, so that nothing fires until arm()."""
    import psycopg

    with psycopg.connect(OWNER_URL) as conn:
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute(
            "TRUNCATE alerts_incidentevent, sla_notification, tenants_auditevent, sla_escalation,"
            " sla_escalationrun"
        )
        conn.execute(
            f"UPDATE sla_slaclock c SET due_at = '{PARKED}' FROM bench_due_set d "
            f"WHERE c.id = d.id AND c.due_at < '{PARKED}' AND c.breach_fired_at IS NULL"
        )
        conn.commit()


def arm(start: datetime, window: float, count: int) -> float:
    """Give the due set deadlines spread evenly over [start, start + window] in the order of
    their random positions (after park(): nothing else changes). Each armed clock is live
    (at_risk: its warning fired at 75 % of its target), unfired, started `target_minutes`
    before it falls due. VACUUM ANALYZE after, so that each phase starts from the same table.
    Returns the seconds it took."""
    import psycopg

    began = time.perf_counter()
    with psycopg.connect(OWNER_URL) as conn:
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute(
            """
            WITH timed AS (
                SELECT d.id, %(start)s::timestamptz
                       + make_interval(secs => d.n * %(window)s::float8 / %(count)s) AS due
                FROM bench_due_set d
            )
            UPDATE sla_slaclock c
            SET due_at = t.due,
                at_risk_at = t.due - make_interval(mins => c.target_minutes) / 4,
                at_risk_fired_at = t.due - make_interval(mins => c.target_minutes) / 4,
                started_at = t.due - make_interval(mins => c.target_minutes),
                resumed_at = t.due - make_interval(mins => c.target_minutes),
                state = 'at_risk', breach_fired_at = NULL, breached_at = NULL, met_at = NULL
            FROM timed t WHERE c.id = t.id
            """,
            {"start": start, "window": window, "count": count},
        )
        conn.commit()
    with psycopg.connect(OWNER_URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE sla_slaclock")
        conn.execute("VACUUM ANALYZE alerts_incidentevent")
    return time.perf_counter() - began


def fired_so_far(conn) -> int:
    return conn.execute(
        "SELECT count(*) FROM alerts_incidentevent WHERE kind = 'sla_breached'"
    ).fetchone()[0]


# --- results ------------------------------------------------------------------------------------
@dataclass
class Outcome:
    due: int
    fired: int  # due-set clocks with breach_fired_at
    not_fired: int
    fired_outside: int  # clocks outside the due set that fired (must be 0)
    fired_lag: list[float]  # breach_fired_at - due_at, seconds, sorted
    published_lag: list[float]  # stream event append time - due_at, seconds, sorted
    timeline: int
    timeline_dupes: int  # clocks with more than one sla_breached timeline entry
    audit: int
    audit_dupes: int
    outbox: int
    outbox_dupes: int
    stream: int
    stream_dupes: int
    delivered: int
    first_fired: float  # seconds after the window opened
    last_fired: float
    # per due clock: (due_at as seconds after the window opened, lag fired, lag visible);
    # None where it never fired / never reached the stream
    by_due: list[tuple[float, float | None, float | None]]
    ended: float = 0.0  # when the phase stopped looking, seconds after the window opened


def outcome(window_start: datetime, client) -> Outcome:
    """Read what the phase did: from the database (as the owner) and the event streams."""
    import json

    import psycopg

    with psycopg.connect(OWNER_URL) as conn:
        rows = conn.execute(
            """
            SELECT c.id::text, extract(epoch FROM c.due_at),
                   extract(epoch FROM c.breach_fired_at - c.due_at)
            FROM sla_slaclock c JOIN bench_due_set d ON d.id = c.id
            """
        ).fetchall()
        fired_outside = conn.execute(
            "SELECT count(*) FROM sla_slaclock c WHERE c.breach_fired_at IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM bench_due_set d WHERE d.id = c.id)"
        ).fetchone()[0]

        def per_clock(sql: str) -> tuple[int, int]:
            total, dupes = conn.execute(
                f"SELECT coalesce(sum(n), 0), count(*) FILTER (WHERE n > 1) FROM ({sql}) x"
            ).fetchone()
            return int(total), int(dupes)

        timeline = per_clock(
            "SELECT data->>'clock' AS clock, count(*) AS n FROM alerts_incidentevent "
            "WHERE kind = 'sla_breached' GROUP BY 1"
        )
        audit = per_clock(
            "SELECT data->>'clock' AS clock, count(*) AS n FROM tenants_auditevent "
            "WHERE action = 'sla.breached' GROUP BY 1"
        )
        outbox = per_clock(
            "SELECT payload->>'clock' AS clock, count(*) AS n FROM sla_notification "
            "WHERE event_type = 'sla.breached' GROUP BY 1"
        )
        delivered = conn.execute(
            "SELECT count(*) FROM sla_notification WHERE status = 'sent'"
        ).fetchone()[0]
        span = conn.execute(
            "SELECT extract(epoch FROM min(c.breach_fired_at) - %(s)s),"
            " extract(epoch FROM max(c.breach_fired_at) - %(s)s)"
            " FROM sla_slaclock c JOIN bench_due_set d ON d.id = c.id",
            {"s": window_start},
        ).fetchone()
    due_at = {clock: float(due) for clock, due, _ in rows}
    opened = window_start.timestamp()
    fired_lag = sorted(float(lag) for _, _, lag in rows if lag is not None)

    published: dict[str, list[float]] = {}
    for key in client.scan_iter(f"{REDIS_PREFIX}:events:*", count=1000):
        if key.endswith(b":sequence"):
            continue
        for raw_id, fields in client.xrange(key):
            event = json.loads(fields[b"e"])
            if event.get("type") == "sla.breached":
                ms = int(raw_id.split(b"-")[0])
                published.setdefault(event["data"]["clock"], []).append(ms / 1000)
    published_lag = sorted(
        min(times) - due_at[clock] for clock, times in published.items() if clock in due_at
    )
    by_due = sorted(
        (
            float(due) - opened,
            None if lag is None else float(lag),
            min(published[clock]) - float(due) if clock in published else None,
        )
        for clock, due, lag in rows
    )
    return Outcome(
        due=len(rows),
        fired=len(fired_lag),
        not_fired=len(rows) - len(fired_lag),
        fired_outside=fired_outside,
        fired_lag=fired_lag,
        published_lag=published_lag,
        timeline=timeline[0],
        timeline_dupes=timeline[1],
        audit=audit[0],
        audit_dupes=audit[1],
        outbox=outbox[0],
        outbox_dupes=outbox[1],
        stream=sum(len(t) for t in published.values()),
        stream_dupes=sum(1 for t in published.values() if len(t) > 1),
        delivered=delivered,
        first_fired=float(span[0]) if span[0] is not None else float("nan"),
        last_fired=float(span[1]) if span[1] is not None else float("nan"),
        by_due=by_due,
    )


def ensure_contacts(tenant_ids: list[int]) -> int:
    """One SLA contact per tenant (email): each firing writes one outbox row."""
    from tenants.models import Contact, Tenant
    from tenants.rls import rls_bypass

    with rls_bypass("bench setup"):
        have = set(
            Contact.objects.dangerously_unscoped("bench setup")
            .filter(tenant_id__in=tenant_ids, notify_sla=True)
            .values_list("tenant_id", flat=True)
        )
        slugs = dict(Tenant.objects.filter(pk__in=tenant_ids).values_list("pk", "slug"))
        Contact.objects.bulk_create(
            [
                Contact(tenant_id=t, name="SOC contact", email=f"soc@{slugs[t]}.example")
                for t in tenant_ids
                if t not in have
            ]
        )
    return len(tenant_ids)


def eta_publish(clocks: list[tuple[str, datetime]]) -> float:
    """apply_async(eta=due_at) of the baseline task for each clock, through one producer whose
    Redis commands are pipelined 1,000 at a time (kombu's producer.batch()); returns the
    seconds it took."""
    from mssp.celery import app

    began = time.perf_counter()
    with app.producer_or_acquire() as producer, producer.batch(1000):
        for clock_id, due in clocks:
            app.send_task(ETA_TASK, args=[clock_id], eta=due, producer=producer)
    return time.perf_counter() - began


def due_clocks() -> list[tuple[str, datetime]]:
    import psycopg

    with psycopg.connect(OWNER_URL) as conn:
        return [
            (str(i), due)
            for i, due in conn.execute(
                "SELECT c.id, c.due_at FROM sla_slaclock c JOIN bench_due_set d ON d.id = c.id"
            ).fetchall()
        ]


def seconds(value: timedelta) -> float:
    return value.total_seconds()


# --- profile: the claim query and the cost of one firing ----------------------------------------
def profile_sweep(due: int, passes: int = 3) -> list[str]:
    """In this process, as the app role: make `due` clocks overdue, EXPLAIN ANALYZE the breach
    claim of sla.services._sweep_one as it is and as it was (joined to incident and tenant),
    rolled back; then time a few sweep() calls (each drains for up to SWEEP_MAX_SECONDS),
    counting their SQL statements and this process's CPU. Returns the lines to print."""
    from django.db import connection, transaction
    from django.db.models import Q
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from sla import services
    from sla.models import SlaClock
    from tenants.rls import rls_bypass

    park()
    arm(datetime.now(UTC) - timedelta(seconds=120), 60.0, due)
    common.flush_redis()
    lines = []
    now = timezone.now()
    base = (
        SlaClock.objects.dangerously_unscoped("bench: EXPLAIN")
        .filter(Q(state__in=services.LIVE, breach_fired_at__isnull=True, due_at__lte=now))
        .select_for_update(skip_locked=True, of=("self",))
    )
    claims = {
        "the claim as it is (walking the deadline index)": (
            base.only(*services.SWEPT_FIELDS),
            services._walk_the_deadline_index,
        ),
        "the same claim with the planner left alone": (
            base.only(*services.SWEPT_FIELDS),
            contextlib.nullcontext,
        ),
        "the claim as it was (select_related incident, tenant)": (
            base.select_related("incident", "tenant"),
            contextlib.nullcontext,
        ),
    }
    for title, (claim, planner) in claims.items():
        with transaction.atomic(), rls_bypass("bench: EXPLAIN of the sweep's claim"):
            sql, params = claim.order_by("due_at")[: services.SWEEP_BATCH].query.sql_with_params()
            with planner(), connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = [row[0] for row in cursor.fetchall()]
            transaction.set_rollback(True)
        lines.append(f"{title}: {services.SWEEP_BATCH} of {due:,} overdue clocks")
        lines += ["     " + line for line in plan]
    for n in range(passes):
        began, cpu = time.perf_counter(), time.process_time()
        with CaptureQueriesContext(connection) as queries:
            fired = services.sweep()
        took, cpu = time.perf_counter() - began, time.process_time() - cpu
        per = 1000 / max(fired[1], 1)
        lines.append(
            f"sweep() call {n + 1}: fired {fired[1]:,} in {took:.3f} s = {took * per:.2f} ms "
            f"per firing ({cpu * per:.2f} ms of this process's CPU), "
            f"{len(queries.captured_queries):,} SQL statements"
        )
    return lines
