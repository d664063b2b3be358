"""The one base every API view inherits: it owns authentication-to-tenants, the queryset and the
object lookup, so no view can forget the tenant boundary.

- `perform_authentication` computes the caller's `Access` and sets it as the transaction's
  row-level-security context (the request already runs in a transaction: ATOMIC_REQUESTS).
- `get_queryset` / `get_object` are final: a subclass that defines either is refused at import
  time. A view narrows its rows with `scope_queryset(qs)`, which receives an already-scoped
  queryset. The one escape hatch is spelled `dangerously_unscoped_queryset`.
- Another tenant's object is a 404, the same 404 as a missing one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.http import Http404
from rest_framework import generics, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import rls
from ..access import NO_ACCESS, Access, access_for
from ..auth import token_scopes
from ..models import Tenant
from ..querysets import scoped_manager

FINAL_METHODS = ("get_queryset", "get_object", "perform_authentication")


class ScopedAPIView(APIView):
    """Any API view: computes `self.access` and the database's tenant context."""

    access: Access = NO_ACCESS

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in FINAL_METHODS:
            owner = next((k for k in cls.__mro__ if name in k.__dict__), None)
            if owner is not None and owner.__module__ not in (
                __name__,
                "rest_framework.views",
                "rest_framework.generics",
            ):
                raise TypeError(
                    f"{cls.__qualname__} overrides {name}(): tenant scoping lives in the base "
                    "view. Narrow rows with scope_queryset(); see tenants/api/base.py."
                )

    def perform_authentication(self, request: Request) -> None:
        super().perform_authentication(request)
        self.access = access_for(request.user, token_scopes(request))
        if self.access.is_authenticated:  # an anonymous caller's transaction has none already
            rls.activate(self.access)

    def finalize_response(
        self, request: Request, response: Any, *args: Any, **kwargs: Any
    ) -> Response:
        final: Response = super().finalize_response(request, response, *args, **kwargs)
        rls.deactivate()
        return final


def object_or_404(view: generics.GenericAPIView[Any]) -> models.Model:
    """The row the URL names among the view's rows, or 404: a malformed id is as absent as a
    missing one (and as another tenant's)."""
    queryset = view.filter_queryset(view.get_queryset())
    lookup_url_kwarg = view.lookup_url_kwarg or view.lookup_field
    try:
        obj: models.Model = queryset.get(**{view.lookup_field: view.kwargs[lookup_url_kwarg]})
    except (queryset.model.DoesNotExist, ValueError, TypeError, DjangoValidationError):
        raise Http404 from None
    view.check_object_permissions(view.request, obj)
    return obj


Narrower = Callable[[Access, models.QuerySet[Any]], models.QuerySet[Any]]
# Rules that narrow every API view of a model, whatever the view, registered by the app that
# owns them (alerts.tlp: what a caller may read by TLP), before the view's own scope_queryset.
_NARROWERS: dict[type[models.Model], Narrower] = {}


def narrow_every_view(model: type[models.Model], narrower: Narrower) -> None:
    _NARROWERS[model] = narrower


