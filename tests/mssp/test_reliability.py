"""Reliability of breach handling and escalation with the real worker and a real broker
(issue 4, "Reliability, tested with the real worker and broker").

Each test starts its own redis-server (a private broker, cache and channel layer, on a port of
its own, so the machine's shared Redis is never touched and its queues are unique to the
test), `celery beat` with the production schedule (the SLA sweep every second, notification
delivery every 10 s) and real Celery workers connected to the test database as the application
role. Nothing is driven in-process: the worker's own sweep fires clocks and walks escalation
policies, and its own delivery task sends email (file backend) and signed webhooks to a local
receiver. Everything is checked afterwards from durable state: the database, the receiver's
log and the mail files.

- test_kill_9_of_workers_while_clocks_fire_and_escalations_expire: SIGKILL of the workers at
  random moments, preferably while they are inside a database transaction, repeated; two
  workers run at once (two sweepers, two deliverers). Then two workers drain.
- test_redis_stopped_for_a_minute_while_clocks_fall_due: the private Redis is stopped for a
  minute while clocks and hand-offs fall due, then started again on the same port.

"Two sweepers at once" in-process is tests/sla/test_sla.py::test_two_sweepers_at_once_fire_each_
clock_once; here two real worker processes sweep concurrently in the first test.

Delivery is at least once by design (sla/notify.py): a worker killed after a POST or an email
left but before the row was marked sent sends it again. So: Notification rows are exact (one
per key, every one `sent`, sent by one committed attempt), and the receiver and the mailbox
must have everything at least once; repeats are counted and reported, and the receiver drops
them by X-MSSP-Delivery as a real one would.
"""

from __future__ import annotations

import email
import hashlib
import hmac
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from guardian.shortcuts import assign_perm

from alerts.models import Incident, IncidentEvent
from sla import escalation
from sla.models import Escalation, EscalationPolicy, EscalationRun, Notification, SlaClock
from tenants.models import AuditEvent, Contact, Team, Webhook
from tenants.rls import rls_bypass
from tests import services
from tests.conftest import ensure_default_contract
from tests.factories import (
    IntakeSourceFactory,
    MembershipFactory,
    StaffFactory,
    TenantFactory,
    ingest_alerts,
)
from tests.live import (
    PYTHON,
    _stop,
    _tail,
    app_database_url,
    process_env,
    start_logged,
    wait_for_line,
    worker_command,
)

pytestmark = [
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

SEED = int(os.environ.get("RELIABILITY_SEED", time.time_ns() % 1_000_000))
MAIL_SEPARATOR = b"\n" + b"-" * 79 + b"\n"
# The receiver takes a little time per POST, as a real endpoint does: it widens the window
# between a POST and the commit that records it, where a kill makes the at-least-once case.
RECEIVER_DELAY = 0.02
WEBHOOK_SECRET = "reliability-secret"


def need_redis_server() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        why = "redis-server binary not found (the test starts its own broker)"
        if services.REQUIRED:
            pytest.fail(f"MSSP_REQUIRE_SERVICES=1 and {why}")
        pytest.skip(why)
    return binary


# --- processes -----------------------------------------------------------------------------------
class PrivateRedis:
    """A redis-server of the test's own, without persistence: stopped and started again on the
    same port it comes back empty, as a Redis restarted without a disk would."""

    def __init__(self, log_dir: Path):
        self.binary = need_redis_server()
        self.log_dir = log_dir
        # Below the kernel's ephemeral range (32768+), so that no outgoing connection is given
        # this port while the server is down and it can be started again on it.
        rng = random.Random()
        for _ in range(200):
            port = rng.randrange(20000, 30000)
            if not _port_in_use(port):
                break
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 15) -> None:
        import redis

        self.starts += 1
        log = self.log_dir / f"redis-{self.port}-{self.starts}.log"
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.log_dir),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{_tail(log)}")
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server not answering after {timeout}s:\n{_tail(log)}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None


