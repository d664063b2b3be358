"""Which real services the test run has: PostgreSQL and Redis from DATABASE_URL / REDIS_URL,
or at their local defaults when those are unset. Decided before Django's settings load."""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

LOCAL_OWNER_URL = "postgresql://postgres@127.0.0.1:5432/mssp"
LOCAL_APP_URL = "postgresql://mssp_app:mssp_app@127.0.0.1:5432/mssp"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/14"
# Each run of the suite on this machine claims a slot: its own test database (test_mssp_<n>)
# and its own Redis database, so two runs (two checkouts, CI beside a developer) never drop
# each other's database or flush each other's Redis. Db 0 is `make run`'s, 11-13 the benches'.
SLOT_REDIS_DBS = (15, 10, 9, 8, 7, 6, 5, 4, 3, 14)
_slot_lock = None  # the open, flock'ed file that holds this run's slot until the process ends

AVAILABLE: dict[str, str] = {}  # service -> "" when present, else why not
REQUIRED = os.environ.get("MSSP_REQUIRE_SERVICES", "") in {"1", "true", "yes"}


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _postgres_reachable(url: str) -> str:
    try:
        import psycopg

        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", connect_timeout=2):
            return ""
    except Exception as exc:  # any failure means: no PostgreSQL for this run
        return f"PostgreSQL unreachable ({str(exc).splitlines()[0][:120]})"


def _redis_reachable(url: str) -> str:
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return ""
    except Exception as exc:  # any failure means: no Redis for this run
        return f"Redis unreachable ({exc})"


def claim_slot() -> int:
    """The first free slot, held by an exclusive lock on a file that the kernel releases when
    this process ends, however it ends (no stale claims after a crash or kill -9)."""
    global _slot_lock
    if _slot_lock is not None:
        return int(Path(_slot_lock.name).stem.rsplit("-", 1)[1])
    folder = Path(tempfile.gettempdir())
    for slot in range(1, len(SLOT_REDIS_DBS) + 1):
        handle = open(folder / f"mssp-test-slot-{slot}.lock", "w")  # noqa: SIM115 - held open for the run
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _slot_lock = handle
        return slot
    raise SystemExit(f"{len(SLOT_REDIS_DBS)} test runs are already running on this machine")


def _with_redis_db(url: str, db: int) -> str:
    return urlsplit(url)._replace(path=f"/{db}").geturl()


def configure_environment() -> None:
    """Point the run at the services it has. MSSP_TEST_EMBEDDED=1 ignores the local ones, so
    that the suite runs as `make run` serves: SQLite and in-process layers."""
    if os.environ.get("MSSP_TEST_EMBEDDED", "") in {"1", "true", "yes"}:
        for name in ("DATABASE_URL", "DATABASE_OWNER_URL", "REDIS_URL", "CELERY_BROKER_URL"):
            os.environ.pop(name, None)
        AVAILABLE["postgresql"] = "the embedded run (MSSP_TEST_EMBEDDED=1) uses SQLite"
        AVAILABLE["redis"] = "the embedded run (MSSP_TEST_EMBEDDED=1) uses in-process layers"
        os.environ.setdefault("CHANNELS_REDIS_PREFIX", "mssp-test")
        return
    slot = claim_slot()
    os.environ["MSSP_TEST_SLOT"] = str(slot)
    if not os.environ.get("DATABASE_URL") and _port_open("127.0.0.1", 5432):
        os.environ["DATABASE_OWNER_URL"] = os.environ.get("DATABASE_OWNER_URL", LOCAL_OWNER_URL)
        os.environ["DATABASE_URL"] = LOCAL_APP_URL
    if os.environ.get("DATABASE_URL"):
        AVAILABLE["postgresql"] = _postgres_reachable(
            os.environ.get("DATABASE_OWNER_URL") or os.environ["DATABASE_URL"]
        )
        if AVAILABLE["postgresql"]:
            os.environ.pop("DATABASE_URL")
            os.environ.pop("DATABASE_OWNER_URL", None)
    else:
        AVAILABLE["postgresql"] = "PostgreSQL not configured (DATABASE_URL) nor at 127.0.0.1:5432"
    if not os.environ.get("REDIS_URL") and _port_open("127.0.0.1", 6379):
        os.environ["REDIS_URL"] = LOCAL_REDIS_URL
    if os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = _with_redis_db(os.environ["REDIS_URL"], SLOT_REDIS_DBS[slot - 1])
        AVAILABLE["redis"] = _redis_reachable(os.environ["REDIS_URL"])
        if AVAILABLE["redis"]:
            os.environ.pop("REDIS_URL")
    else:
        AVAILABLE["redis"] = "Redis not configured (REDIS_URL) nor at 127.0.0.1:6379"
    os.environ.setdefault("CHANNELS_REDIS_PREFIX", "mssp-test")
    missing = [why for why in AVAILABLE.values() if why]
    if REQUIRED and missing:
        raise SystemExit("MSSP_REQUIRE_SERVICES=1 but: " + "; ".join(missing))


def missing(*services: str) -> str:
    """Why the named services are not available ("" when they all are)."""
    return "; ".join(AVAILABLE.get(s, f"{s}: unknown") for s in services if AVAILABLE.get(s, "?"))
