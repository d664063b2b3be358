"""The tenant-scoped queryset every tenant-owned model uses.

A query on a tenant-owned model must say which tenants it is for. One that does not raises
`TenantScopeError` when it is evaluated, so a forgotten filter fails loudly in development and
tests instead of returning every customer's rows (django-scopes, fail closed).

A queryset counts as scoped when
- it was made by `for_tenant()`, `for_tenants()` or `visible_to()`,
- its WHERE clause pins `tenant_id` to literal values (`filter(tenant=t)`,
  `filter(tenant_id__in=[...])`),
- it is a related manager reached from an object that was itself loaded inside a scope
  (`incident.alerts.all()`), or
- it was opened with `dangerously_unscoped(reason)`, the one deliberate escape hatch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Self

from django.db import models
from django.db.models.expressions import Col
from django.db.models.lookups import Exact, In
from django.db.models.sql.where import AND, WhereNode

if TYPE_CHECKING:
    from .access import Access

logger = logging.getLogger("mssp.scope")


class TenantScopeError(RuntimeError):
    """A query on tenant-owned data did not say which tenants it is for."""


def _pins_tenant(node: WhereNode, tenant_attname: str) -> bool:
    """True when an AND-connected WHERE clause restricts tenant_id to literal values."""
    if node.negated or node.connector != AND:
        return False
    for child in node.children:
        if isinstance(child, WhereNode):
            if _pins_tenant(child, tenant_attname):
                return True
            continue
        if not isinstance(child, Exact | In) or not isinstance(child.lhs, Col):
            continue
        if child.lhs.target.attname != tenant_attname:
            continue
        rhs = child.rhs
        if isinstance(child, Exact) and rhs is not None and not hasattr(rhs, "resolve_expression"):
            return True
        if isinstance(child, In) and isinstance(rhs, list | tuple | set | frozenset):
            return True
    return False


class TenantScopedQuerySet(models.QuerySet[Any]):
    tenant_field = "tenant"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tenant_scoped = False

    def _clone(self) -> Self:
        # QuerySet._clone and _chain are Django's private API: django-stubs leaves them out.
        clone: Self = super()._clone()  # type: ignore[misc]
        clone._tenant_scoped = self._tenant_scoped
        return clone

    # --- making a scope -------------------------------------------------------------------
    def for_tenant(self, tenant: Any) -> Self:
        tenant_id = getattr(tenant, "pk", tenant)
        if tenant_id is None:
            raise TenantScopeError(f"{self.model.__name__}: for_tenant() needs a tenant.")
        return self.for_tenants([tenant_id])

    def for_tenants(self, tenant_ids: Iterable[int]) -> Self:
        qs = self.filter(**{f"{self.tenant_field}_id__in": sorted(set(tenant_ids))})
        qs._tenant_scoped = True
        return qs

    def visible_to(self, access: Access) -> Self:
        return self.for_tenants(access.tenant_ids)

    def dangerously_unscoped(self, reason: str) -> Self:
        """Every tenant's rows, on purpose. `reason` says why; it is logged."""
        if not reason:
            raise TenantScopeError("dangerously_unscoped() needs a reason.")
        logger.debug("unscoped query on %s: %s", self.model.__name__, reason)
        qs: Self = self._chain()  # type: ignore[attr-defined]  # private API, see _clone
        qs._tenant_scoped = True
        return qs

    # --- refusing an unscoped one ---------------------------------------------------------
    def _assert_scoped(self) -> None:
        if self._tenant_scoped:
            return
        attname = self.model._meta.get_field(self.tenant_field).attname
        if _pins_tenant(self.query.where, attname):
            return
        raise TenantScopeError(
            f"Unscoped query on tenant-owned {self.model.__name__}: use for_tenant(), "
            "visible_to() or filter(tenant=...)."
        )

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._assert_scoped()
        super()._fetch_all()

    def iterator(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self._assert_scoped()
        return super().iterator(*args, **kwargs)

    def count(self) -> int:
        if self._result_cache is None:
            self._assert_scoped()
        return super().count()

    def exists(self) -> bool:
        if self._result_cache is None:
            self._assert_scoped()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._assert_scoped()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._assert_scoped()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._assert_scoped()
        return super().delete()

    def explain(self, *args: Any, **kwargs: Any) -> str:
        self._assert_scoped()
        return super().explain(*args, **kwargs)


class TenantScopedManager(models.Manager.from_queryset(TenantScopedQuerySet)):  # type: ignore[misc]
    def get_queryset(self) -> TenantScopedQuerySet:
        qs: TenantScopedQuerySet = super().get_queryset()
        # Related managers (reverse FK, many-to-many) carry the object they hang off. That object
        # was loaded inside a scope, and foreign keys never cross tenants, so the relation is
        # scoped by construction (and prefetching across several tenants stays correct).
        if getattr(self, "instance", None) is not None and hasattr(self, "core_filters"):
            qs._tenant_scoped = True
        return qs


def scoped_manager(model: type[models.Model]) -> TenantScopedManager:
    """The `objects` of a model that is tenant-scoped: its TenantScopedManager (the API's
    scoped views and fields, the admin of every tenant's rows)."""
    # Each such model declares `objects = TenantScopedManager()`; django-stubs' Model declares
    # no `objects`, so the checker cannot know it from `type[Model]`.
    manager: TenantScopedManager = model.objects  # type: ignore[attr-defined]
    return manager