def _port_in_use(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path


class Stack:
    """Beat and workers on the private Redis, all stopped (terminate, then kill) at the end."""

    def __init__(self, log_dir: Path, redis_url: str, mail_dir: Path):
        self.log_dir, self.redis_url, self.mail_dir = log_dir, redis_url, mail_dir
        self.processes: list[subprocess.Popen] = []
        self.count = 0

    def env(self, application_name: str) -> dict[str, str]:
        return process_env(
            # application_name: the test tells each worker's sessions apart in pg_stat_activity
            DATABASE_URL=app_database_url(application_name=application_name),
            REDIS_URL=self.redis_url,
            CELERY_BROKER_URL=self.redis_url,
            WEBHOOK_ALLOW_PRIVATE="1",
            EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            EMAIL_FILE_PATH=str(self.mail_dir),
        )

    def start_beat(self, timeout: float = 60) -> None:
        log = self.log_dir / "beat.log"
        command = [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "mssp",
            "beat",
            "--schedule",
            str(self.log_dir / "beat-schedule"),
            "--pidfile",
            str(self.log_dir / "beat.pid"),
            "--loglevel",
            "INFO",
        ]
        process = start_logged(command, log, self.env("beat"))
        self.processes.append(process)
        sweep_sent = "Sending due task sla-sweep"
        wait_for_line(process, log, sweep_sent, "beat", timeout=timeout, missing="sent nothing")

    def start_workers(self, n: int, timeout: float = 60) -> list[Worker]:
        """n workers (solo pool: one task at a time each) on the default queue, where beat and
        the application's own .delay_on_commit() send; started together, returned when all are
        ready."""
        workers = []
        for _ in range(n):
            self.count += 1
            name = f"w{self.count}-{uuid.uuid4().hex[:6]}"
            log = self.log_dir / f"worker-{name}.log"
            process = start_logged(worker_command(f"{name}@%h"), log, self.env(name))
            self.processes.append(process)
            workers.append(Worker(name, process, log))
        started = time.monotonic()
        for worker in workers:
            wait_for_line(
                worker.process, worker.log, " ready.", "worker", timeout=timeout, since=started
            )
        return workers

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            try:
                _stop(process)
            except Exception:  # keep stopping the others
                process.kill()


def sessions_in_transaction(workers: list[Worker]) -> dict[str, tuple[str, str]]:
    """worker name -> (state, last statement) of its session that is inside a transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name, state, left(query, 70) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = ANY(%s) "
            "AND xact_start IS NOT NULL AND pid <> pg_backend_pid()",
            [[w.name for w in workers]],
        )
        return {name: (state, query) for name, state, query in cursor.fetchall()}


FIRING_STATEMENTS = (
    '"sla_slaclock"',
    '"sla_escalation',  # hand-offs and runs
    '"alerts_incident',  # the incident and its timeline
    '"tenants_auditevent"',
    'INSERT INTO "sla_notification"',  # the outbox rows of a firing
)
DELIVERY_STATEMENTS = ('UPDATE "sla_notification"', 'SELECT "sla_notification"')


def doing(session: tuple[str, str] | None) -> str | None:
    """What a worker's open transaction is about, from its last statement: "delivery" (the
    outbox: claiming or marking a notification) or "firing" (the sweep: clocks, hand-offs,
    steps, their timeline, audit and outbox rows); "other" for anything else (COMMIT, ...)."""
    if session is None:
        return None
    query = session[1]
    if query.startswith(DELIVERY_STATEMENTS):
        return "delivery"
    if any(part in query for part in FIRING_STATEMENTS):
        return "firing"
    return "other"


def kill_9_mid_work(alive: list[Worker], rng: random.Random, want: str, kills: list) -> None:
    """SIGKILL one of the `alive` workers at a random moment, preferably one when it is inside
    a transaction about `want` ("firing" or "delivery"): wait a random 0.3-2 s, then up to 5 s
    more for such a moment (polling every few ms), else kill one of them, whatever it does."""
    time.sleep(rng.uniform(0.3, 2.0))
    deadline = time.monotonic() + 5
    while True:
        sessions = sessions_in_transaction(alive)
        found = [w for w in alive if doing(sessions.get(w.name)) == want]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.003)
    victim = found[0] if found else rng.choice(alive)
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(timeout=10)
    alive.remove(victim)
    session = sessions.get(victim.name)
    kills.append({"worker": victim.name, "doing": doing(session), "session": session})


# --- the webhook receiver and the mailbox --------------------------------------------------------
class Receiver:
    """A customer's webhook endpoint on 127.0.0.1; keeps every delivery id it was given."""

    def __init__(self):
        self.deliveries: list[tuple[str, str]] = []  # (X-MSSP-Delivery, X-MSSP-Event)
        self.badly_signed = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                signed = self.headers["X-MSSP-Timestamp"].encode() + b"." + body
                expected = hmac.new(WEBHOOK_SECRET.encode(), signed, hashlib.sha256).hexdigest()
                time.sleep(RECEIVER_DELAY)
                with receiver.lock:
                    receiver.deliveries.append(
                        (self.headers["X-MSSP-Delivery"], self.headers["X-MSSP-Event"])
                    )
                    if self.headers["X-MSSP-Signature"] != f"sha256={expected}":
                        receiver.badly_signed += 1
                try:
                    self.send_response(204)
                    self.end_headers()
                except OSError:  # the sender was killed while we took our time
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def ids(self) -> Counter:
        with self.lock:
            return Counter(delivery for delivery, _ in self.deliveries)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def mailbox(directory: Path) -> Counter:
    """(to, type, clock or escalation id) -> how many messages the file backend wrote. A
    worker killed while writing may leave a message cut short: it is counted if its headers
    and the identifying lines made it to disk (it was, as far as a mail server knows, sent)."""
    found: Counter = Counter()
    for path in sorted(directory.glob("*.log")):
        for chunk in path.read_bytes().split(MAIL_SEPARATOR):
            if not chunk.strip():
                continue
            message = email.message_from_bytes(chunk, policy=default_policy)
            try:
                body = message.get_content()
            except Exception:  # a truncated message: take what is there
                body = chunk.decode(errors="replace")
            fields = dict(line.split(": ", 1) for line in body.splitlines() if ": " in line)
            about = fields.get("clock") or fields.get("escalation")
            if message["To"] and fields.get("type") and about:
                found[(str(message["To"]), fields["type"], about)] += 1
    return found


