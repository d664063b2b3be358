"""What both benchmarks share: their own database and Redis db, 500 tenants with one generic
intake source each, a realistic alert workload, daphne processes, a lean HTTP/1.1 load client
and CPU accounting per process group. Benchmarks, not tests: they print figures.

All traffic goes to 127.0.0.1 only. Nothing here touches the default databases: the bench uses
mssp_bench (PostgreSQL) and Redis db 11 unless BENCH_* variables say otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
LOG_DIR = ROOT / "var" / "bench"
HOST = "127.0.0.1"

OWNER_URL = os.environ.get(
    "BENCH_DATABASE_OWNER_URL", f"postgresql://postgres@{HOST}:5432/mssp_bench"
)
APP_URL = os.environ.get(
    "BENCH_DATABASE_URL", f"postgresql://mssp_app:mssp_app@{HOST}:5432/mssp_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", f"redis://{HOST}:6379/11")
TENANT_QUOTA = 2_000_000_000  # alerts a minute: the quota is checked, never reached

BENCH_ENV = {
    "DATABASE_OWNER_URL": OWNER_URL,
    "DATABASE_URL": APP_URL,
    "REDIS_URL": REDIS_URL,
    "CHANNELS_REDIS_PREFIX": "mssp-bench",
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-0b7f4c2e9a1d4e5f8c3b6a7d9e0f1a2b3c4d5e6f7a8b9c0d",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "DB_POOL": "1",
    "LOG_LEVEL": "WARNING",
    "INTAKE_QUOTA_PER_MINUTE": str(TENANT_QUOTA),
    "PYTHONUNBUFFERED": "1",
}


def configure_environment(settings_module: str = "bench.settings") -> None:
    """Point this process (and the daphnes it starts) at the bench's own services. The bench
    variables win over the caller's: a benchmark must never write into a working database."""
    os.environ.update(BENCH_ENV)
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    # The pipeline inside the request unless a bench asks for the intake log (and runs its
    # drain): bench/intake_single.py measures both.
    os.environ.setdefault("INTAKE_MODE", "direct")


def setup_django() -> None:
    configure_environment()
    import django

    django.setup()


