"""Isolation in the model layer and the database: every tenant-owned model refuses unscoped
queries, and on PostgreSQL has row-level security enabled and forced, found by walking the
models and the catalog rather than a hand-kept list."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from alerts.models import IntakeSource
from tenants import rls
from tenants.models import Membership, TenantOwnedModel
from tenants.querysets import TenantScopedManager, TenantScopeError
from tenants.rls import rls_bypass, tenant_related_models, tenant_scope

pytestmark = pytest.mark.django_db


def test_tenant_related_models_are_found_by_walking_the_models():
    labels = {m._meta.label for m in tenant_related_models()}
    assert {
        "tenants.Membership",
        "alerts.IntakeSource",
        "tenants.AuditEvent",
        "tenants.Team",
    } <= labels


@pytest.mark.parametrize("model", tenant_related_models(), ids=lambda m: m._meta.label)
def test_every_tenant_model_uses_the_refusing_manager(model):
    assert isinstance(model._default_manager, TenantScopedManager)
    with pytest.raises(TenantScopeError):
        list(model.objects.all())
    with pytest.raises(TenantScopeError):
        model.objects.count()
    with pytest.raises(TenantScopeError):
        model.objects.exclude(pk=None).exists()
    with pytest.raises(TenantScopeError):
        model.objects.all().update()
    with pytest.raises(TenantScopeError):
        model.objects.all().delete()


@pytest.mark.parametrize("model", tenant_related_models(), ids=lambda m: m._meta.label)
def test_tenant_is_non_null_unless_the_model_says_why(model):
    field = model._meta.get_field("tenant")
    if field.null:
        assert getattr(model, "tenant_nullable_reason", ""), (
            f"{model._meta.label}.tenant is nullable without a stated reason"
        )
    else:
        assert issubclass(model, TenantOwnedModel)


def test_scoped_queries_are_allowed(two_tenants):
    a = two_tenants["a"]
    with rls_bypass("test"):
        assert IntakeSource.objects.for_tenant(a).count() == 1
        assert IntakeSource.objects.filter(tenant=a).count() == 1
        assert IntakeSource.objects.filter(tenant_id__in=[a.pk]).count() == 1
        assert len(list(IntakeSource.objects.dangerously_unscoped("test").all())) == 2


def test_a_tenant_filter_that_is_not_a_literal_does_not_count_as_scoped(two_tenants):
    from tenants.models import Tenant

    with pytest.raises(TenantScopeError):
        list(IntakeSource.objects.filter(tenant__in=Tenant.objects.all()))
    with pytest.raises(TenantScopeError):
        list(IntakeSource.objects.filter(tenant__slug="tenant-a"))
    with pytest.raises(TenantScopeError):
        list(IntakeSource.objects.exclude(tenant=two_tenants["a"]))


def test_dangerously_unscoped_needs_a_reason():
    with pytest.raises(TenantScopeError):
        IntakeSource.objects.dangerously_unscoped("")


# --- PostgreSQL: row-level security -------------------------------------------------------------
postgres = pytest.mark.services("postgresql")


def _catalog(table: str) -> tuple[bool, bool]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass(%s)",
            [table],
        )
        return cursor.fetchone()


@postgres
@pytest.mark.parametrize("model", tenant_related_models(), ids=lambda m: m._meta.label)
def test_every_tenant_table_has_rls_enabled_and_forced(model):
    enabled, forced = _catalog(model._meta.db_table)
    assert enabled and forced
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_policies WHERE tablename = %s", [model._meta.db_table]
        )
        assert cursor.fetchone()[0] >= 1


@postgres
def test_every_table_with_a_tenant_column_in_the_catalog_has_rls():
    """From the catalog's side: no table with a tenant_id column escapes RLS."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE a.attname = 'tenant_id' AND c.relkind = 'r' AND n.nspname = 'public' "
            "AND NOT a.attisdropped"
        )
        rows = cursor.fetchall()
    assert rows
    assert [name for name, enabled, forced in rows if not (enabled and forced)] == []


