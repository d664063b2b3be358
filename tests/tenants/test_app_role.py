"""The app role is made and re-checked by every migrate; two at once (two test workers, two
deployments on one server) must not fail on PostgreSQL's cluster-wide role catalog."""

from __future__ import annotations

import threading

import psycopg
import pytest
from django.conf import settings

from tenants.db import ensure_app_role

pytestmark = [pytest.mark.services("postgresql"), pytest.mark.django_db]


def test_two_migrations_checking_the_app_role_at_once_both_succeed():
    role = settings.DATABASE_APP_ROLE
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def migrate_like() -> None:
        try:
            with psycopg.connect(settings.DATABASE_OWNER_URL, autocommit=True) as conn:
                with psycopg.ClientCursor(conn) as cursor:  # as Django binds
                    start.wait()
                    for _ in range(40):
                        ensure_app_role(cursor, role, "mssp_app")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=migrate_like) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