# --- machine and load --------------------------------------------------------------------------
def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def uptime() -> str:
    try:
        return subprocess.run(
            ["uptime"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return "load average: " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> str:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return (
        f"{os.cpu_count()} CPU ({model}), {int(mem) // 1024 // 1024} GiB RAM, "
        f"Python {sys.version.split()[0]}, {postgres_version()}"
    )


def postgres_version() -> str:
    import psycopg

    # The server's maintenance database: the bench's own may not exist yet.
    with psycopg.connect(OWNER_URL.rsplit("/", 1)[0] + "/postgres") as conn:
        return "PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0]


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int | str) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _cmdline(pid: str) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


class CpuMeter:
    """CPU seconds per process group between start() and stop(): the bench client (this
    process), the daphnes, PostgreSQL backends of the bench database, all other PostgreSQL
    processes (WAL writer, checkpointer ... and other people's tests), redis-server, and the
    whole machine (/proc/stat), so that what is left over is visible too."""

    def __init__(self, daphne_pids: list[int] | None = None, database: str = "mssp_bench"):
        self.daphne_pids = daphne_pids or []
        self.database = database

    def _snapshot(self) -> dict[str, float]:
        groups = {"client": _proc_cpu(os.getpid()), "daphne": 0.0, "pg_bench": 0.0}
        groups.update({"pg_other": 0.0, "redis": 0.0})
        for pid in self.daphne_pids:
            groups["daphne"] += _proc_cpu(pid)
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                comm = Path(f"/proc/{entry}/comm").read_text().strip()
            except OSError:
                continue
            if comm == "postgres":
                key = "pg_bench" if f" {self.database} " in _cmdline(entry) else "pg_other"
                groups[key] += _proc_cpu(entry)
            elif comm.startswith("redis-server"):
                groups["redis"] += _proc_cpu(entry)
        cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        values = [int(v) for v in cpu]
        idle = values[3] + values[4]
        groups["machine_busy"] = (sum(values[:8]) - idle) / _TICK
        groups["wall"] = time.monotonic()
        return groups

    def start(self) -> CpuMeter:
        self.before = self._snapshot()
        return self

    def stop(self) -> dict[str, float]:
        after = self._snapshot()
        wall = after["wall"] - self.before["wall"]
        used = {k: (after[k] - self.before[k]) / wall for k in after if k != "wall"}
        known = sum(used[k] for k in ("client", "daphne", "pg_bench", "pg_other", "redis"))
        used["other"] = max(0.0, used["machine_busy"] - known)
        return used


def measured(pids, load: Coroutine) -> tuple[Any, dict[str, float]]:
    """Runs the client's load to its end; returns what it returned and the CPU the servers
    (pids) and this process used meanwhile."""
    meter = CpuMeter(pids).start()
    result = asyncio.run(load)
    return result, meter.stop()


def format_cpu(used: dict[str, float]) -> str:
    names = ("client", "daphne", "pg_bench", "pg_other", "redis", "other", "machine_busy")
    return "cores busy: " + ", ".join(f"{n} {used[n]:.2f}" for n in names if n in used)


# --- database ----------------------------------------------------------------------------------
def ensure_database() -> None:
    """Create mssp_bench when missing, then migrate (creates the app role, installs RLS)."""
    import psycopg

    server_url, name = OWNER_URL.rsplit("/", 1)
    with psycopg.connect(server_url + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, **BENCH_ENV, "DJANGO_SETTINGS_MODULE": "mssp.settings"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


@dataclass
class BenchSource:
    tenant_id: int
    source_id: uuid.UUID
    slug: str
    key: str


def ensure_tenants(count: int) -> list[BenchSource]:
    """`count` tenants bench-NNNN, each with one generic intake source and a quota far above
    the benchmark's rate. Keys are rotated on every run (they are shown only once)."""
    from alerts.models import IntakeSource
    from tenants.models import Tenant
    from tenants.rls import rls_bypass

    slugs = [f"bench-{n:04d}" for n in range(count)]
    with rls_bypass("bench setup"):
        existing = set(Tenant.objects.filter(slug__in=slugs).values_list("slug", flat=True))
        Tenant.objects.bulk_create(
            [
                Tenant(name=f"Bench customer {slug[6:]}", slug=slug, service_model="outsourced")
                for slug in slugs
                if slug not in existing
            ]
        )
        tenants = {t.slug: t for t in Tenant.objects.filter(slug__in=slugs)}
        Tenant.objects.filter(slug__in=slugs).update(
            intake_quota_per_minute=TENANT_QUOTA, status="active"
        )
        ids = [t.pk for t in tenants.values()]
        sources = {
            s.tenant_id: s
            for s in IntakeSource.objects.for_tenants(ids).filter(name="bench generic")
        }
        missing = [t for t in tenants.values() if t.pk not in sources]
        fresh = []
        for tenant in missing:
            source = IntakeSource(tenant=tenant, name="bench generic", kind="generic")
            source.set_new_key()
            fresh.append(source)
        IntakeSource.objects.bulk_create(fresh)
        sources = {
            s.tenant_id: s
            for s in IntakeSource.objects.for_tenants(ids).filter(name="bench generic")
        }
        keys = {}
        for source in sources.values():
            keys[source.tenant_id] = source.set_new_key()
            source.status = "active"
            source.signing_secret = ""
            source.last_seen_at = None
        IntakeSource.objects.for_tenants(ids).bulk_update(
            list(sources.values()),
            ["key_prefix", "key_digest", "status", "signing_secret", "last_seen_at"],
        )
    return [
        BenchSource(t.pk, sources[t.pk].pk, t.slug, keys[t.pk])
        for t in sorted(tenants.values(), key=lambda t: t.slug)
    ]


ALERT_COLUMNS = (
    "id",
    "tenant_id",
    "source_id",
    "dedup_key",
    "source_ref",
    "fingerprint",
    "title",
    "description",
    "severity",
    "severity_rank",
    "category",
    "observed_at",
    "received_at",
    "rule_id",
    "rule_name",
    "mitre",
    "tags",
    "observables",
    "raw",
    "status",
    "ends_at",
    "incident_id",
)


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        value = value.isoformat()
    elif isinstance(value, list | dict):
        value = json.dumps(value, separators=(",", ":"))
    else:
        value = str(value)
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def copy_payload(source: BenchSource, records: list[dict], now: datetime) -> bytes:
    """COPY text-format rows for these generic records, normalised by the portal's own parser
    (so the row is exactly what the intake would store, minus the incident)."""
    from alerts.intake import generic
    from alerts.models import SEVERITY_RANK
    from tenants.models import new_public_id

    lines = []
    for record in records:
        alert = generic.parse(record)
        row = (
            new_public_id(),
            source.tenant_id,
            source.source_id,
            alert.source_ref,
            alert.source_ref,
            alert.fingerprint,
            alert.title,
            alert.description,
            alert.severity,
            SEVERITY_RANK[alert.severity],
            alert.category,
            alert.observed_at,
            now,
            alert.rule_id,
            alert.rule_name,
            alert.mitre,
            alert.tags,
            [o.as_dict() for o in alert.observables],
            alert.raw,
            alert.status,
            alert.ends_at,
            None,
        )
        lines.append("\t".join(_copy_text(v) for v in row))
    return ("\n".join(lines) + "\n").encode() if lines else b""


COPY_SQL = f"COPY alerts_alert ({', '.join(ALERT_COLUMNS)}) FROM STDIN"


def copy_rows(payloads: list[bytes]) -> float:
    """COPY pre-encoded rows into alerts_alert as the schema owner in one transaction; returns
    the seconds it took (COPY + COMMIT)."""
    import psycopg

    with psycopg.connect(OWNER_URL) as conn:
        started = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
            for payload in payloads:
                copy.write(payload)
        conn.commit()
        return time.perf_counter() - started


def secondary_indexes(conn, table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the indexes of `table` that back no constraint."""
    return conn.execute(
        """
        SELECT i.relname, pg_get_indexdef(i.oid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = %s::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        ORDER BY i.relname
        """,
        [table],
    ).fetchall()


def reset_alerts(history: list[bytes]) -> None:
    """Empty alerts, incidents and their timelines, then reload the already-sent history (the
    alerts that the workload redelivers), and ANALYZE so every phase starts alike."""
    import psycopg

    with psycopg.connect(OWNER_URL, autocommit=True) as conn:
        conn.execute("TRUNCATE alerts_incidentevent, alerts_alert, alerts_incident CASCADE")
        conn.execute("UPDATE alerts_intakesource SET last_seen_at = NULL")
    if history:
        copy_rows(history)
    with psycopg.connect(OWNER_URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE alerts_alert")
        conn.execute("ANALYZE alerts_incident")
    flush_redis()


def count_rows() -> dict[str, int]:
    import psycopg

    with psycopg.connect(OWNER_URL) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("alerts_alert", "alerts_incident", "alerts_incidentevent")
        }


# --- the workload ------------------------------------------------------------------------------
RULES = [
    # rule id, title, category, mitre, severity weights (info, low, medium, high, critical)
    (
        "EDR-1001",
        "Suspicious PowerShell encoded command",
        "execution",
        ["T1059.001"],
        (0, 1, 4, 4, 1),
    ),
    (
        "EDR-1002",
        "Credential dumping via LSASS access",
        "credential-access",
        ["T1003.001"],
        (0, 0, 1, 4, 3),
    ),
    ("EDR-1003", "Office application spawned a shell", "execution", ["T1204.002"], (0, 1, 3, 4, 1)),
    (
        "EDR-1004",
        "Unsigned binary in temp directory executed",
        "execution",
        ["T1204"],
        (1, 3, 4, 1, 0),
    ),
    (
        "EDR-1005",
        "Scheduled task created for persistence",
        "persistence",
        ["T1053.005"],
        (0, 2, 4, 2, 0),
    ),
    ("EDR-1006", "Ransomware-like file rename burst", "impact", ["T1486"], (0, 0, 0, 2, 5)),
    (
        "NET-2001",
        "Outbound connection to known C2",
        "command-and-control",
        ["T1071.001"],
        (0, 0, 1, 4, 3),
    ),
    ("NET-2002", "DNS tunnelling suspected", "exfiltration", ["T1048.003"], (0, 1, 3, 3, 0)),
    ("NET-2003", "Port scan from internal host", "discovery", ["T1046"], (1, 4, 3, 0, 0)),
    (
        "NET-2004",
        "Large upload to file sharing service",
        "exfiltration",
        ["T1567.002"],
        (0, 2, 4, 2, 0),
    ),
    ("IAM-3001", "Brute force on VPN", "credential-access", ["T1110"], (0, 2, 4, 3, 0)),
    ("IAM-3002", "Impossible travel sign-in", "initial-access", ["T1078"], (0, 1, 4, 3, 0)),
    (
        "IAM-3003",
        "MFA fatigue: repeated push denials",
        "credential-access",
        ["T1621"],
        (0, 1, 3, 3, 1),
    ),
    (
        "IAM-3004",
        "New global admin assigned",
        "privilege-escalation",
        ["T1098.003"],
        (0, 0, 2, 4, 2),
    ),
    ("MAIL-4001", "Phishing link clicked", "initial-access", ["T1566.002"], (0, 1, 4, 3, 0)),
    (
        "MAIL-4002",
        "Malicious attachment delivered",
        "initial-access",
        ["T1566.001"],
        (0, 1, 3, 3, 1),
    ),
    ("WEB-5001", "SQL injection attempt blocked", "initial-access", ["T1190"], (2, 4, 2, 0, 0)),
    ("WEB-5002", "Web shell upload detected", "persistence", ["T1505.003"], (0, 0, 1, 3, 4)),
    ("CLD-6001", "Public S3 bucket policy change", "defense-evasion", ["T1562"], (0, 2, 4, 2, 0)),
    ("CLD-6002", "Access key used from new ASN", "initial-access", ["T1078.004"], (0, 1, 4, 2, 0)),
]
SEVERITY_NAMES = ("info", "low", "medium", "high", "critical")
ACTIONS = ("process_start", "network_connect", "file_write", "logon", "registry_set")
PROCESSES = ("powershell.exe", "cmd.exe", "rundll32.exe", "winword.exe", "svchost.exe", "curl")


@dataclass
class TenantWorld:
    """One customer's estate: hosts, users, attackers, and the ~40 'problems' (a rule firing
    on a host from an address) its alerts come from, so that alerts repeat as they do in a SOC
    and group into a realistic number of incidents."""

    index: int
    hosts: list[str]
    users: list[str]
    attackers: list[str]
    domains: list[str]
    problems: list[tuple[tuple, str, str]] = field(default_factory=list)


def tenant_world(index: int, problems: int = 40) -> TenantWorld:
    rng = random.Random(index * 7919 + 17)
    org = f"c{index:04d}"
    hosts = [
        f"{rng.choice(['ws', 'srv', 'lt', 'db'])}-{n:03d}.{org}.corp.example" for n in range(24)
    ]
    users = [f"{rng.choice(['j', 'a', 'm', 's', 'k'])}.user{n}@{org}.example" for n in range(30)]
    attackers = [
        ".".join(
            str(part)
            for part in (rng.choice([203, 198, 192]), rng.choice([0, 51, 18]), rng.randrange(256))
        )
        + f".{rng.randrange(1, 255)}"
        for _ in range(20)
    ]
    domains = [
        f"{rng.choice(['cdn', 'upd', 'login', 'files'])}-{n}.bad-{index % 97}.example"
        for n in range(10)
    ]
    world = TenantWorld(index, hosts, users, attackers, domains)
    world.problems = [
        (rng.choice(RULES), rng.choice(hosts), rng.choice(attackers)) for _ in range(problems)
    ]
    return world


def make_alert(world: TenantWorld, seq: int, rng: random.Random, at: datetime) -> dict:
    """One generic-format alert with 2-4 observables (hostname and address anchor the
    fingerprint; user, hash, domain or URL vary), MITRE ids, tags, rule and a vendor payload."""
    (rule_id, title, category, mitre, weights), host, attacker = rng.choice(world.problems)
    user = rng.choice(world.users)
    observables = [{"type": "hostname", "value": host}, {"type": "ip", "value": attacker}]
    extra = rng.randrange(3)
    choices = [
        {"type": "user", "value": user},
        {"type": "hash", "value": f"{rng.getrandbits(256):064x}"},
        {"type": "domain", "value": rng.choice(world.domains)},
        {"type": "url", "value": f"https://{rng.choice(world.domains)}/p/{rng.getrandbits(32):x}"},
    ]
    observables += rng.sample(choices, extra)
    process = rng.choice(PROCESSES)
    return {
        "title": title,
        "severity": rng.choices(SEVERITY_NAMES, weights)[0],
        "description": (
            f"{title} on {host}: {process} (pid {rng.randrange(300, 65000)}) by {user} "
            f"contacted {attacker}. Detection {rule_id} matched {rng.randrange(1, 40)} events "
            "in the last 5 minutes; see the raw event for the full process tree."
        ),
        "category": category,
        "observed_at": (at - timedelta(milliseconds=rng.randrange(60_000)))
        .isoformat()
        .replace("+00:00", "Z"),
        "source_ref": f"{world.index:04d}-{seq:010d}",
        "rule_id": rule_id,
        "rule_name": title,
        "observables": observables,
        "mitre": mitre,
        "tags": rng.sample(["edr", "prod", "tier1", "vip", "windows", "linux", "cloud"], 2),
        "raw": {
            "vendor": "acme-xdr",
            "sensor": {"id": f"sn-{rng.getrandbits(40):010x}", "host": host, "os": "windows"},
            "event": {
                "id": rng.getrandbits(63),
                "action": rng.choice(ACTIONS),
                "outcome": rng.choice(["success", "failure", "unknown"]),
                "process": {
                    "name": process,
                    "pid": rng.randrange(300, 65000),
                    "cmdline": f"C:\\Windows\\System32\\{process} -nop -w hidden -enc "
                    f"{rng.getrandbits(96):024x}",
                    "parent": rng.choice(PROCESSES),
                },
                "network": {"dst": attacker, "dst_port": rng.choice([443, 80, 8443, 53, 4444])},
            },
        },
        "vendor_score": rng.randrange(100),
    }


class Workload:
    """Generic alerts per tenant: the already-sent history (loaded before each phase, then
    redelivered) and fresh alerts with never-seen source_refs."""

    def __init__(self, sources: list[BenchSource], history_per_tenant: int, seed: int = 1):
        self.sources = sources
        self.worlds = [tenant_world(n) for n in range(len(sources))]
        self.rng = random.Random(seed)
        self.at = datetime.now(UTC)
        self.history = [
            [make_alert(w, seq, self.rng, self.at) for seq in range(history_per_tenant)]
            for w in self.worlds
        ]
        self.next_seq = [history_per_tenant] * len(sources)

    def history_payloads(self) -> list[bytes]:
        return [
            copy_payload(source, self.history[n], self.at) for n, source in enumerate(self.sources)
        ]

    def batch(self, tenant: int, size: int, redelivered: float) -> list[dict]:
        """`size` alerts of one tenant, a fraction `redelivered` of them copies of alerts it
        already sent (same source_ref and content), mixed in at random positions."""
        world = self.worlds[tenant]
        old = round(size * redelivered)
        alerts = self.rng.sample(self.history[tenant], old) if old else []
        for _ in range(size - old):
            alerts.append(make_alert(world, self.next_seq[tenant], self.rng, self.at))
            self.next_seq[tenant] += 1
        self.rng.shuffle(alerts)
        return alerts


def dumps(document) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


# --- daphne ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Daphnes:
    """N daphne processes serving mssp.asgi:application, each on its own port (the client
    spreads its connections over them as a load balancer would)."""

    def __init__(self, count: int, settings_module: str = "mssp.settings", label: str = ""):
        self.count, self.settings_module = count, settings_module
        self.label = label or f"daphne-x{count}"
        self.ports: list[int] = []
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> Daphnes:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **BENCH_ENV, "DJANGO_SETTINGS_MODULE": self.settings_module}
        for n in range(self.count):
            port = free_port()
            log = open(LOG_DIR / f"{self.label}-{n}.log", "wb")  # noqa: SIM115
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port)]
                    + ["mssp.asgi:application"],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            self.ports.append(port)
        try:
            for port, proc in zip(self.ports, self.procs, strict=True):
                wait_healthy(port, proc)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne on port {port} exited ({proc.returncode}); see {LOG_DIR}")
        try:
            status, body = asyncio.run(_get_once(port, "/healthz"))
            if status == 200:
                return
            parts = json.loads(body) if body.startswith(b"{") else {}
            if parts.get("database") == "ok" and parts.get("channel_layer") == "ok":
                return  # what intake needs is up (no Celery worker/beat runs in the bench)
            last = f"{status} {body[:200]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(f"daphne on port {port} not healthy after {timeout}s: {last}")


async def _get_once(port: int, path: str) -> tuple[int, bytes]:
    conn = await Connection.open(port)
    try:
        return await conn.request(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode())
    finally:
        conn.close()


# --- a lean HTTP/1.1 keep-alive client ---------------------------------------------------------
class Connection:
    """One keep-alive HTTP/1.1 connection with pre-built request bytes. A fraction of httpx's
    CPU per request, which matters when client and servers share two cores."""

    def __init__(self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.port, self.reader, self.writer = port, reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(port, reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked = None, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size + 2))
            return status, b"".join(p[:-2] for p in parts)
        return status, (await self.reader.readexactly(length)) if length else b""

    def close(self) -> None:
        self.writer.close()


async def connection_pool(ports: list[int], size: int) -> tuple[list[Connection], asyncio.Queue]:
    """size keep-alive connections spread round-robin over the ports, all waiting idle in the
    queue an open-loop request takes one from (and puts it back into)."""
    idle: asyncio.Queue = asyncio.Queue()
    conns = []
    for n in range(size):
        conn = await Connection.open(ports[n % len(ports)])
        conns.append(conn)
        idle.put_nowait(conn)
    return conns, idle


async def offer_at_rate(
    start: float, rate: float, total: int, launch: Callable[[float], Awaitable]
) -> float:
    """Open loop: launch(scheduled) every 1/rate s from start, whatever the server does, then
    wait (30 s at most) for what was launched. Returns how late the latest launch was."""
    loop = asyncio.get_running_loop()
    tasks: set = set()
    lateness = 0.0
    for n in range(total):
        scheduled = start + n / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            lateness = max(lateness, -delay)
        task = asyncio.create_task(launch(scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    return lateness


def post_request(port: int, path: str, key: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


# --- statistics --------------------------------------------------------------------------------
def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def windows(
    done_at: list[tuple[float, int]], start: float, end: float, width: float
) -> list[float]:
    """Units completed per second in consecutive windows of `width` seconds."""
    counts = [0] * max(1, int((end - start) // width))
    for at, units in done_at:
        slot = int((at - start) // width)
        if 0 <= slot < len(counts):
            counts[slot] += units
    return [c / width for c in counts]


@contextlib.contextmanager
def section(title: str) -> Iterator[None]:
    print(f"\n== {title}", flush=True)
    started = time.monotonic()
    yield
    print(f"   ({time.monotonic() - started:.1f} s)", flush=True)


def run_in_loop_thread(fn: Callable, *args):
    """Run `fn` in a sync_to_async thread under a running event loop: the shape a request
    has inside daphne, so that on_commit stream publishing (async_to_sync) hops to that loop
    and reuses its Redis connections instead of opening a new loop per event."""
    from asgiref.sync import sync_to_async

    async def main():
        return await sync_to_async(fn, thread_sensitive=True)(*args)

    return asyncio.run(main())


# --- the machine: load, processes' memory (shared by the benches) ---------------------------
def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry))
    return found


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_for_quiet(limit: float, budget: float, poll: float = 10.0) -> tuple[float, float]:
    """Poll until the 1-minute load average is under `limit` or `budget` seconds have passed;
    returns (seconds waited, load when done)."""
    started = time.monotonic()
    while load1() >= limit and time.monotonic() - started < budget:
        time.sleep(min(poll, max(0.0, budget - (time.monotonic() - started))))
    return time.monotonic() - started, load1()


def slope_per_minute(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (seconds), per minute."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return (
        0.0
        if var == 0
        else 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var
    )
