"""The intake log with real processes on PostgreSQL (issue 15): every acknowledged alert ends
up processed exactly once, whatever happens to the drains (alerts.intake.log).

The test process posts through the intake API in the log mode (each 202 committed to the test
database); `manage.py drain_intake` processes, connected as the application role, drain it.
A drain is made slow with INTAKE_DRAIN_PAUSE_SECONDS (a setting: it waits between running the
pipeline and committing, and says so in its log) so that it can be killed mid-batch."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from alerts.intake import log
from alerts.models import Alert, Incident, IntakeSource
from tenants.rls import rls_bypass
from tests.factories import TenantFactory
from tests.intake.test_intake_api import ALERT, post
from tests.live import (
    PYTHON,
    _stop,
    _tail,
    app_database_url,
    free_port,
    process_env,
    start_logged,
    wait_for_line,
)

pytestmark = [
    pytest.mark.services("postgresql"),
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.django_db(transaction=True),
]

READY = "intake drain ready"
HOLDING = "rows uncommitted"


@pytest.fixture
def keys(settings):
    """Two customers' generic sources, in the log mode; their intake keys."""
    settings.INTAKE_MODE = "log"
    found = {}
    with rls_bypass("test fixture"):
        for name in ("a", "b"):
            source = IntakeSource(
                tenant=TenantFactory(slug=f"log-{name}"), name=f"{name} sensor", kind="generic"
            )
            found[name] = source.set_new_key()
            source.save()
    return found


def accept(client, keys, count: int, prefix: str) -> list[str]:
    """`count` requests of two alerts each, alternating customers; the ids the 202s gave."""
    ids = []
    for n in range(count):
        key = keys["a" if n % 2 else "b"]
        batch = [{**ALERT, "source_ref": f"{prefix}-{n}-{m}"} for m in range(2)]
        response = post(client, key, batch)
        assert response.status_code == 202, response.content
        ids += response.json()["alerts"]
    return ids


def drain_process(tmp_path: Path, name: str, **env: str) -> tuple[subprocess.Popen, Path]:
    logfile = tmp_path / f"drain-{name}.log"
    environment = process_env(
        INTAKE_MODE="log",
        DATABASE_URL=app_database_url(application_name=f"mssp-drain-{name}"),
        **env,
    )
    process = start_logged([PYTHON, "manage.py", "drain_intake"], logfile, environment)
    return process, logfile


def stored_counts() -> Counter[str]:
    with rls_bypass("test"):
        return Counter(
            str(pk)
            for pk in Alert.objects.dangerously_unscoped("test").values_list("pk", flat=True)
        )


def wait_drained(processes: list[tuple[subprocess.Popen, Path]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while log.backlog().requests:
        for process, logfile in processes:
            assert process.poll() is None, _tail(logfile)
        assert time.monotonic() < deadline, [_tail(f) for _, f in processes]
        time.sleep(0.1)


def assert_exactly_once(ids: list[str]) -> None:
    counts = stored_counts()
    assert sorted(counts) == sorted(ids), "missing or unknown alerts"
    assert set(counts.values()) == {1}
    with rls_bypass("test"):
        grouped = sum(
            Incident.objects.dangerously_unscoped("test").values_list("alert_count", flat=True)
        )
    assert grouped == len(ids)  # each alert counted into its incident once


def test_kill_9_mid_batch_then_two_drains_at_once_process_each_alert_exactly_once(
    client, keys, tmp_path
):
    ids = accept(client, keys, 30, "k")
    assert len(set(ids)) == 60

    # A drain that runs the pipeline on a batch and is killed before it commits.
    victim, victim_log = drain_process(
        tmp_path, "victim", INTAKE_DRAIN_PAUSE_SECONDS="60", INTAKE_DRAIN_BATCH="10"
    )
    try:
        wait_for_line(victim, victim_log, HOLDING, "the drain", timeout=60)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        _stop(victim)
    assert stored_counts() == Counter()  # its transaction died with it
    assert log.backlog().requests == 30  # every row is still there, for the next drain

    # Two drains at once on that backlog, each batch held a little so that they overlap.
    drains = [
        drain_process(tmp_path, name, INTAKE_DRAIN_PAUSE_SECONDS="0.3", INTAKE_DRAIN_BATCH="3")
        for name in ("one", "two")
    ]
    try:
        wait_drained(drains)
        more = accept(client, keys, 4, "late")  # and what comes in meanwhile, by NOTIFY
        wait_drained(drains, timeout=20)
    finally:
        for process, _ in drains:
            _stop(process)
    assert_exactly_once(ids + more)
    held = [_tail(f, 100_000).count(HOLDING) for _, f in drains]
    assert all(held), held  # both drains took batches: SKIP LOCKED shared the backlog


def test_a_drain_survives_its_connections_being_killed_and_redis_being_down(client, keys, tmp_path):
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    drain, drain_log = drain_process(tmp_path, "survivor", REDIS_URL=dead_redis)
    try:
        wait_for_line(drain, drain_log, READY, "the drain", timeout=60)
        first = accept(client, keys, 4, "before")
        wait_drained([(drain, drain_log)], timeout=30)

        with connection.cursor() as cursor:  # the server ends the drain's sessions
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'mssp-drain-survivor'"
            )
            assert cursor.fetchone()[0] >= 1
        time.sleep(0.5)
        second = accept(client, keys, 4, "after")
        wait_drained([(drain, drain_log)], timeout=30)
        assert drain.poll() is None, _tail(drain_log)
    finally:
        _stop(drain)
    assert "connection lost" in _tail(drain_log, 100_000)
    assert_exactly_once(first + second)


def test_the_listening_connection_is_the_drains_own(keys):
    """LISTEN holds a session: never one of the pool's, which would carry it to a request."""
    listener = log._listen_connection()
    try:
        assert isinstance(listener, psycopg.Connection) and listener.autocommit
        channels = listener.execute("SELECT pg_listening_channels()").fetchall()
        assert channels == [(log.CHANNEL,)]
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            django_pid = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM pg_listening_channels()")
            assert cursor.fetchone()[0] == 0  # Django's own connection listens to nothing
        assert listener.info.backend_pid != django_pid
    finally:
        listener.close()