# --- the world -----------------------------------------------------------------------------------
@dataclass
class World:
    tenant: object
    contacts: list[str]
    handoff_recipients: list[str]
    leads: int
    handed_off: list[str] = field(default_factory=list)  # incident ids: hand-off pending
    fresh: list[str] = field(default_factory=list)  # incident ids: policy not started


def build_world(receiver_url: str, incidents: int, handed_off: int) -> World:
    """A hybrid tenant with two SLA contacts, a webhook to the receiver, an in-house team (an
    address and one member), an MSSP lead, and the policy: tell L2 at once, hand off to the
    in-house team at once (30 min to answer), then page the lead.

    `handed_off` incidents have walked the first two steps (the same sweep the worker runs,
    called here): their hand-offs are pending. Respond-by times are whole minutes in a policy,
    so the test moves them (schedule()) to fall due within the test. The other incidents have
    not started their policy."""
    ensure_default_contract()
    tenant = TenantFactory(slug=f"reliable-{uuid.uuid4().hex[:6]}", name="Reliable Customer")
    source = IntakeSourceFactory(tenant=tenant)
    responder = MembershipFactory(tenant=tenant, role="responder").user
    lead = StaffFactory(staff_role="lead", email=f"lead-{tenant.slug}@mssp.example")
    assign_perm("tenants.lead_tenant", lead, tenant)
    contacts = [f"ciso@{tenant.slug}.example", f"soc-duty@{tenant.slug}.example"]
    with rls_bypass("test fixture"):
        team = Team.objects.create(
            tenant=tenant, name="In-house SecOps", kind="in_house", email="secops@cust.example"
        )
        team.members.add(responder)
        tier = Team.objects.create(name=f"SOC L2 {tenant.slug}", kind="mssp_tier")
        for address in contacts:
            Contact.objects.create(tenant=tenant, name=address.split("@")[0], email=address)
        Webhook.objects.create(tenant=tenant, url=receiver_url, secret=WEBHOOK_SECRET)
        EscalationPolicy.objects.create(
            tenant=tenant,
            name="Hybrid",
            steps=[
                {"action": "notify_tier", "team": str(tier.pk), "wait_minutes": 0},
                {"action": "handoff_in_house", "wait_minutes": 0, "respond_minutes": 30},
                {"action": "page_lead", "wait_minutes": 0, "if": {"unacknowledged": True}},
            ],
        )
    world = World(
        tenant=tenant,
        contacts=contacts,
        handoff_recipients=sorted({team.email, responder.email, lead.email}),
        leads=1,
    )
    ingest_alerts(source, handed_off, title="Handed-off login")
    for _ in range(2):  # step 1 (tell L2), step 2 (hand-off): pending hand-offs
        time.sleep(0.01)
        escalation.sweep()
    with rls_bypass("test"):
        world.handed_off = [
            str(pk) for pk in Incident.objects.for_tenant(tenant).values_list("pk", flat=True)
        ]
        pending = Escalation.objects.for_tenant(tenant).filter(status="pending").count()
    assert pending == handed_off
    ingest_alerts(source, incidents - handed_off, title="Fresh login")
    with rls_bypass("test"):
        world.fresh = [
            str(pk)
            for pk in Incident.objects.for_tenant(tenant)
            .exclude(pk__in=world.handed_off)
            .values_list("pk", flat=True)
        ]
    assert len(world.fresh) == incidents - handed_off
    # Nothing falls due before the test says when (schedule()): a fresh policy's first step
    # would be due at once.
    schedule(world, timezone.now() + timedelta(hours=1), 0, 60)
    return world