@postgres
def test_the_app_role_is_not_privileged_and_owns_nothing():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
            "WHERE rolname = current_user"
        )
        assert cursor.fetchone() == (False, False, False, False)
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
            "WHERE r.rolname = current_user"
        )
        assert cursor.fetchone()[0] == 0


@postgres
@pytest.mark.parametrize("model", tenant_related_models(), ids=lambda m: m._meta.label)
def test_raw_sql_as_the_app_role_with_no_tenant_set_sees_no_rows(model, two_tenants):
    from tests.factories import populate_tenant

    table = model._meta.db_table
    for tenant in (two_tenants["a"], two_tenants["b"]):
        populate_tenant(tenant, two_tenants["mssp_admin"])
    with rls_bypass("test: make sure every table has rows to hide"):
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT count(*) FROM "{table}" WHERE tenant_id IS NOT NULL')  # noqa: S608
            assert cursor.fetchone()[0] > 0
    with transaction.atomic(), connection.cursor() as cursor:
        assert rls.current_context()["mssp.tenant_ids"] == ""
        cursor.execute(f'SELECT count(*) FROM "{table}" WHERE tenant_id IS NOT NULL')  # noqa: S608
        assert cursor.fetchone()[0] == 0
    # And once that scope has ended, still nothing.
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}" WHERE tenant_id IS NOT NULL')  # noqa: S608
        assert cursor.fetchone()[0] == 0


@postgres
def test_rls_admits_only_the_tenants_in_the_context(two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    with tenant_scope([a.pk]):
        ids = set(
            IntakeSource.objects.dangerously_unscoped("test").values_list("tenant_id", flat=True)
        )
        assert ids == {a.pk}
        # A forgotten filter still cannot reach B: the database refuses.
        assert not IntakeSource.objects.for_tenant(b).exists()


@postgres
def test_rls_refuses_writing_a_row_into_another_tenant(two_tenants):
    from django.db.utils import ProgrammingError

    a, b = two_tenants["a"], two_tenants["b"]
    with pytest.raises(ProgrammingError, match="row-level security"):
        with tenant_scope([a.pk]):
            IntakeSource.objects.create(
                tenant=b, name="smuggled", kind="generic", key_digest="x" * 64, key_prefix="x"
            )


@postgres
def test_rls_refuses_moving_a_row_to_another_tenant(two_tenants):
    from django.db.utils import ProgrammingError

    a, b = two_tenants["a"], two_tenants["b"]
    source = two_tenants["a_source"]
    with pytest.raises(ProgrammingError, match="row-level security"):
        with tenant_scope([a.pk]):
            IntakeSource.objects.for_tenant(a).filter(pk=source.pk).update(tenant=b)


@postgres
def test_a_user_reads_only_their_own_membership_before_a_tenant_is_known(two_tenants):
    user = two_tenants["a_viewer"]
    with tenant_scope([], user_id=user.pk):
        rows = list(
            Membership.objects.dangerously_unscoped("test").values_list("user_id", flat=True)
        )
    assert rows == [user.pk]


@postgres
def test_tenant_context_is_transaction_local(two_tenants):
    with tenant_scope([two_tenants["a"].pk]):
        assert rls.current_context()["mssp.tenant_ids"] == str(two_tenants["a"].pk)
    with transaction.atomic():
        assert rls.current_context()["mssp.tenant_ids"] == ""


@postgres
def test_nested_scope_restores_the_outer_context(two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    with tenant_scope([a.pk]):
        with tenant_scope([b.pk]):
            assert rls.current_context()["mssp.tenant_ids"] == str(b.pk)
        assert rls.current_context()["mssp.tenant_ids"] == str(a.pk)


@postgres
def test_audit_log_is_append_only_for_the_app_role(two_tenants):
    from django.db.utils import ProgrammingError

    from tenants import audit

    event = audit.record("test.event", tenant=two_tenants["a"])
    for statement in (
        "UPDATE tenants_auditevent SET action = 'x' WHERE id = %s",
        "DELETE FROM tenants_auditevent WHERE id = %s",
    ):
        with pytest.raises(ProgrammingError, match="permission denied"):
            with rls_bypass("test"), connection.cursor() as cursor:
                cursor.execute(statement, [event.pk])
