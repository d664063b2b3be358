from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connections

from tests import services
from tests.factories import (
    IntakeSourceFactory,
    MembershipFactory,
    StaffFactory,
    TenantFactory,
    issue_token,
)

pytest_plugins: list[str] = []


def _flush_retrying_deadlocks() -> None:
    """A transactional test ends by truncating every table. The browser tests' live portal
    (daphne, a Celery worker, beat) may still be inside a transaction that holds one table and
    wants another that TRUNCATE already holds: PostgreSQL then cancels the flush as a deadlock
    victim, the test errors at teardown and the next one finds the last one's rows. The other
    transaction finishes in milliseconds; the flush is tried again after it."""
    import time

    from django.db import OperationalError
    from django.db.backends.base.operations import BaseDatabaseOperations

    flush = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        for attempt in range(1, 6):
            try:
                return flush(self, sql_list)
            except OperationalError as exc:
                if "deadlock detected" not in str(exc) or attempt == 5:
                    raise
                time.sleep(0.2 * attempt)

    BaseDatabaseOperations.execute_sql_flush = execute_sql_flush


_flush_retrying_deadlocks()


def _flush_by_deleting_rows() -> None:
    """On PostgreSQL a transactional test's flush deletes the rows instead of truncating
    every table: TRUNCATE of the ~100 tables took 2.5-4 s a test here (each table gets new
    files), DELETE of a test's few rows 0.1-0.2 s. One transaction, as the app role with
    row-level security bypassed (every tenant's rows) and the foreign keys checked at its end
    (Django makes them deferrable), so the order does not matter. A table the app role may not
    delete from (the audit log: append-only, tenants.rls) is still truncated, first, before any
    deletion queues a foreign-key check on it. Resetting sequences keeps Django's own flush."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    django_flush = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or not tables:
            return django_flush(
                self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r' "
                "AND NOT has_table_privilege(oid, 'DELETE')",
                [list(tables)],
            )
            kept = {row[0] for row in cursor.fetchall()}
        name = self.quote_name
        statements = [
            "SELECT set_config('mssp.bypass', 'on', true)",
            "SET CONSTRAINTS ALL DEFERRED",
        ]
        if kept:
            statements.append(f"TRUNCATE {', '.join(name(table) for table in sorted(kept))}")
        statements += [f"DELETE FROM {name(table)}" for table in tables if table not in kept]
        return statements

    DatabaseOperations.sql_flush = sql_flush


_flush_by_deleting_rows()


def pytest_report_header(config):
    lines = []
    for name, why in services.AVAILABLE.items():
        lines.append(f"{name}: {'available' if not why else why}")
    return lines


def pytest_collection_modifyitems(config, items):
    for item in items:
        marker = item.get_closest_marker("services")
        if marker is None:
            continue
        needed = marker.args or ("postgresql", "redis")
        why = services.missing(*needed)
        if why:
            if services.REQUIRED:
                item.add_marker(pytest.mark.xfail(reason=why, strict=True, run=False))
                item.user_properties.append(("missing", why))
            else:
                item.add_marker(pytest.mark.skip(reason=f"needs {', '.join(needed)}: {why}"))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Across workers (pytest-xdist), the slow tests go first, so that a minute-long test is
        # not the last one left while the other workers idle (stable: order otherwise kept).
        # The browser tests stay before them: their serialized rollback needs to run before
        # any other transactional test on the worker (tests/browser/conftest.py says why), and
        # each worker takes its tests in this order.
        items.sort(
            key=lambda item: (
                item.get_closest_marker("browser") is None,
                item.get_closest_marker("slow") is None,
            )
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    missing = dict(item.user_properties).get("missing")
    if missing and report.when == "setup":
        # MSSP_REQUIRE_SERVICES=1: a test that would be skipped for want of a service fails.
        report.outcome = "failed"
        report.longrepr = f"MSSP_REQUIRE_SERVICES=1 and {missing}"


@pytest.fixture(scope="session", autouse=True)
def fresh_redis_db():
    """The test run's own Redis db starts empty: rate-limit windows and replay markers of a
    previous run (whose tenant ids this run reuses) must not leak into this one."""
    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture(autouse=True)
def fresh_cache():
    from django.core.cache import cache

    from sla import heartbeat
    from tenants import ratelimit

    heartbeat.beat()  # the scheduler is alive unless a test says otherwise
    yield
    cache.clear()
    ratelimit.limiter().storage.reset()


@pytest.fixture(autouse=True)
def second_factor_sessions(request, monkeypatch):
    """A test client signed in with force_login/login has given its second factor, unless the
    test is marked password_only (tests/mfa.py says why)."""
    if request.node.get_closest_marker("password_only"):
        return
    from django.test import Client

    from tests.mfa import mark_passed

    original = Client._login

    def _login(self, user, backend=None):
        original(self, user, backend)
        mark_passed(self)

    monkeypatch.setattr(Client, "_login", _login)


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker):
    """Create and migrate the test database as the schema owner, then run every test as the
    application role (row-level security applies to it, as in production)."""
    from django.test.utils import setup_databases, teardown_databases

    from tenants.db import owner_connection

    with django_db_blocker.unblock():
        with owner_connection():
            config = setup_databases(verbosity=0, interactive=False, keepdb=False)
            connection = connections["default"]
            if connection.vendor == "postgresql" and settings.DATABASE_APP_ROLE:
                role = connection.ops.quote_name(settings.DATABASE_APP_ROLE)
                with connection.cursor() as cursor:
                    # Test runs only: transactional tests empty the tables between tests.
                    cursor.execute(f"GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO {role}")
                    # A throwaway database: a commit need not wait for its WAL to reach the
                    # disk (only a crash of the server itself could lose the last commits;
                    # the tests stop backends and Redis, never the PostgreSQL server).
                    database = connection.ops.quote_name(connection.settings_dict["NAME"])
                    cursor.execute(f"ALTER DATABASE {database} SET synchronous_commit TO off")
    yield
    with django_db_blocker.unblock():
        with owner_connection():
            teardown_databases(config, verbosity=0)


@pytest.fixture
def is_postgresql() -> bool:
    return connections["default"].vendor == "postgresql"


@pytest.fixture
def make_tenant(db):
    return TenantFactory


@pytest.fixture
def make_user(db):
    """make_user(tenant, role) -> a customer user; make_user(None, staff_role, tenants=[...])."""

    def make(tenant=None, role="viewer", **kwargs):
        if tenant is None:
            return StaffFactory(staff_role=role, **kwargs)
        return MembershipFactory(tenant=tenant, role=role, **kwargs).user

    return make


@pytest.fixture
def make_source(db):
    return IntakeSourceFactory


def ensure_default_contract() -> None:
    """The default SLA contract comes from a data migration; transactional tests empty every
    table between tests (flush), so put it back for the tests that follow one."""
    from importlib import import_module

    from sla.models import SlaPolicy
    from tenants.rls import rls_bypass

    defaults = import_module("sla.migrations.0002_default_contract").DEFAULTS
    with rls_bypass("test fixture: default contract"):
        for severity, ack, notify, contain, resolve, coverage in defaults:
            SlaPolicy.objects.dangerously_unscoped("fixture").get_or_create(
                tenant=None,
                severity=severity,
                defaults={
                    "acknowledge_minutes": ack,
                    "notify_minutes": notify,
                    "contain_minutes": contain,
                    "resolve_minutes": resolve,
                    "coverage": coverage,
                },
            )


@pytest.fixture
def two_tenants(db):
    """Tenant A and tenant B, each with admin/responder/viewer users and a source, plus an
    analyst who works only A and an outsider with no tenant at all."""
    return make_two_tenants()


@pytest.fixture(scope="module")
def two_tenants_of_module(django_db_setup, django_db_blocker):
    """`two_tenants` built once for a whole module, for matrices of hundreds of tests that only
    read them: in a transaction rolled back at the module's end, each test in a savepoint of
    it (with `db`), so what a test writes is undone before the next, as with `two_tenants`.
    Only for tests that never change the returned objects in memory (a later test would see
    the change) and in modules where no test asks for `two_tenants` itself (tenant A twice)."""
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        yield make_two_tenants()
        transaction.set_rollback(True)


def make_two_tenants() -> dict:
    """What `two_tenants` gives, for a fixture of a wider scope (tests/test_isolation_matrix)."""
    ensure_default_contract()
    a = TenantFactory(slug="tenant-a", name="Tenant A")
    b = TenantFactory(slug="tenant-b", name="Tenant B")
    world = {"a": a, "b": b}
    for key, tenant in (("a", a), ("b", b)):
        for role in ("admin", "responder", "viewer"):
            world[f"{key}_{role}"] = MembershipFactory(tenant=tenant, role=role).user
        world[f"{key}_source"] = IntakeSourceFactory(tenant=tenant)
    world["analyst_a"] = StaffFactory(staff_role="analyst_l1", tenants=[a])
    world["analyst_b"] = StaffFactory(staff_role="analyst_l2", tenants=[b])
    world["mssp_admin"] = StaffFactory(staff_role="admin")
    world["outsider"] = StaffFactory(staff_role="analyst_l1")
    return world


@pytest.fixture
def broker_app():
    """The Celery app, sending to the broker instead of running tasks in-process (the test
    settings' default) for the duration of one test."""
    from mssp.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield app
    finally:
        app.conf.task_always_eager = previous


@pytest.fixture
def api():
    """An API client authenticated with a fresh token of `user` (all its role's scopes)."""
    from rest_framework.test import APIClient

    def client_for(user=None, scopes=None):
        client = APIClient()
        if user is not None:
            raw = issue_token(user, scopes=scopes)
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return client_for
