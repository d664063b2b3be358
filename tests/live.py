"""Real processes for the tests that need them: a daphne server and a Celery worker, both
connected to the *test* database as the application role (row-level security applies), with
the test run's Redis. Each is stopped (terminate, then kill) when its block ends.

Also the probe the pooled-connection test installs in daphne (tests.live_settings): for every
request it reads, on the request's own database connection and outside the request's
transaction, the tenant context (tenants.rls.SETTINGS) and the backend's pid, before the
request runs and after it has committed, and reports them in response headers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

PROBE_BACKEND = "X-Probe-Backend-Pid"
PROBE_BEFORE = "X-Probe-Context-Before"
PROBE_AFTER = "X-Probe-Context-After"
PROBE_TXN_AFTER = "X-Probe-Transaction-After"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_database_url(**query: str) -> str:
    """The test database (test_<name>), as the application role the test process uses."""
    from django.conf import settings
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor != "postgresql":
        raise RuntimeError("live processes need PostgreSQL")
    if s["USER"] != settings.DATABASE_APP_ROLE:
        raise RuntimeError(f"test connection is {s['USER']}, not the app role")
    password = quote(s["PASSWORD"] or "", safe="")
    url = f"postgresql://{s['USER']}:{password}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def process_env(**overrides: str) -> dict[str, str]:
    """The production settings (mssp.settings) pointed at the test run's services."""
    from django.conf import settings

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "CELERY_", "EMAIL_", "DB_POOL", "PYTEST"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="mssp.settings",
        DATABASE_URL=app_database_url(),
        REDIS_URL=settings.REDIS_URL,
        CHANNELS_REDIS_PREFIX=settings.CHANNELS_REDIS_PREFIX,
        DEBUG="1",
        LOG_LEVEL="INFO",
        # Tests read the worker's "Task ... succeeded" lines (celery.app.trace), which the
        # production settings keep at WARNING.
        CELERY_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        # Evidence files (cases.evidence) in the test run's directory, as the test process has
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        # The pipeline inside the request, as in the test process (tests.settings): a test
        # that wants the intake log and its drain process says so.
        INTAKE_MODE="direct",
    )
    env.update(overrides)
    return env


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@contextmanager
def running_daphne(log_dir: Path, *, timeout: float = 30, **env: str) -> Iterator[str]:
    """Serve mssp.asgi:application with daphne on a free port; yields its base URL once
    /healthz answers 200."""
    port = free_port()
    log = log_dir / f"daphne-{port}.log"
    process = start_logged(
        [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "mssp.asgi:application"],
        log,
        process_env(**env),
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"daphne exited with {process.returncode}:\n{_tail(log)}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"daphne not healthy after {timeout}s:\n{_tail(log)}")
            time.sleep(0.2)
        yield base_url
    finally:
        _stop(process)


@contextmanager
def running_worker(log_dir: Path, queue: str, *, timeout: float = 60, **env: str) -> Iterator[Path]:
    """A Celery worker (solo pool, one task at a time) consuming only `queue`; yields the path
    of its log once it is ready."""
    log = log_dir / f"worker-{queue}.log"
    command = worker_command(f"{queue}-{uuid.uuid4().hex[:6]}@%h", "-Q", queue)
    with running_process(command, log, " ready.", "worker", timeout=timeout, **env):
        yield log


@contextmanager
def running_process(
    command: list[str], log: Path, ready: str, what: str, *, timeout: float = 60, **env: str
) -> Iterator[subprocess.Popen]:
    """`command` in the project's directory with the test run's environment (plus `env`),
    its output in `log`; yields once `ready` appears in the log, stops it after."""
    process = start_logged(command, log, process_env(**env))
    try:
        wait_for_line(process, log, ready, what, timeout=timeout)
        yield process
    finally:
        _stop(process)


def worker_command(hostname: str, *options: str) -> list[str]:
    """A Celery worker of the project: solo pool (one task at a time), no gossip, mingle or
    heartbeat (nothing to wait for), INFO log (tests read its lines); plus `options`."""
    return [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "mssp",
        "worker",
        "--pool",
        "solo",
        "--concurrency",
        "1",
        *options,
        "--hostname",
        hostname,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "INFO",
    ]


def start_logged(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    """`command` started in the project's directory with `env`, its output in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for_line(
    process: subprocess.Popen,
    log: Path,
    line: str,
    what: str,
    *,
    timeout: float,
    since: float | None = None,
    missing: str = "not ready",
) -> None:
    """Returns once `line` stands in the log; raises (with the log's tail) when the process
    exits first or `timeout` seconds from `since` (default: now) pass."""
    deadline = (time.monotonic() if since is None else since) + timeout
    while line not in _tail(log, 100_000):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} {missing} after {timeout}s:\n{_tail(log)}")
        time.sleep(0.1)


# --- the probe (runs inside daphne, see tests.live_settings) ------------------------------------
def _context_text(context: dict[str, str]) -> str:
    return ";".join(f"{k}={v}" for k, v in sorted(context.items()) if v)


class TenantContextProbeMiddleware:
    """Outermost middleware: runs before the request's transaction opens and after it ends."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.db import connection

        from tenants import rls

        before = _context_text(rls.current_context())  # first query: a pooled checkout
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        response = self.get_response(request)
        after = _context_text(rls.current_context())
        status = connection.connection.info.transaction_status.name
        response[PROBE_BACKEND] = str(pid)
        response[PROBE_BEFORE] = before
        response[PROBE_AFTER] = after
        response[PROBE_TXN_AFTER] = status
        return response