def spread(items: list, start: datetime, first: float, last: float) -> dict:
    step = (last - first) / max(len(items) - 1, 1)
    return {item: start + timedelta(seconds=first + i * step) for i, item in enumerate(items)}


def schedule(world: World, base: datetime, first: float, last: float) -> dict[str, dict]:
    """Clocks (all four of an incident), pending hand-offs and not-yet-started policies fall
    due at times spread over [base + first s, base + last s], in a shuffled order; at-risk one
    second before the breach. Returns {"clocks"|"handoffs"|"starts": {incident id: when}}."""
    rng = random.Random(SEED)
    incidents = world.handed_off + world.fresh
    due = spread(rng.sample(incidents, len(incidents)), base, first, last)
    handoffs = spread(rng.sample(world.handed_off, len(world.handed_off)), base, first, last)
    starts = spread(rng.sample(world.fresh, len(world.fresh)), base, first, last)
    with rls_bypass("test: move deadlines"):
        clocks = SlaClock.objects.dangerously_unscoped("test")
        for incident, at in due.items():
            clocks.filter(incident_id=incident).update(
                due_at=at, at_risk_at=at - timedelta(seconds=1)
            )
        for incident, at in handoffs.items():
            Escalation.objects.dangerously_unscoped("test").filter(
                incident_id=incident, status="pending"
            ).update(respond_by=at)
        for incident, at in starts.items():
            EscalationRun.objects.dangerously_unscoped("test").filter(incident_id=incident).update(
                next_step_at=at
            )
    return {"clocks": due, "handoffs": handoffs, "starts": starts}


# --- what must hold afterwards -------------------------------------------------------------------
def drained(world: World, receiver: Receiver) -> bool:
    with rls_bypass("test"):
        t = world.tenant
        if SlaClock.objects.for_tenant(t).filter(breach_fired_at__isnull=True).exists():
            return False
        if Escalation.objects.for_tenant(t).filter(status="pending", step_index=1).count() != len(
            world.fresh
        ):
            return False
        if (
            EscalationRun.objects.for_tenant(t)
            .filter(incident_id__in=world.handed_off, finished_at__isnull=True)
            .exists()
        ):
            return False
        if Notification.objects.for_tenant(t).exclude(status="sent").exists():
            return False
        hooks = set(
            Notification.objects.for_tenant(t)
            .filter(channel="webhook")
            .values_list("pk", flat=True)
        )
    return {str(pk) for pk in hooks} <= set(receiver.ids())


def wait_until_drained(world: World, receiver: Receiver, timeout: float, why: str) -> float:
    started = time.monotonic()
    while not drained(world, receiver):
        assert time.monotonic() - started < timeout, f"{why}: not drained in {timeout}s"
        time.sleep(0.5)
    return time.monotonic() - started


