"""Notification storm benchmark (not a test): a breach storm, from each SLA clock falling due
to the page arriving at the customer's receiver, with the portal's own design (the SLA sweep
on its 1-second beat fires the breaches; each firing's channel deliveries are written in its
transaction and sent by Celery workers on the `notifications` queue, NOTIFICATIONS_CONCURRENCY
at once per worker process, tenants taking turns: tenants.outbox) next to a BASELINE measured
in the same run: the same storm delivered one HTTP call at a time by a single worker process
(NOTIFICATIONS_CONCURRENCY=1, `--concurrency 1`: the outbox as it was, one row claimed, sent
and recorded after another).

    .venv/bin/python -m bench.notify_storm                        # 500 tenants, 10,000 in 60 s
    .venv/bin/python -m bench.notify_storm --firings 300 --seconds 10   # smoke: under a minute
    .venv/bin/python -m bench.notify_storm --only ours --workers 3 --concurrency 48

The delivery workers are real Celery workers (`celery -A mssp worker -Q notifications`,
prefork `--workers` processes, each sending `--concurrency` at once: 2 x 64 by default) on
the bench's Redis, as the settings advise for a storm; the baseline's is one process sending
one at a time. The whole baseline storm would take over an hour: it runs the same storm and
stops --baseline-drain seconds after the window (its lags are then lower bounds, `>=`); the
summary projects its end from the rate it kept.

Its own database mssp_bench_notify (created and migrated when missing) and Redis db 13
(flushed before each phase: broker, channel layer and event streams under the prefix
mssp-bench-notify); BENCH_NOTIFY_DATABASE_OWNER_URL, BENCH_NOTIFY_DATABASE_URL and
BENCH_NOTIFY_REDIS_URL override them. Only 127.0.0.1.

Set-up: `--tenants` tenants (bench-0000 ...), each with 3 channels of kind `webhook` (Standard
Webhooks, the URL sealed as the portal seals it) subscribed to `sla.breached`, channel k
pointing at receiver k. The receivers are 3 asyncio processes on loopback (this script with
--receiver): each reads a request, waits a uniformly random 50-200 ms, answers 200, and notes
the `webhook-id` (the delivery id) with the times it arrived and was answered.

Each phase: wait (up to --max-wait in all) for the 1-minute load average to fall under
--load-limit; empty the incidents (TRUNCATE ... CASCADE: clocks, deliveries, timeline), the
audit log and Redis db 13; COPY `--firings` incidents spread over the tenants, each with one
live clock (acknowledge, its at-risk warning already fired, so it fires once: its breach);
start the receivers, `celery beat` (the portal's schedule: the sweep every second), a worker
for the sweep (`-Q sla,celery`, prefork 2) and the delivery worker (`-Q notifications`); warm
the delivery worker up (4 x its threads of deliveries about one incident, sent, then deleted
and left out of the figures: a worker that has been running has imported and set up what
sending takes); give the clocks deadlines spread evenly over `--seconds`; sample RSS and
CPU every 0.5 s until every delivery is sent, or --drain seconds after the window (the
baseline: --baseline-drain); stop everything; read the outcome from the database (as the
owner) and the receivers' records:

- page lag: the receiver's answer (and, beside it, the request's arrival) - the clock's due_at
  (the breach); a delivery that never arrived counts with its lower bound, end - due_at;
- lost: deliveries expected (firings x 3) - distinct delivery ids received; duplicated:
  requests received - distinct ids;
- sweep lag: breach_fired_at - due_at (the sweep pass that fired it), as bench/sla_sweep.py;
- delivery workers' RSS (main process + pool processes) and CPU per process group.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
DATABASE = "mssp_bench_notify"
OWNER_URL = os.environ.get(
    "BENCH_NOTIFY_DATABASE_OWNER_URL", f"postgresql://postgres@{HOST}:5432/{DATABASE}"
)
APP_URL = os.environ.get(
    "BENCH_NOTIFY_DATABASE_URL", f"postgresql://mssp_app:mssp_app@{HOST}:5432/{DATABASE}"
)
REDIS_URL = os.environ.get("BENCH_NOTIFY_REDIS_URL", f"redis://{HOST}:6379/13")
REDIS_PREFIX = "mssp-bench-notify"
CHANNELS_PER_TENANT = 3
CHANNEL_NAME = "bench storm"
PARKED = "2999-01-01 00:00:00+00"  # the clocks' deadline until the phase arms them
# The columns COPY fills (as bench/_sla.py's load: every NOT NULL one without a default).
INCIDENT_COLUMNS = (
    "id", "tenant_id", "title", "severity", "severity_rank", "category", "status", "resolution",
    "fingerprint", "alert_count", "first_seen", "last_seen", "awaiting_reason", "created_at",
    "updated_at", "respond_by",
)  # fmt: skip
CLOCK_COLUMNS = (
    "id", "tenant_id", "incident_id", "target", "owner", "state", "coverage", "target_minutes",
    "at_risk_percent", "started_at", "consumed_seconds", "resumed_at", "due_at", "at_risk_at",
    "created_at", "at_risk_fired_at",
)  # fmt: skip
SEVERITIES = ("low", "medium", "high", "critical")
RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}
TITLES = (
    "Suspicious PowerShell encoded command",
    "Credential dumping via LSASS access",
    "Outbound connection to known C2",
    "Impossible travel sign-in",
    "Phishing link clicked",
    "Web shell upload detected",
)

# _common reads these at import: its helpers then work on this bench's database and Redis db.
os.environ["BENCH_DATABASE_OWNER_URL"] = OWNER_URL
os.environ["BENCH_DATABASE_URL"] = APP_URL
os.environ["BENCH_REDIS_URL"] = REDIS_URL

from bench import _common as common  # noqa: E402
from bench._common import (  # noqa: E402
    children,
    rss_mib,
    slope_per_minute,
    wait_for_quiet,
)

LOG_DIR = common.LOG_DIR
WORKER_ENV = {
    **common.BENCH_ENV,
    "CHANNELS_REDIS_PREFIX": REDIS_PREFIX,
    "DJANGO_SETTINGS_MODULE": "mssp.settings",
    "WEBHOOK_ALLOW_PRIVATE": "1",  # the receivers are on loopback
    "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
}


# --- the receivers ------------------------------------------------------------------------------
class _Endpoint(asyncio.Protocol):
    """One connection to a receiver: a request read as it arrives (headers, then
    Content-Length bytes of body), answered 200 after a random 50-200 ms (call_later: no task
    per request, so that the receivers take little of the CPU the portal is measured on)."""

    def __init__(self, rng: random.Random, records: list[tuple[str, float, float]]):
        self.rng, self.records = rng, records
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - a TCP server's
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length, delivery = 0, ""
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"webhook-id":
                    delivery = value.strip().decode()
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            arrived = time.time()
            loop = asyncio.get_running_loop()
            loop.call_later(self.rng.uniform(0.05, 0.2), self.answer, delivery, arrived)

    def answer(self, delivery: str, arrived: float) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            self.records.append((delivery, arrived, time.time()))


async def _receive(port: int, out: Path, seed: int) -> None:
    """A customer's endpoint: answers 200 after 50-200 ms; writes [(webhook-id, arrived,
    answered), ...] (epoch seconds) to `out` when told to stop (SIGTERM)."""
    rng = random.Random(seed)
    records: list[tuple[str, float, float]] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = await loop.create_server(
        lambda: _Endpoint(rng, records), HOST, port, backlog=4096, reuse_address=True
    )
    print("ready", flush=True)
    await stop.wait()
    server.close()
    out.write_text(json.dumps(records))


class Receivers:
    """`count` receiver processes on fixed ports (the channels' URLs stay valid across
    phases); records() reads what each noted, after stop."""

    def __init__(self, ports: list[int], label: str):
        self.ports, self.label = ports, label
        self.procs: list[subprocess.Popen] = []
        self.files = [LOG_DIR / f"notify-{label}-receiver-{n}.json" for n in range(len(ports))]

    def __enter__(self) -> Receivers:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        for n, port in enumerate(self.ports):
            self.files[n].unlink(missing_ok=True)
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.notify_storm", "--receiver", str(port)]
                    + ["--receiver-out", str(self.files[n]), "--receiver-seed", str(n)],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for proc in self.procs:
            if proc.stdout is None or proc.stdout.readline().strip() != "ready":
                self.__exit__(None, None, None)
                raise RuntimeError("a receiver did not start")
        return self

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def records(self) -> list[tuple[str, float, float]]:
        found: list[tuple[str, float, float]] = []
        for path in self.files:
            if path.exists():
                found += [tuple(r) for r in json.loads(path.read_text())]
        return found


def receiver_ports(count: int) -> list[int]:
    """Free ports below the ephemeral range, so that no process that binds port 0 (other
    people's tests) takes one between the phases: the channels' URLs name them."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    ports: list[int] = []
    while len(ports) < count:
        port = rng.randrange(20_000, max(20_001, min(low, 32_768)))
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return ports


# --- processes: RSS and CPU ---------------------------------------------------------------------
def tree_rss(pid: int) -> float:
    return rss_mib(pid) + sum(rss_mib(c) for c in children(pid))


class CpuMeter:
    """Cores busy per group between start() and stop(): named process trees (a Celery worker
    and its pool), PostgreSQL backends of this bench's database and all others, redis-server,
    and the rest of the machine. Processes that exit between samples keep their last
    reading."""

    def __init__(self, groups: dict[str, list[int]]):
        self.roots = groups
        self.first: dict[int, tuple[str, float]] = {}
        self.last: dict[int, tuple[str, float]] = {}

    def _groups(self) -> dict[int, str]:
        found = {os.getpid(): "bench"}
        for name, pids in self.roots.items():
            for pid in pids:
                found[pid] = name
                found.update(dict.fromkeys(children(pid), name))
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in found:
                continue
            try:
                comm = Path(f"/proc/{entry}/comm").read_text().strip()
            except OSError:
                continue
            if comm == "postgres":
                mine = f" {DATABASE} " in common._cmdline(entry)
                found[int(entry)] = "pg_bench" if mine else "pg_other"
            elif comm.startswith("redis-server"):
                found[int(entry)] = "redis"
        return found

    @staticmethod
    def _machine() -> float:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return (sum(values[:8]) - values[3] - values[4]) / common._TICK

    def sample(self, first: bool = False) -> None:
        for pid, group in self._groups().items():
            used = common._proc_cpu(pid)
            if first or pid not in self.first:
                self.first.setdefault(pid, (group, 0.0 if not first else used))
            self.last[pid] = (group, used)

    def start(self) -> CpuMeter:
        self.sample(first=True)
        self.machine_before, self.wall_before = self._machine(), time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        self.sample()
        wall = time.monotonic() - self.wall_before
        used: dict[str, float] = dict.fromkeys([*self.roots, "pg_bench", "pg_other", "redis"], 0.0)
        used["bench"] = 0.0
        for pid, (group, cpu) in self.last.items():
            used[group] = used.get(group, 0.0) + (cpu - self.first[pid][1]) / wall
        known = sum(used.values())
        used["machine_busy"] = (self._machine() - self.machine_before) / wall
        used["other"] = max(0.0, used["machine_busy"] - known)
        return used


def format_cpu(used: dict[str, float]) -> str:
    return "cores busy: " + ", ".join(f"{name} {value:.2f}" for name, value in used.items())


# --- Celery -------------------------------------------------------------------------------------
class Celery:
    """Beat with the portal's schedule, a worker for the sweep (-Q sla,celery, prefork 2, as the
    settings advise for a storm), and `workers` delivery worker processes (-Q notifications,
    prefork) sending `concurrency` rows at once each (NOTIFICATIONS_CONCURRENCY)."""

    def __init__(self, label: str, workers: int, concurrency: int):
        self.label, self.workers, self.concurrency = label, workers, concurrency
        self.tag = f"{label}-{os.getpid()}"
        self.beat: subprocess.Popen | None = None
        self.sweeper: subprocess.Popen | None = None
        self.deliverer: subprocess.Popen | None = None

    def _spawn(self, args: list[str], log_name: str, **env: str) -> subprocess.Popen:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = open(LOG_DIR / log_name, "wb")  # noqa: SIM115 (the child keeps it)
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mssp", *args],
            cwd=ROOT,
            env={**os.environ, **WORKER_ENV, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    @staticmethod
    def _worker_args(queues: str, concurrency: int, hostname: str) -> list[str]:
        return [
            "worker", "-Q", queues, "--concurrency", str(concurrency), "--hostname", hostname,
            "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING",
        ]  # fmt: skip

    def __enter__(self) -> Celery:
        try:
            self.sweeper = self._spawn(
                self._worker_args("sla,celery", 2, f"sweep-{self.tag}@bench"),
                f"notify-{self.label}-sweep-worker.log",
            )
            self.deliverer = self._spawn(
                self._worker_args("notifications", self.workers, f"deliver-{self.tag}@bench"),
                f"notify-{self.label}-delivery-worker.log",
                NOTIFICATIONS_CONCURRENCY=str(self.concurrency),
            )
            self._wait_ready([f"sweep-{self.tag}@bench", f"deliver-{self.tag}@bench"])
            schedule = LOG_DIR / f"notify-{self.label}-beat-schedule"
            for stale in LOG_DIR.glob(f"notify-{self.label}-beat-schedule*"):
                stale.unlink()
            self.beat = self._spawn(
                ["beat", "--schedule", str(schedule), "--loglevel", "WARNING"],
                f"notify-{self.label}-beat.log",
            )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self, hostnames: list[str], timeout: float = 90) -> None:
        from mssp.celery import app

        deadline = time.monotonic() + timeout
        waiting = set(hostnames)
        while time.monotonic() < deadline:
            for proc in (self.sweeper, self.deliverer):
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"a worker exited ({proc.returncode}); see {LOG_DIR}")
            for hostname in list(waiting):
                if app.control.ping(destination=[hostname], timeout=0.5):
                    waiting.discard(hostname)
            if not waiting:
                return
            time.sleep(0.2)
        raise RuntimeError(f"workers not ready after {timeout}s: {waiting}; see {LOG_DIR}")

    def groups(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for name, proc in (
            ("delivery", self.deliverer),
            ("sweep", self.sweeper),
            ("beat", self.beat),
        ):
            if proc is not None:
                found[name] = [proc.pid]
        return found

    def kill(self) -> None:
        """Stop at once: the baseline's worker is in the middle of a drain it would finish
        first (warm shutdown); its figures are read already."""
        for proc in (self.deliverer, self.sweeper, self.beat):
            if proc is not None and proc.poll() is None:
                pool = children(proc.pid)
                proc.kill()
                for pid in pool:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        self.__exit__(None, None, None)

    def __exit__(self, *exc) -> None:
        procs = [p for p in (self.beat, self.sweeper, self.deliverer) if p is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- data ---------------------------------------------------------------------------------------
def configure() -> None:
    """This process: the bench's database as the app role, Redis db 13, mssp.settings."""
    common.configure_environment("mssp.settings")
    os.environ.update(WORKER_ENV)
    import django

    django.setup()


def ensure_channels(tenant_ids: list[int], ports: list[int]) -> int:
    """Each tenant's CHANNELS_PER_TENANT webhook channels, subscribed to sla.breached, channel
    k pointing at receiver k (their secrets sealed again on every run: the receivers' ports
    change). No SLA contacts or webhooks (sla.notify), no escalation policies: a breach is
    told through the channels only."""
    from notifications.models import Channel, Subscription
    from notifications.senders import new_signing_secret
    from sla.models import EscalationPolicy
    from tenants.models import Contact, Webhook
    from tenants.rls import rls_bypass
    from tenants.sealed import seal

    def secrets(tenant_id: int, k: int) -> str:
        url = f"http://{HOST}:{ports[k]}/hooks/{tenant_id}/{k}"
        return seal({"url": url, "signing_secret": new_signing_secret()})

    with rls_bypass("bench setup"):
        for model in (Contact, Webhook, EscalationPolicy):
            model.objects.dangerously_unscoped("bench setup").filter(
                tenant_id__in=tenant_ids
            ).delete()
        mine = Channel.objects.dangerously_unscoped("bench setup").filter(tenant_id__in=tenant_ids)
        existing = list(mine.filter(name__startswith=CHANNEL_NAME, is_active=True))
        if len(existing) == len(tenant_ids) * CHANNELS_PER_TENANT == mine.count():
            for channel in existing:
                channel.sealed_secrets = secrets(channel.tenant_id, int(channel.name[-1]))
            mine.bulk_update(existing, ["sealed_secrets"], batch_size=500)
            return len(existing)
        mine.delete()
        channels = [
            Channel(
                tenant_id=tenant_id,
                name=f"{CHANNEL_NAME} {k}",
                kind="webhook",
                sealed_secrets=secrets(tenant_id, k),
                hint=f"receiver {k}",
            )
            for tenant_id in tenant_ids
            for k in range(CHANNELS_PER_TENANT)
        ]
        Channel.objects.bulk_create(channels)
        Subscription.objects.bulk_create(
            [
                Subscription(tenant_id=c.tenant_id, channel=c, events=["sla.breached"])
                for c in channels
            ]
        )
    return len(channels)


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def load(tenant_ids: list[int], firings: int, seed: int = 11) -> float:
    """Empty what a previous phase left (incidents and everything that hangs off them:
    clocks, deliveries, timeline; the audit log), then COPY `firings` incidents spread over
    the tenants, each with one live acknowledge clock whose at-risk warning has fired: parked
    until arm() gives it its deadline. Returns the seconds it took."""
    import psycopg

    began = time.perf_counter()
    rng = random.Random(seed)
    now_ts = _ts(time.time())
    blob = os.urandom(32 * firings).hex()
    incident_lines, clock_lines = [], []
    for n in range(firings):
        incident_id, clock_id = blob[64 * n : 64 * n + 32], blob[64 * n + 32 : 64 * n + 64]
        tenant_id = tenant_ids[n % len(tenant_ids)]
        severity = rng.choice(SEVERITIES)
        incident_lines.append(
            f"{incident_id}\t{tenant_id}\t{rng.choice(TITLES)}\t{severity}\t{RANK[severity]}\t"
            f"execution\tnew\t\tstorm-{n}\t1\t{now_ts}\t{now_ts}\t\t{now_ts}\t{now_ts}\t{PARKED}"
        )
        clock_lines.append(
            f"{clock_id}\t{tenant_id}\t{incident_id}\tacknowledge\tmssp\tat_risk\t24x7\t15\t75\t"
            f"{now_ts}\t0\t{now_ts}\t{PARKED}\t{now_ts}\t{now_ts}\t{now_ts}"
        )
    with psycopg.connect(OWNER_URL) as conn:
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute("TRUNCATE alerts_incident, tenants_auditevent CASCADE")
        for table, columns, lines in (
            ("alerts_incident", INCIDENT_COLUMNS, incident_lines),
            ("sla_slaclock", CLOCK_COLUMNS, clock_lines),
        ):
            with (
                conn.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                copy.write(("\n".join(lines) + "\n").encode())
        conn.commit()
    with psycopg.connect(OWNER_URL, autocommit=True) as conn:
        for table in ("alerts_incident", "sla_slaclock", "notifications_delivery"):
            conn.execute(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - began


def arm(start: datetime, window: float) -> float:
    """Deadlines spread evenly over [start, start + window], in a random order of the clocks
    (so tenants' breaches interleave as they would). Returns the seconds it took."""
    import psycopg

    began = time.perf_counter()
    with psycopg.connect(OWNER_URL) as conn:
        conn.execute(
            """
            WITH ordered AS (
                SELECT id, row_number() OVER (ORDER BY md5(id::text)) - 1 AS n,
                       count(*) OVER () AS total
                FROM sla_slaclock
            )
            UPDATE sla_slaclock c
            SET due_at = %(start)s::timestamptz
                         + make_interval(secs => o.n * %(window)s::float8 / o.total),
                started_at = %(start)s::timestamptz - interval '15 minutes',
                resumed_at = %(start)s::timestamptz - interval '15 minutes'
            FROM ordered o WHERE c.id = o.id
            """,
            {"start": start, "window": window},
        )
        conn.commit()
    with psycopg.connect(OWNER_URL, autocommit=True) as conn:
        conn.execute("ANALYZE sla_slaclock")
    return time.perf_counter() - began


def progress(conn) -> tuple[int, int, int]:
    """(clocks fired, deliveries written, deliveries sent) so far."""
    fired = conn.execute(
        "SELECT count(*) FROM sla_slaclock WHERE breach_fired_at IS NOT NULL"
    ).fetchone()[0]
    written, sent = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'sent') FROM notifications_delivery"
    ).fetchone()
    return fired, written, sent


def warm_up(tenant_id: int, count: int, phase: Phase, timeout: float = 60) -> tuple[int, float]:
    """Before the window: `count` deliveries to one tenant's channels (no incident), sent by
    the delivery worker as any other, so that its processes have imported and set up what
    sending takes (as a worker that has been running has) before the storm is timed. They
    are deleted after, and left out of the figures (phase.warm)."""
    import psycopg
    from django.utils import timezone

    from alerts.models import Incident
    from mssp.celery import app
    from notifications.models import Channel, Delivery
    from tenants.rls import rls_bypass

    began = time.monotonic()
    with rls_bypass("bench warm-up"):
        channels = list(Channel.objects.dangerously_unscoped("bench").filter(tenant_id=tenant_id))
        # about an incident, as the storm's are: the message offers its one-click answers
        incident = Incident.objects.for_tenant(tenant_id).first()
        message = {
            "event_type": "sla.breached",
            "subject_key": "bench:warm-up",
            "tenant_name": "Bench",
            "title": "Warm-up",
            "text": "",
            "severity": "info",
            "url": "https://portal.example/",
        }
        rows = Delivery.objects.bulk_create(
            [
                Delivery(
                    tenant_id=tenant_id,
                    channel=channels[n % len(channels)],
                    kind="webhook",
                    event_type="sla.breached",
                    incident=incident,
                    title="Warm-up",
                    message=message,
                    key=f"bench-warm-up:{n}:{time.time()}",
                    next_attempt_at=timezone.now(),
                )
                for n in range(count)
            ]
        )
    phase.warm |= {str(row.pk) for row in rows}
    ids = [row.pk for row in rows]
    with psycopg.connect(OWNER_URL, autocommit=True) as conn:
        for _ in range(max(2, count // 64)):  # every process of the worker gets some
            app.send_task("notifications.tasks.deliver_deliveries")
        while time.monotonic() - began < timeout:
            left = conn.execute(
                "SELECT count(*) FROM notifications_delivery WHERE id = ANY(%s) "
                "AND status <> 'sent'",
                [ids],
            ).fetchone()[0]
            if not left:
                break
            time.sleep(0.2)
        conn.execute("DELETE FROM notifications_delivery WHERE id = ANY(%s)", [ids])
    return count, time.monotonic() - began


# --- a phase ------------------------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    firings: int
    expected: int
    window_start: float = 0.0  # epoch
    ended: float = 0.0  # epoch, when the phase stopped looking
    load_before: float = 0.0
    waited: float = 0.0
    # per delivery row: id -> (due_at, breach_fired_at or None, created_at) as epoch
    rows: dict[str, tuple[float, float | None, float]] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    warm: set[str] = field(default_factory=set)  # warm-up delivery ids: not in the figures
    clocks_due: list[float] = field(default_factory=list)
    sweep_lags: list[float] = field(default_factory=list)  # unfired: end - due_at (a bound)
    unfired: int = 0
    received: list[tuple[str, float, float]] = field(default_factory=list)
    at: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    sweep_rss: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0


def run_phase(name: str, args, tenant_ids: list[int], ports: list[int], budget: list[float]):
    import psycopg

    baseline = name == "baseline"
    phase = Phase(name, args.firings, args.firings * CHANNELS_PER_TENANT)
    waited, phase.load_before = wait_for_quiet(args.load_limit, budget[0])
    budget[0] -= waited
    phase.waited = waited
    print(f"   waited {waited:.0f} s for load; 1-min load now {phase.load_before:.2f}")
    print(f"   {common.uptime()}", flush=True)
    common.flush_redis()
    took = load(tenant_ids, args.firings)
    print(f"   loaded {args.firings:,} incidents with one live clock each ({took:.1f} s)")
    workers, concurrency = (1, 1) if baseline else (args.workers, args.concurrency)
    with Receivers(ports, name) as receivers, Celery(name, workers, concurrency) as celery:
        print(
            f"   receivers on ports {', '.join(map(str, ports))}; delivery worker: prefork "
            f"{workers} x NOTIFICATIONS_CONCURRENCY={concurrency}; sweep worker and beat up",
            flush=True,
        )
        count, took = warm_up(tenant_ids[0], max(4, 4 * workers * concurrency), phase)
        print(f"   warm-up: {count} deliveries sent by the delivery worker ({took:.1f} s)")
        start = datetime.now(UTC) + timedelta(seconds=args.lead)
        armed = arm(start, args.seconds)
        phase.window_start = start.timestamp()
        print(
            f"   armed {args.firings:,} clocks due from +{args.lead:.0f} s over "
            f"{args.seconds:.0f} s ({armed:.1f} s): {args.firings / args.seconds:,.0f} "
            f"breaches/s, {phase.expected / args.seconds:,.0f} deliveries/s offered",
            flush=True,
        )
        groups = {**celery.groups(), "receivers": receivers.pids}
        while (ahead := phase.window_start - time.time()) > 0:
            time.sleep(min(0.5, ahead))
        cpu = CpuMeter(groups).start()
        opened = time.monotonic()
        drain = args.baseline_drain if baseline else args.drain
        sent = fired = 0
        next_count = 0.0
        with psycopg.connect(OWNER_URL, autocommit=True) as conn:
            while True:
                t = time.monotonic() - opened
                phase.at.append(t)
                phase.rss.append(tree_rss(celery.deliverer.pid))
                phase.sweep_rss.append(tree_rss(celery.sweeper.pid))
                cpu.sample()
                if t >= next_count:
                    fired, written, sent = progress(conn)
                    next_count = t + 1.0
                    if args.verbose:
                        print(f"     +{t:5.1f} s fired {fired:,} written {written:,} sent {sent:,}")
                if t > args.seconds and fired >= args.firings and sent >= phase.expected:
                    break
                if t > args.seconds + drain:
                    print(
                        f"   drain limit: {phase.expected - sent:,} of {phase.expected:,} "
                        "deliveries not sent yet"
                    )
                    break
                time.sleep(0.5)
        phase.cpu = cpu.stop()
        phase.elapsed = time.monotonic() - opened
        phase.ended = time.time()
        if baseline:
            celery.kill()
        time.sleep(0.3)  # answers in flight reach the receivers' records
    phase.received = [r for r in receivers.records() if r[0] not in phase.warm]
    read_outcome(phase)
    return phase


def read_outcome(phase: Phase) -> None:
    import psycopg

    with psycopg.connect(OWNER_URL) as conn:
        for delivery_id, due, fired, created in conn.execute(
            """
            SELECT d.id::text, extract(epoch FROM c.due_at), extract(epoch FROM c.breach_fired_at),
                   extract(epoch FROM d.created_at)
            FROM notifications_delivery d JOIN sla_slaclock c ON c.incident_id = d.incident_id
            """
        ):
            phase.rows[delivery_id] = (
                float(due),
                None if fired is None else float(fired),
                float(created),
            )
        phase.statuses = dict(
            conn.execute("SELECT status, count(*) FROM notifications_delivery GROUP BY 1")
        )
        phase.retried = conn.execute(
            "SELECT count(*) FROM notifications_delivery WHERE attempts > 1"
        ).fetchone()[0]
        clocks = conn.execute(
            "SELECT extract(epoch FROM due_at), extract(epoch FROM breach_fired_at - due_at) "
            "FROM sla_slaclock"
        ).fetchall()
    phase.clocks_due = [float(due) for due, _ in clocks]
    phase.unfired = sum(1 for _, lag in clocks if lag is None)
    phase.sweep_lags = sorted(
        float(lag) if lag is not None else phase.ended - float(due) for due, lag in clocks
    )


# --- figures ------------------------------------------------------------------------------------
def page_lags(phase: Phase, which: int) -> tuple[list[float], int]:
    """Every expected delivery's lag (receiver's answer (which=2) or arrival (1) - the
    breach), sorted; one never received counts with its lower bound, end - due_at (and so
    does a firing that never happened: each of its deliveries). Returns (lags, bounds)."""
    first: dict[str, float] = {}
    for delivery, *times in phase.received:
        moment = times[which - 1]
        if delivery in phase.rows and (delivery not in first or moment < first[delivery]):
            first[delivery] = moment
    lags = [first[d] - due for d, (due, _, _) in phase.rows.items() if d in first]
    bounds = [phase.ended - due for d, (due, _, _) in phase.rows.items() if d not in first]
    missing = phase.expected - len(phase.rows)  # deliveries of firings that never happened
    if missing > 0:
        unfired = sorted(phase.ended - due for due in phase.clocks_due)[: missing // 3]
        bounds += [lag for lag in unfired for _ in range(CHANNELS_PER_TENANT)]
    return sorted(lags + bounds), len(bounds)


def pick(values: list[float], q: float) -> float:
    return common.percentile(values, q)


def fmt(value: float, bound: bool) -> str:
    return f">= {value:.1f} s" if bound else f"{value:.2f} s"


def lag_line(values: list[float], bounds: int) -> str:
    if not values:
        return "none"
    parts = [f"p{q} {fmt(pick(values, q), bounds > 0)}" for q in (50, 90, 99)]
    return ", ".join(parts) + f", max {fmt(values[-1], bounds > 0)} (n={len(values):,})"


def counts(phase: Phase) -> dict[str, int]:
    ids = [delivery for delivery, _, _ in phase.received]
    distinct = set(ids)
    return {
        "received": len(ids),
        "distinct": len(distinct),
        "duplicated": len(ids) - len(distinct),
        "lost": phase.expected - len(distinct & set(phase.rows)),
        "strangers": len(distinct - set(phase.rows)),
    }


def report(phase: Phase, args) -> None:
    c = counts(phase)
    answered, bounds = page_lags(phase, 2)
    arrived, _ = page_lags(phase, 1)
    fired = phase.sweep_lags
    print(
        f"   deliveries written {len(phase.rows):,} of {phase.expected:,} expected; statuses "
        f"{phase.statuses}; tried more than once {phase.retried:,}"
    )
    print(
        f"   received {c['received']:,} requests, {c['distinct']:,} distinct deliveries: lost "
        f"{c['lost']:,}, duplicated {c['duplicated']:,}, unknown ids {c['strangers']:,}"
    )
    print(f"   page lag (receiver answered - breach): {lag_line(answered, bounds)}")
    print(f"   page lag (request arrived   - breach): {lag_line(arrived, bounds)}")
    unfired = phase.unfired
    # where the time goes: fired (the sweep), written (routing, in the firing's transaction;
    # visible at its commit), arrived (claimed, sent)
    arrival: dict[str, float] = {}
    for delivery, arrived_at, _ in phase.received:
        arrival.setdefault(delivery, arrived_at)
    steps = sorted(
        (fired_at - due, created - (fired_at or due), arrival[d] - created)
        for d, (due, fired_at, created) in phase.rows.items()
        if d in arrival and fired_at is not None
    )
    if steps:
        parts = list(zip(*steps, strict=True))
        names = ("due -> fired", "fired -> written", "written -> arrived")
        print(
            "   of which (p50 / p99): "
            + "; ".join(
                f"{n} {pick(sorted(v), 50):.2f} / {pick(sorted(v), 99):.2f} s"
                for n, v in zip(names, parts, strict=True)
            )
        )
    print(
        f"   sweep lag (breach_fired_at - due_at): p50 {pick(fired, 50):.2f} s, p99 "
        f"{pick(fired, 99):.2f} s, max {fired[-1]:.2f} s"
        + (f"; {unfired} unfired" if unfired else "")
    )
    received = {}
    for delivery, _, answer in phase.received:
        received.setdefault(delivery, answer)
    span = [t for t in received.values()]
    if len(span) > 1:
        rate = len(span) / max(1e-9, max(span) - min(span))
        offered = phase.expected / args.seconds
        print(f"   delivered {len(span):,} at {rate:,.0f}/s (offered {offered:,.0f}/s)")
    print("   page lag (answered) by due time:")
    width = 10.0 if args.seconds >= 30 else args.seconds / 5
    start = 0.0
    while start < args.seconds - 1e-9:
        part, missing = [], 0
        for delivery, (due, _, _) in phase.rows.items():
            if start <= due - phase.window_start < start + width:
                if delivery in received:
                    part.append(received[delivery] - due)
                else:
                    missing += 1
        part.sort()
        if part or missing:
            print(
                f"     due {start:4.0f}-{start + width:<4.0f}s: p50 {pick(part, 50):7.2f}  p99 "
                f"{pick(part, 99):7.2f}  max {part[-1] if part else float('nan'):7.2f}"
                + (f"  NOT RECEIVED {missing:,}" if missing else "")
            )
        start += width
    rss = phase.rss
    half = [i for i, t in enumerate(phase.at) if t >= args.seconds / 2]
    print(
        f"   delivery worker RSS (main + pool): {rss[0]:.0f} MiB when the window opened, max "
        f"{max(rss):.0f}, end {rss[-1]:.0f}; slope {slope_per_minute(phase.at, rss):+.1f} "
        f"MiB/min, from the window's middle "
        f"{slope_per_minute([phase.at[i] for i in half], [rss[i] for i in half]):+.1f} MiB/min"
    )
    print(
        "   delivery worker RSS every 10 s: "
        + ", ".join(
            f"{t:+.0f}s {v:.0f}"
            for n, (t, v) in enumerate(zip(phase.at, rss, strict=True))
            if n % 20 == 0 or n == len(rss) - 1
        )
    )
    print(f"   sweep worker RSS: {phase.sweep_rss[0]:.0f} -> {phase.sweep_rss[-1]:.0f} MiB")
    print(f"   {format_cpu(phase.cpu)} over {phase.elapsed:.0f} s")


def second_half_growth(phase: Phase, args) -> float:
    """How much the delivery worker's RSS grew from the window's middle to the end of the
    phase, as a fraction of it (its first seconds are its threads starting: not a leak)."""
    middle = next((v for t, v in zip(phase.at, phase.rss, strict=True) if t >= args.seconds / 2), 0)
    return (max(phase.rss[-3:]) - middle) / middle if middle else 0.0


def summary(results: list[Phase], args) -> None:
    def cells(phase: Phase) -> dict[str, str]:
        c = counts(phase)
        answered, bounds = page_lags(phase, 2)
        half = [i for i, t in enumerate(phase.at) if t >= args.seconds / 2]
        late = slope_per_minute([phase.at[i] for i in half], [phase.rss[i] for i in half])
        return {
            "page lag p50": fmt(pick(answered, 50), bounds > 0),
            "page lag p99": fmt(pick(answered, 99), bounds > 0),
            "page lag max": fmt(answered[-1], bounds > 0),
            "received / expected": f"{c['distinct']:,} / {phase.expected:,}",
            "not received (at end)": f"{c['lost']:,}",
            "duplicated": f"{c['duplicated']:,}",
            "sweep lag p99": f"{pick(phase.sweep_lags, 99):.2f} s",
            "worker RSS open/max/end": f"{phase.rss[0]:.0f}/{max(phase.rss):.0f}/"
            f"{phase.rss[-1]:.0f} MiB",
            "RSS slope, 2nd half": f"{late:+.1f} MiB/min",
            "RSS growth, 2nd half": f"{second_half_growth(phase, args):+.1%}",
            "delivery worker CPU": f"{phase.cpu.get('delivery', 0):.2f} cores",
            "sweep worker CPU": f"{phase.cpu.get('sweep', 0):.2f} cores",
            "PostgreSQL CPU": f"{phase.cpu.get('pg_bench', 0):.2f} cores",
            "others' CPU": f"{phase.cpu['other'] + phase.cpu['pg_other']:.2f} cores",
            "load before": f"{phase.load_before:.2f}",
        }

    names = {"ours": "ours (concurrent)", "baseline": "baseline (1 at a time)"}
    table = [cells(r) for r in results]
    print(f"   {'':24}" + "".join(f"{names[r.name]:>26}" for r in results))
    for key in table[0]:
        print(f"   {key:24}" + "".join(f"{row[key]:>26}" for row in table))
    for phase in results:
        if phase.name == "baseline":
            c = counts(phase)
            rate = c["distinct"] / max(1e-9, phase.ended - phase.window_start)
            if rate > 0 and c["distinct"] < phase.expected:
                need = phase.expected / rate
                # FIFO at `rate` while deliveries are written at expected/seconds: the q-th
                # quantile of them waits q * (expected / rate - seconds)
                p50, p99 = (q * (need - args.seconds) for q in (0.5, 0.99))
                print(
                    f"   baseline projection: {rate:.1f} deliveries/s, so the whole storm "
                    f"takes {need / 60:,.0f} min to deliver; page lag p50 about {p50 / 60:,.0f} "
                    f"min, p99 about {p99 / 60:,.0f} min (FIFO at that rate)"
                )
        else:
            c = counts(phase)
            answered, bounds = page_lags(phase, 2)
            grew = second_half_growth(phase, args)
            checks = {
                "p50 <= 2 s": pick(answered, 50) <= 2.0 and not bounds,
                "p99 <= 10 s": pick(answered, 99) <= 10.0 and not bounds,
                "0 lost": c["lost"] == 0,
                "0 duplicated": c["duplicated"] == 0,
                "sweep lag p99 < 2 s": pick(phase.sweep_lags, 99) < 2.0,
                "worker RSS flat (grew under 2 % over the window's second half)": grew < 0.02,
            }
            met = all(checks.values())
            print(
                f"   target: {'MET' if met else 'MISSED'} ("
                + "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items())
                + ")"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--firings", type=int, default=10_000, help="SLA breaches in the storm")
    parser.add_argument("--seconds", type=float, default=60.0, help="window they fall due in")
    parser.add_argument("--workers", type=int, default=2, help="delivery worker processes")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="NOTIFICATIONS_CONCURRENCY of each"
    )
    parser.add_argument("--lead", type=float, default=3.0, help="seconds before the window")
    parser.add_argument("--drain", type=float, help="seconds after the window to wait at most")
    parser.add_argument(
        "--baseline-drain",
        type=float,
        help="seconds after the window the baseline may go on (it cannot finish here)",
    )
    parser.add_argument("--only", default="ours,baseline", help="phases: ours,baseline")
    parser.add_argument(
        "--max-wait",
        type=float,
        help="seconds to wait in all for the load to fall (default 300; 0 for a window under 30 s)",
    )
    parser.add_argument("--load-limit", type=float, default=1.5)
    parser.add_argument("--verbose", action="store_true", help="print progress every second")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--receiver-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--receiver-seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        asyncio.run(_receive(args.receiver, args.receiver_out, args.receiver_seed))
        return 0
    args.drain = args.drain if args.drain is not None else max(10.0, args.seconds)
    if args.max_wait is None:
        args.max_wait = 300.0 if args.seconds >= 30 else 0.0
    if args.baseline_drain is None:
        args.baseline_drain = min(30.0, args.seconds / 2)
    phases = [p.strip() for p in args.only.split(",") if p.strip()]
    began = time.monotonic()
    print(
        f"Notification storm: {args.firings:,} SLA breaches over {args.tenants} tenants within "
        f"{args.seconds:.0f} s, each to {CHANNELS_PER_TENANT} webhook channels "
        f"({args.firings * CHANNELS_PER_TENANT:,} deliveries) answered in 50-200 ms"
    )
    print(f"   {common.machine()}")
    print(f"   before: {common.uptime()}")
    with common.section("setup"):
        common.ensure_database()
        configure()
        tenant_ids = [s.tenant_id for s in common.ensure_tenants(args.tenants)]
        ports = receiver_ports(CHANNELS_PER_TENANT)
        made = ensure_channels(tenant_ids, ports)
        print(f"   {len(tenant_ids)} tenants, {made:,} webhook channels subscribed to sla.breached")
    titles = {
        "ours": f"ours: {args.workers} delivery worker process(es) x {args.concurrency} at once",
        "baseline": "baseline: one delivery worker process, one HTTP call at a time",
    }
    budget = [args.max_wait]
    results = []
    for name in phases:
        with common.section(titles[name]):
            phase = run_phase(name, args, tenant_ids, ports, budget)
            report(phase, args)
            results.append(phase)
    if results:
        with common.section("ours vs baseline, same run"):
            summary(results, args)
    print(f"\n   after: {common.uptime()}")
    waited = args.max_wait - budget[0]
    print(f"   total {time.monotonic() - began:.0f} s, of which {waited:.0f} s waiting for load")
    return 0


if __name__ == "__main__":
    sys.exit(main())
