"""Row-level security on PostgreSQL: the database's own refusal to mix tenants.

Every table of a model with a `tenant` foreign key gets RLS enabled *and forced* (so the
table owner is subject to it too), with a policy that admits a row only when its tenant is in
the transaction's allowed set:

    mssp.tenant_ids  comma-separated tenant ids the current work may touch
    mssp.user_id     the authenticated user (lets a user read their own membership)
    mssp.staff       'on' for MSSP staff (MSSP-level audit events, MSSP teams)
    mssp.bypass      'on' only inside `rls_bypass(reason)`, the explicit, logged escape hatch
    mssp.intake_key  the digest of a presented intake key: lets the request read the one
                     intake source that key unlocks, before its tenant is known

All four are set with set_config(..., is_local => true): they vanish at COMMIT/ROLLBACK, so a
pooled connection can never carry one request's tenants into the next. No setting at all
means no rows.

On SQLite (the embedded mode) these are no-ops; the scoped managers and views still apply.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper

    from .access import Access

logger = logging.getLogger("mssp.rls")

SETTINGS = ("mssp.tenant_ids", "mssp.user_id", "mssp.staff", "mssp.bypass", "mssp.intake_key")
POLICY = "mssp_tenant_isolation"

VISIBLE_FUNCTION = """
CREATE OR REPLACE FUNCTION mssp_tenant_visible(tid bigint) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(current_setting('mssp.bypass', true), '') = 'on'
      OR tid = ANY (string_to_array(
             nullif(current_setting('mssp.tenant_ids', true), ''), ',')::bigint[])
$$;
"""


def is_postgresql(using: str = DEFAULT_DB_ALIAS) -> bool:
    return connections[using].vendor == "postgresql"


# --- which tables ---------------------------------------------------------------------------
def tenant_related_models() -> list[type[models.Model]]:
    """Every concrete model with a `tenant` foreign key to Tenant, found by walking the models."""
    tenant_model = apps.get_model("tenants", "Tenant")
    found = []
    for model in apps.get_models():
        if model._meta.abstract or model._meta.proxy or not model._meta.managed:
            continue
        try:
            field = model._meta.get_field("tenant")
        except FieldDoesNotExist:  # not tenant-owned; anything else must not skip a table
            continue
        if getattr(field, "related_model", None) is tenant_model:
            found.append(model)
    return found


def policy_statements(model: type[models.Model]) -> list[str]:
    table = connections[DEFAULT_DB_ALIAS].ops.quote_name(model._meta.db_table)
    custom = getattr(model, "rls_policy_sql", None)
    using = "mssp_tenant_visible(tenant_id)"
    extra = getattr(model, "rls_also_visible_when", "")
    using = f"({using} OR {extra})" if extra else f"({using})"
    statements = [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY} ON {table}",
        f"DROP POLICY IF EXISTS {POLICY}_read ON {table}",
        f"DROP POLICY IF EXISTS {POLICY}_append ON {table}",
    ]
    if custom:
        statements += [sql.format(table=table, policy=POLICY) for sql in custom]
    else:
        statements.append(f"CREATE POLICY {POLICY} ON {table} USING {using} WITH CHECK {using}")
    return statements


def install(using: str = DEFAULT_DB_ALIAS, app_role: str | None = None) -> None:
    """(Re)create the policies and the app role's grants. Idempotent; runs as the owner."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    app_role = settings.DATABASE_APP_ROLE if app_role is None else app_role
    with connection.cursor() as cursor:
        cursor.execute(VISIBLE_FUNCTION)
        existing = set(connection.introspection.table_names(cursor))
        for model in tenant_related_models():
            if model._meta.db_table in existing:
                for statement in policy_statements(model):
                    cursor.execute(statement)
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]
        if app_role and app_role != owner:
            grant_app_role(cursor, app_role)


def grant_app_role(cursor: CursorWrapper, app_role: str) -> None:
    """DML on every table, nothing more; the audit log is append-only for the app."""
    from .models import AuditEvent

    role = connections[DEFAULT_DB_ALIAS].ops.quote_name(app_role)
    audit = connections[DEFAULT_DB_ALIAS].ops.quote_name(AuditEvent._meta.db_table)
    cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
    cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    cursor.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {audit} FROM {role}")


def install_after_migrate(
    sender: object, using: str = DEFAULT_DB_ALIAS, plan: object = None, **kwargs: Any
) -> None:
    if plan is None:  # `flush` (transactional tests) emits post_migrate too: data only, as app role
        return
    install(using=using)


# --- the per-transaction context ---------------------------------------------------------------
def _set(cursor: CursorWrapper, values: dict[str, str]) -> None:
    params: list[str] = []
    calls = []
    for name, value in values.items():
        calls.append("set_config(%s, %s, true)")
        params += [name, value]
    cursor.execute("SELECT " + ", ".join(calls), params)