def handled(world: World, late: dict[str, list]) -> dict[str, int]:
    """How many of the given incidents' clocks fired, hand-offs expired, policies started."""
    with rls_bypass("test"):
        t = world.tenant
        return {
            "clocks": SlaClock.objects.for_tenant(t)
            .filter(incident_id__in=late["clocks"], breach_fired_at__isnull=False)
            .count(),
            "handoffs": Escalation.objects.for_tenant(t)
            .filter(incident_id__in=late["handoffs"], step_index=1, status="expired")
            .count(),
            "starts": Escalation.objects.for_tenant(t)
            .filter(incident_id__in=late["starts"], step_index=0)
            .count(),
        }


def check_everything_once(
    world: World, receiver: Receiver, mail_dir: Path, *, all_warned: bool, kills: int = 0
) -> dict:
    """Every due clock breached once (state, audit, timeline) and warned at most once (every
    one, with `all_warned`), every hand-off expired once and its next step fired once, every
    policy started fired its steps once, every notification row sent once; the receiver and
    the mailbox got everything at least once. Returns the figures for the report.

    A notification's attempts count its claims (sla.notify), so a row whose worker was killed
    after claiming it shows one attempt more: at most one row per kill.

    A warning may be skipped, by design (tests/sla/test_sla.py, two sweepers): a clock whose
    breach is swept when its warning has not been is breached without a late warning. That
    happens only when a warning transaction is rolled back (here: its sweeper killed) and
    another sweeper sweeps breaches before the warnings are swept again."""
    t = world.tenant
    with rls_bypass("test: read the outcome"):
        clocks = list(SlaClock.objects.for_tenant(t))
        escalations = list(Escalation.objects.for_tenant(t))
        runs = list(EscalationRun.objects.for_tenant(t))
        events = list(IncidentEvent.objects.for_tenant(t).values("kind", "data"))
        audits = list(AuditEvent.objects.for_tenant(t).values("action", "object_id", "data"))
        notes = list(Notification.objects.for_tenant(t))

    # SLA: every clock breached once, warned at most once
    clock_ids = {str(c.pk) for c in clocks}
    warned = {str(c.pk) for c in clocks if c.at_risk_fired_at}
    assert len(clocks) == 4 * (len(world.handed_off) + len(world.fresh))
    assert all(c.state == "breached" and c.breach_fired_at for c in clocks)
    if all_warned:
        assert warned == clock_ids
    firings = {"sla.at_risk": warned, "sla.breached": clock_ids}
    for kind, fired in firings.items():
        audited = Counter(a["data"]["clock"] for a in audits if a["action"] == kind)
        timeline = Counter(
            e["data"]["clock"] for e in events if e["kind"] == kind.replace(".", "_")
        )
        assert audited == timeline == Counter(fired), kind

    # Hand-offs: each expired once, the lead told once, the next step (page the lead) once
    handoffs = [e for e in escalations if e.direction == "to_customer"]
    by_incident = {}
    for esc in escalations:
        by_incident.setdefault(str(esc.incident_id), []).append(esc)
    for incident in world.handed_off:
        steps = sorted((e.step_index, e.direction, e.status) for e in by_incident[incident])
        assert steps == [
            (0, "to_tier", "notified"),
            (1, "to_customer", "expired"),
            (2, "to_tier", "notified"),
        ], steps
    for incident in world.fresh:
        steps = sorted((e.step_index, e.direction, e.status) for e in by_incident[incident])
        assert steps == [(0, "to_tier", "notified"), (1, "to_customer", "pending")], steps
    expired_ids = {str(e.pk) for e in handoffs if e.status == "expired"}
    assert len(expired_ids) == len(world.handed_off)
    assert Counter(
        e["data"]["escalation"] for e in events if e["kind"] == "escalation_expired"
    ) == Counter(expired_ids)
    assert Counter(
        a["object_id"] for a in audits if a["action"] == "escalation.expired"
    ) == Counter(expired_ids)
    assert Counter(
        a["object_id"] for a in audits if a["action"] == "escalation.lead_told"
    ) == Counter({e: world.leads for e in expired_ids})
    requested = Counter(
        e["data"]["escalation"] for e in events if e["kind"] == "escalation_requested"
    )
    assert requested == Counter(str(e.pk) for e in escalations)  # one per escalation
    run_state = {str(r.incident_id): r for r in runs}
    assert all(run_state[i].finished_at for i in world.handed_off)
    assert all(
        run_state[i].finished_at is None and run_state[i].next_step == 2 for i in world.fresh
    )

    # Notifications: exactly the expected rows, each sent, by one attempt unless a kill took
    # its first
    expected_keys = {
        f"{kind}:{clock}:email:{address}"
        for kind, fired in firings.items()
        for clock in fired
        for address in world.contacts
    }
    with rls_bypass("test"):
        hook = Webhook.objects.for_tenant(t).get()
    expected_keys |= {
        f"{kind}:{clock}:webhook:{hook.pk}" for kind, fired in firings.items() for clock in fired
    }
    expected_keys |= {
        f"escalation.expired:{esc}:email:{address}"
        for esc in expired_ids
        for address in world.handoff_recipients
    }
    assert sorted(n.key for n in notes) == sorted(expected_keys)  # none lost, none twice
    outcomes = Counter((n.status, n.attempts) for n in notes)
    assert all(n.status == "sent" for n in notes), outcomes
    assert sum(n.attempts - 1 for n in notes) <= kills, outcomes

    # The receiver: every webhook at least once; repeats are the at-least-once case
    received = receiver.ids()
    assert receiver.badly_signed == 0
    webhook_ids = {str(n.pk) for n in notes if n.channel == "webhook"}
    assert set(received) == webhook_ids
    duplicate_deliveries = sum(count - 1 for count in received.values())

    # The mailbox: every email at least once
    mails = mailbox(mail_dir)
    expected_mail = {
        (address, kind, clock)
        for kind, fired in firings.items()
        for clock in fired
        for address in world.contacts
    } | {
        (address, "escalation.expired", esc)
        for esc in expired_ids
        for address in world.handoff_recipients
    }
    assert set(mails) == expected_mail
    duplicate_emails = sum(count - 1 for count in mails.values())
    return {
        "clocks": len(clocks),
        "breaches": len(clocks),
        "warnings": len(warned),
        "warnings_skipped_for_the_breach": len(clock_ids - warned),
        "handoffs_expired": len(expired_ids),
        # by the worker: not the two steps of each handed-off incident walked in build_world
        "steps_fired": len(escalations) - 2 * len(world.handed_off),
        "notifications": len(notes),
        "webhooks": len(webhook_ids),
        "duplicate_deliveries": duplicate_deliveries,
        "emails": len(expected_mail),
        "duplicate_emails": duplicate_emails,
    }


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


