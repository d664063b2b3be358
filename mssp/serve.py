"""`make run`: daphne for HTTP and websockets, plus a Celery worker and beat when a broker is
configured (REDIS_URL). In the embedded mode Celery runs tasks in-process, so daphne is all.

Stops everything when any part exits or on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def commands() -> list[list[str]]:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    python = sys.executable
    parts = [[python, "-m", "daphne", "-b", host, "-p", port, "mssp.asgi:application"]]
    if os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL"):
        celery = [python, "-m", "celery", "-A", "mssp"]
        # WARNING: at INFO the worker logs every task it runs and beat every one it sends (the
        # SLA sweep runs each second); failures and retries are warnings and errors.
        level = os.environ.get("CELERY_LOG_LEVEL", "WARNING")
        parts.append(
            [
                *celery,
                "worker",
                "--loglevel",
                level,
                "--concurrency",
                os.environ.get("CELERY_CONCURRENCY", "2"),
            ]
        )
        parts.append(
            [
                *celery,
                "beat",
                "--loglevel",
                level,
                "--schedule",
                os.path.join("var", "celerybeat-schedule"),
            ]
        )
    else:
        parts.append([python, "manage.py", "run_periodic"])  # beat's schedule, in-process
    return parts


def main() -> int:
    os.makedirs("var", exist_ok=True)
    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
    broker = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL")
    mode = (
        "PostgreSQL/Redis with Celery worker and beat"
        if broker
        else "embedded: in-process channel layer, tasks and schedule"
    )
    print(f"Serving the portal at http://{host}:{port}/  [{mode}]", flush=True)
    env = dict(os.environ)
    if not broker:  # no worker: requested reports are generated in a thread of daphne's
        env.setdefault("REPORTS_BACKGROUND_THREAD", "1")
    children = [subprocess.Popen(cmd, env=env) for cmd in commands()]  # noqa: S603
    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
    return max((child.returncode or 0) for child in children) if not stopping else 0


if __name__ == "__main__":
    sys.exit(main())
