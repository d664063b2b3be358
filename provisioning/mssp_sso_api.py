"""The administration API of the MSSP's own single sign-on (its staff's identity provider; the
staff settings page /staff/sso/ runs the same actions, provisioning.actions):

- /api/v1/mssp/sso/ — the MSSP's OpenID Connect provider or SAML 2.0 identity provider: read
  (GET), set all of it (PUT), change part of it (PATCH), remove (DELETE). The options are a
  tenant's (sso_api), plus `staff_second_factor` (portal | idp: what counts as a staff
  login's second factor).
- /api/v1/mssp/sso-domains/ — the MSSP's e-mail domains, routed to it at /login/sso/: list,
  claim, read, remove; `{id}/check/` (POST) verifies one by its DNS TXT record.
- /api/v1/mssp/sso-group-roles/ — which of the provider's groups gives which staff role:
  list, add, read, remove.

MSSP admins only (everyone else 403: customers, their tokens, every other staff role), with a
token only if it has the `admin` scope, reading included: this decides who becomes MSSP staff.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.access import Access
from tenants.api.actions import api_perform
from tenants.api.base import CallerScopedViewSet, TenantScopedViewSet

from . import policy, sso
from .actions import (
    MSSP_DOMAIN_CHECK,
    MSSP_DOMAIN_CLAIM,
    MSSP_DOMAIN_REMOVE,
    MSSP_GROUP_ROLE_ADD,
    MSSP_GROUP_ROLE_REMOVE,
    MSSP_SSO_REFUSED,
    MSSP_SSO_REMOVE,
    MSSP_SSO_SAVE,
    MSSP_SSO_UPDATE,
    DomainInput,
    MsspIdentityProviderInput,
    StaffMappingInput,
)
from .models import IdentityProvider, SsoDomain, StaffGroupRoleMapping
from .sso_api import IdentityProviderSerializer, SsoDomainSerializer


class MsspIdentityProviderSerializer(IdentityProviderSerializer):
    class Meta(IdentityProviderSerializer.Meta):
        fields = [
            name for name in IdentityProviderSerializer.Meta.fields if name != "default_role"
        ] + ["staff_second_factor"]
        read_only_fields = fields


class StaffGroupRoleSerializer(serializers.ModelSerializer[StaffGroupRoleMapping]):
    class Meta:
        model = StaffGroupRoleMapping
        fields = ["id", "group_name", "role", "created_at"]
        read_only_fields = fields


class MsspAdminOnly:
    """The MSSP's own single sign-on: MSSP admins, and nobody else, before anything else."""

    access: Access

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        if not policy.manages_mssp_sso(self.access):
            raise PermissionDenied(MSSP_SSO_REFUSED)


class MsspIdentityProviderViewSet(MsspAdminOnly, TenantScopedViewSet):
    """The MSSP's provider: one, at the collection's own URL. Its row has no tenant."""

    scoped_model = IdentityProvider
    serializer_class = MsspIdentityProviderSerializer
    required_scope = "admin"
    http_method_names = ["get", "put", "patch", "delete", "head", "options"]

    def current(self) -> IdentityProvider:
        config = sso.mssp_config()
        if config is None:
            raise Http404
        return config

    def answer(self, config: IdentityProvider, code: int = status.HTTP_200_OK) -> Response:
        return Response(
            MsspIdentityProviderSerializer(config, context={"request": self.request}).data,
            status=code,
        )

    @extend_schema(responses={200: MsspIdentityProviderSerializer})
    def retrieve(self, request: Request) -> Response:
        return self.answer(self.current())

    @extend_schema(
        request=MsspIdentityProviderInput,
        responses={200: MsspIdentityProviderSerializer, 201: MsspIdentityProviderSerializer},
    )
    def update(self, request: Request) -> Response:
        existing = sso.mssp_config()
        config = api_perform(self, MSSP_SSO_SAVE, existing or IdentityProvider(tenant=None))
        return self.answer(config, status.HTTP_200_OK if existing else status.HTTP_201_CREATED)

    @extend_schema(
        request=MsspIdentityProviderInput, responses={200: MsspIdentityProviderSerializer}
    )
    def partial_update(self, request: Request) -> Response:
        return self.answer(api_perform(self, MSSP_SSO_UPDATE, self.current()))

    @extend_schema(responses={204: None})
    def destroy(self, request: Request) -> Response:
        api_perform(self, MSSP_SSO_REMOVE, self.current(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)


class MsspSsoDomainViewSet(
    MsspAdminOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet
):
    """The MSSP's e-mail domains: the rows of no tenant, never a tenant's claim."""

    scoped_model = SsoDomain
    serializer_class = SsoDomainSerializer
    required_scope = "admin"
    cursor_ordering = "-created_at"
    include_mssp_rows = True
    http_method_names = ["get", "post", "delete", "head", "options"]

    def tenant_ids(self) -> frozenset[int]:
        return frozenset()  # no tenant's rows: only the MSSP's own (include_mssp_rows)

    def scope_queryset(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        return queryset.filter(tenant__isnull=True).select_related("verified_by")

    @extend_schema(request=DomainInput, responses={201: SsoDomainSerializer})
    def create(self, request: Request) -> Response:
        claim = api_perform(self, MSSP_DOMAIN_CLAIM, None)
        return Response(SsoDomainSerializer(claim).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        api_perform(self, MSSP_DOMAIN_REMOVE, self.get_object(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: SsoDomainSerializer})
    @action(detail=True, methods=["post"])
    def check(self, request: Request, pk: str | None = None) -> Response:
        """Look the domain's TXT record up in DNS now; verified when it holds the token."""
        claim = api_perform(self, MSSP_DOMAIN_CHECK, self.get_object(), data={})
        return Response(SsoDomainSerializer(claim).data)


class MsspGroupRoleViewSet(
    MsspAdminOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, CallerScopedViewSet
):
    """The groups of the MSSP's provider and the staff role each gives."""

    scoped_model = StaffGroupRoleMapping
    serializer_class = StaffGroupRoleSerializer
    required_scope = "admin"
    cursor_ordering = "group_name"
    http_method_names = ["get", "post", "delete", "head", "options"]

    def rows_for(self, access: Access) -> models.QuerySet[Any]:
        if not policy.manages_mssp_sso(access):
            return StaffGroupRoleMapping.objects.none()
        return StaffGroupRoleMapping.objects.all()

    @extend_schema(request=StaffMappingInput, responses={201: StaffGroupRoleSerializer})
    def create(self, request: Request) -> Response:
        mapping = api_perform(self, MSSP_GROUP_ROLE_ADD, None)
        return Response(StaffGroupRoleSerializer(mapping).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        api_perform(self, MSSP_GROUP_ROLE_REMOVE, self.get_object(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)