# --- 1. kill -9 ---------------------------------------------------------------------------------
KILL_ROUNDS = 3
WORKERS = 2  # at once: two sweepers and two deliverers contend (SKIP LOCKED) all along


def test_kill_9_of_workers_while_clocks_fire_and_escalations_expire(tmp_path, receiver):
    print(f"seed {SEED} (RELIABILITY_SEED=... repeats the random choices, not the timing)")
    rng = random.Random(SEED)
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    world = build_world(receiver.url, incidents=40, handed_off=20)
    redis_server = PrivateRedis(tmp_path)
    stack = Stack(tmp_path, redis_server.url, mail_dir)
    kills: list[dict] = []
    started = time.monotonic()
    try:
        redis_server.start()
        # Due from 2 s ago to 30 s ahead: a backlog at once, then more through every round.
        schedule(world, timezone.now(), -2, 30)
        stack.start_beat()
        for _ in range(KILL_ROUNDS):
            alive = stack.start_workers(WORKERS)
            # each killed at its own random moment (the other works on alone meanwhile), the
            # first in the middle of firing, the second in the middle of delivering
            for want in ("firing", "delivery"):
                kill_9_mid_work(alive, rng, want, kills)
        stack.start_workers(WORKERS)  # two fresh ones drain what is left
        drain = wait_until_drained(world, receiver, 90, f"seed {SEED}")
    finally:
        stack.stop_all()
        redis_server.stop()
    figures = check_everything_once(world, receiver, mail_dir, all_warned=False, kills=len(kills))
    landed = Counter(k["doing"] for k in kills)
    report = (
        f"seed {SEED}: {len(kills)} kill -9, landed in {dict(landed)} "
        f"{[k['session'][1][:45] for k in kills if k['session']]}; drained {drain:.1f}s "
        f"after the last restart, {time.monotonic() - started:.0f}s in all; {figures}"
    )
    print(report)
    assert len(kills) == KILL_ROUNDS * WORKERS
    # the kills did land in the middle of work, of both kinds
    assert landed["firing"] >= 1 and landed["delivery"] >= 1, report
    # at least once, but only the one in flight per kill (sla.notify.deliver_due)
    assert figures["duplicate_deliveries"] + figures["duplicate_emails"] <= len(kills), report


