"""The two PostgreSQL roles: the owner (runs migrations, owns every table) and the app role
(what the portal connects as: not superuser, no BYPASSRLS, owns nothing)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import dj_database_url
import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, InternalError, ProgrammingError, connections

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.utils import CursorWrapper

CREDENTIALS = ("USER", "PASSWORD", "HOST", "PORT")


@contextmanager
def owner_connection(alias: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Run the block connected as the schema owner (DATABASE_OWNER_URL)."""
    connection = connections[alias]
    owner_url = settings.DATABASE_OWNER_URL
    if connection.vendor != "postgresql" or not owner_url or owner_url == settings.DATABASE_URL:
        yield
        return
    owner: dict[str, Any] = dict(dj_database_url.parse(owner_url))
    saved = {key: connection.settings_dict.get(key) for key in (*CREDENTIALS, "OPTIONS")}
    _reconnect(connection, {key: owner[key] for key in CREDENTIALS}, pool=False)
    try:
        yield
    finally:
        _reconnect(connection, saved, pool=True)


def _reconnect(connection: BaseDatabaseWrapper, values: dict[str, Any], *, pool: bool) -> None:
    connection.close()
    if hasattr(connection, "close_pool"):
        connection.close_pool()
    options = dict(values.pop("OPTIONS", None) or connection.settings_dict.get("OPTIONS") or {})
    if not pool:
        options.pop("pool", None)
    connection.settings_dict.update(values)
    connection.settings_dict["OPTIONS"] = options


def ensure_app_role(cursor: CursorWrapper, role: str, password: str | None) -> None:
    """Create the app role if missing, and make sure it has no privilege it should not.

    Roles are cluster-wide: two migrations at once (two test workers, two deployments on one
    server) may alter the same role together, which PostgreSQL refuses to the loser with
    "tuple concurrently updated" (or a duplicate on CREATE). Each statement stands alone
    (autocommit), so the loser simply tries again."""
    quoted = connections[DEFAULT_DB_ALIAS].ops.quote_name(role)
    for attempt in range(ROLE_ATTEMPTS):
        try:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone() is None:
                cursor.execute(f"CREATE ROLE {quoted} LOGIN")
            cursor.execute(f"ALTER ROLE {quoted} NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE")
            if password:
                cursor.execute(f"ALTER ROLE {quoted} PASSWORD %s", [password])
            return
        except (InternalError, IntegrityError, ProgrammingError, psycopg.Error):
            if attempt == ROLE_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


ROLE_ATTEMPTS = 5