def _current(cursor: CursorWrapper) -> dict[str, str]:
    cursor.execute(
        "SELECT " + ", ".join("coalesce(current_setting(%s, true), '')" for _ in SETTINGS),
        list(SETTINGS),
    )
    return dict(zip(SETTINGS, cursor.fetchone(), strict=True))


def current_context(using: str = DEFAULT_DB_ALIAS) -> dict[str, str]:
    """The tenant context of the connection's current transaction (empty strings when none)."""
    if not is_postgresql(using):
        return dict.fromkeys(SETTINGS, "")
    with connections[using].cursor() as cursor:
        return _current(cursor)


def activate(access: Access, using: str = DEFAULT_DB_ALIAS) -> None:
    """Set the caller's tenants for the rest of the current transaction (a request's)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    if not connection.in_atomic_block:
        raise RuntimeError("Tenant context needs a transaction; it would vanish at once.")
    with connection.cursor() as cursor:
        _set(cursor, _values_for(access.tenant_ids, access.user_id, access.is_mssp_staff))


def present_intake_key(digest: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """For the rest of the current transaction (an intake request), admit the one intake
    source whose key has this digest and nothing else. `activate()` later replaces it with
    the source's tenant."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    if not connection.in_atomic_block:
        raise RuntimeError("Tenant context needs a transaction; it would vanish at once.")
    with connection.cursor() as cursor:
        _set(cursor, _values_for([], None, False, digest))


def deactivate(using: str = DEFAULT_DB_ALIAS) -> None:
    """Clear the context before the transaction ends. COMMIT would clear it anyway; this keeps
    work that shares the transaction afterwards (on_commit hooks run eagerly inside a test's
    transaction, a nested caller) from inheriting the request's tenants."""
    connection = connections[using]
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        return
    if connection.needs_rollback or not connection.is_usable():
        return
    with connection.cursor() as cursor:
        _set(cursor, dict.fromkeys(SETTINGS, ""))


def _values_for(
    tenant_ids: Iterable[int], user_id: int | None, staff: bool, intake_key: str = ""
) -> dict[str, str]:
    return {
        "mssp.tenant_ids": ",".join(str(int(t)) for t in sorted(set(tenant_ids))),
        "mssp.user_id": str(int(user_id)) if user_id else "",
        "mssp.staff": "on" if staff else "",
        "mssp.bypass": "",
        "mssp.intake_key": intake_key,
    }


@contextmanager
def _scoped(values: dict[str, str], using: str) -> Iterator[None]:
    connection = connections[using]
    with transaction.atomic(using=using):
        if connection.vendor != "postgresql":
            yield
            return
        with connection.cursor() as cursor:
            previous = _current(cursor)
            _set(cursor, values)
        try:
            yield
        finally:
            # Inside an outer transaction (a request that calls a service that opens its own
            # scope) the outer context comes back; at the outermost level COMMIT clears it.
            if connection.is_usable() and not connection.needs_rollback:
                with connection.cursor() as cursor:
                    _set(cursor, previous)


@contextmanager
def tenant_scope(
    tenant_ids: Iterable[int],
    *,
    user_id: int | None = None,
    staff: bool = False,
    intake_key: str = "",
    using: str = DEFAULT_DB_ALIAS,
) -> Iterator[None]:
    """A transaction that may touch exactly these tenants' rows (consumers, tasks, commands)."""
    with _scoped(_values_for(tenant_ids, user_id, staff, intake_key), using):
        yield


@contextmanager
def access_scope(access: Access, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    with tenant_scope(
        access.tenant_ids, user_id=access.user_id, staff=access.is_mssp_staff, using=using
    ):
        yield


@contextmanager
def rls_bypass(
    reason: str, *, audit: bool = False, using: str = DEFAULT_DB_ALIAS
) -> Iterator[None]:
    """Every tenant's rows, on purpose: system work that spans customers by nature
    (seeding, sweeping due clocks, finding a login's tenant). `reason` is always logged; with
    `audit=True` the bypass is also written to the audit log (for deliberate, rare uses; not
    for hot paths that are audited by what they do)."""
    if not reason:
        raise ValueError("rls_bypass() needs a reason.")
    # Routine system work (the sweeps bypass every second) is logged at DEBUG: at INFO it
    # was most of an operator's log. Deliberate bypasses are audited, and logged at INFO.
    logger.log(logging.INFO if audit else logging.DEBUG, "row-level security bypassed: %s", reason)
    values = dict.fromkeys(SETTINGS, "")
    values.update({"mssp.bypass": "on", "mssp.staff": "on"})
    with _scoped(values, using):
        if audit:
            from .audit import record

            record("rls.bypass", summary=reason[:300], data={"reason": reason})
        yield