# --- 2. Redis stopped for a minute ---------------------------------------------------------------
# The issue says a minute; that is what the test does. The worker's reconnection backs off
# (2, 4, 6 ... s), so a minute is also long enough to leave it several attempts behind.
OUTAGE = 60.0


def test_redis_stopped_for_a_minute_while_clocks_fall_due(tmp_path, receiver):
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    world = build_world(receiver.url, incidents=24, handed_off=12)
    redis_server = PrivateRedis(tmp_path)
    stack = Stack(tmp_path, redis_server.url, mail_dir)
    try:
        redis_server.start()
        stack.start_beat()
        workers = stack.start_workers(2)
        # The outage starts ~2 s from now. A few things fall due before it (the stack works),
        # everything else during it: clocks, hand-offs and policies up to 50 s into it.
        outage_at = timezone.now() + timedelta(seconds=2)
        due = schedule(world, outage_at, -1.5, 50)
        time.sleep(max((outage_at - timezone.now()).total_seconds(), 0))
        redis_server.stop()
        stopped, stopped_at = time.monotonic(), timezone.now()
        time.sleep(OUTAGE - 5)
        # Just before Redis returns: nothing that fell due 10 s or more into the outage has
        # been handled (no worker had a task to run), and the workers are still there.
        cutoff = stopped_at + timedelta(seconds=10)
        late = {kind: [i for i, at in when.items() if at > cutoff] for kind, when in due.items()}
        assert all(late.values())
        handled_late = handled(world, late)
        assert handled_late == {"clocks": 0, "handoffs": 0, "starts": 0}, handled_late
        for worker in workers:  # still there, trying to reconnect
            assert worker.process.poll() is None, _tail(worker.log)
        time.sleep(max(OUTAGE - (time.monotonic() - stopped), 0))
        redis_server.start()
        back = timezone.now()
        drain = wait_until_drained(world, receiver, 90, "after Redis returned")
        for worker in workers:
            assert worker.process.poll() is None, _tail(worker.log)
    finally:
        stack.stop_all()
        redis_server.stop()
    figures = check_everything_once(world, receiver, mail_dir, all_warned=True)
    with rls_bypass("test"):
        t = world.tenant
        when = {
            "clocks": SlaClock.objects.for_tenant(t)
            .filter(incident_id__in=late["clocks"])
            .values_list("breach_fired_at", flat=True),
            "handoffs": Escalation.objects.for_tenant(t)
            .filter(incident_id__in=late["handoffs"], step_index=1)
            .values_list("responded_at", flat=True),
            "starts": Escalation.objects.for_tenant(t)
            .filter(incident_id__in=late["starts"], step_index=0)
            .values_list("requested_at", flat=True),
        }
        when = {kind: list(times) for kind, times in when.items()}
        overdue = AuditEvent.objects.for_tenant(t).filter(action="escalation.overdue").count()
    lag = {k: round(max((at - back).total_seconds() for at in ts), 1) for k, ts in when.items()}
    print(
        f"Redis down {OUTAGE:.0f}s; fell due 10 s or more into it: "
        f"{len(late['clocks']) * 4} clocks, {len(late['handoffs'])} hand-offs, "
        f"{len(late['starts'])} policies; handled at most {lag} s after Redis returned; "
        f"drained {drain:.1f}s after it returned; {overdue} steps recorded overdue by the "
        f"auditor; {figures}"
    )
    # every one of them handled after Redis returned (and once: check_everything_once)
    assert all(at > back for times in when.values() for at in times)
    assert figures["duplicate_deliveries"] == 0 and figures["duplicate_emails"] == 0
