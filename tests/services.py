"""Which real services the test run has: PostgreSQL and Redis from DATABASE_URL / REDIS_URL,
or at their local defaults when those are unset. Decided before Django's settings load."""

from __future__ import annotations

import os
import socket

LOCAL_OWNER_URL = "postgresql://postgres@127.0.0.1:5432/mssp"
LOCAL_APP_URL = "postgresql://mssp_app:mssp_app@127.0.0.1:5432/mssp"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/14"

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


def configure_environment() -> None:
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