class TenantScopedViewSet(ScopedAPIView, viewsets.GenericViewSet[Any]):
    """A viewset over one tenant-owned model, limited to the caller's tenants."""

    scoped_model: ClassVar[type[models.Model]]
    lookup_field = "pk"
    lookup_value_converter = "uuid"

    def scope_queryset(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        """Narrow (or annotate) the already tenant-scoped rows. Override freely."""
        return queryset

    def tenant_ids(self) -> frozenset[int]:
        return self.access.tenant_ids

    # True for models whose rows may also belong to no tenant (the MSSP's own: audit events
    # about staff, MSSP teams); MSSP staff then see those rows too.
    include_mssp_rows: ClassVar[bool] = False
    # ... and everyone else too (the MSSP's default SLA contract is every customer's).
    mssp_rows_for_everyone: ClassVar[bool] = False

    def get_queryset(self) -> models.QuerySet[Any]:
        manager = scoped_manager(self.scoped_model)
        if self.include_mssp_rows and (
            self.access.is_mssp_staff
            or (self.mssp_rows_for_everyone and self.access.is_authenticated)
        ):
            queryset = manager.dangerously_unscoped("MSSP staff read MSSP-level rows").filter(
                models.Q(tenant_id__in=sorted(self.tenant_ids())) | models.Q(tenant__isnull=True)
            )
        else:
            queryset = manager.for_tenants(self.tenant_ids())
        narrower = _NARROWERS.get(self.scoped_model)
        if narrower is not None:
            queryset = narrower(self.access, queryset)
        return self.scope_queryset(queryset)

    def get_object(self) -> models.Model:
        return object_or_404(self)


class TenantNestedViewSet(TenantScopedViewSet):
    """A viewset under /tenants/{tenant_slug}/...: the tenant in the path must be one the caller
    may see (else 404), and every row belongs to it."""

    tenant: Tenant

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.tenant = self.resolve_tenant(self.kwargs.get("tenant_slug", ""))

    def resolve_tenant(self, slug: str) -> Tenant:
        tenant = Tenant.objects.filter(slug=slug, pk__in=self.access.tenant_ids).first()
        if tenant is None:
            raise Http404
        return tenant

    def tenant_ids(self) -> frozenset[int]:
        tenant = getattr(self, "tenant", None)
        return frozenset({tenant.pk}) if tenant is not None else frozenset()


class ScopedRelatedField(serializers.PrimaryKeyRelatedField[models.Model]):
    """A foreign key in a request body: it must name an object of the caller's tenants (and of
    the serializer's target tenant, when there is one); anything else reads as 'does not
    exist', exactly like a missing id."""

    default_error_messages = {
        "does_not_exist": "No such object: '{pk_value}'.",
        "incorrect_type": "Expected an id, got {data_type}.",
    }

    def __init__(self, model: type[models.Model], **kwargs: Any) -> None:
        self.scoped_model = model
        kwargs.setdefault("queryset", model._default_manager.none())
        super().__init__(**kwargs)

    def get_queryset(self) -> models.QuerySet[Any]:
        view = self.context.get("view")
        target = self.context.get("tenant")
        tenant_ids: frozenset[int] = getattr(
            getattr(view, "access", None), "tenant_ids", frozenset()
        )
        if target is not None:
            tenant_ids = tenant_ids & {target.pk}
        queryset: models.QuerySet[Any] = scoped_manager(self.scoped_model).for_tenants(tenant_ids)
        return queryset

    def to_internal_value(self, data: Any) -> models.Model:
        try:
            return super().to_internal_value(data)
        except (ValueError, TypeError):
            self.fail("does_not_exist", pk_value=data)


class ScopedGenericAPIView(ScopedAPIView, generics.GenericAPIView[Any]):
    """For views that are not about one model's rows (auth, health of the caller, ...)."""


class CallerScopedViewSet(ScopedAPIView, viewsets.GenericViewSet[Any]):
    """A viewset over rows that are not tenant-owned (the tenant registry, the caller's own
    tokens, MSSP staff): `rows_for(access)` names what the caller may see. Tenant-owned models
    are refused here: they belong on TenantScopedViewSet."""

    scoped_model: ClassVar[type[models.Model]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model = cls.__dict__.get("scoped_model")
        if model is not None and any(f.name == "tenant" for f in model._meta.get_fields()):
            raise TypeError(
                f"{cls.__qualname__}: {model.__name__} is tenant-owned; use TenantScopedViewSet."
            )

    def rows_for(self, access: Access) -> models.QuerySet[Any]:
        raise NotImplementedError

    def get_queryset(self) -> models.QuerySet[Any]:
        if not self.access.is_authenticated:
            return self.scoped_model._default_manager.none()
        return self.rows_for(self.access)

    def get_object(self) -> models.Model:
        return object_or_404(self)  # same uniform 404 as TenantScopedViewSet
