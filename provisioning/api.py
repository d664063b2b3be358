"""The administration API of a tenant's SCIM provisioning (the settings page's actions):

- /api/v1/tenants/{slug}/scim-tokens/ — list, mint (the token is in the answer once, as
  `token`), read, revoke (DELETE);
- /api/v1/tenants/{slug}/scim-group-roles/ — the identity provider's groups and the role
  each gives: list, add, read, remove.

Its customer admins and MSSP admins only (everyone else 403, another tenant 404), with a
token only if it has the `admin` scope, reading included: these are credentials and access.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api.actions import api_perform
from tenants.api.base import TenantNestedViewSet

from . import policy
from .actions import (
    REFUSED,
    SCIM_MAPPING_ADD,
    SCIM_MAPPING_REMOVE,
    SCIM_TOKEN_MINT,
    SCIM_TOKEN_REVOKE,
    MintedToken,
)
from .models import GroupRoleMapping, ScimToken


class ScimTokenSerializer(serializers.ModelSerializer[ScimToken]):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = ScimToken
        fields = ["id", "name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class ScimTokenCreatedSerializer(ScimTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown this once.")

    class Meta(ScimTokenSerializer.Meta):
        fields = [*ScimTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class ScimTokenInputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)


class GroupRoleSerializer(serializers.ModelSerializer[GroupRoleMapping]):
    class Meta:
        model = GroupRoleMapping
        fields = ["id", "group_name", "role", "created_at"]
        read_only_fields = ["id", "created_at"]


class ProvisioningViewSet(TenantNestedViewSet):
    required_scope = "admin"
    cursor_ordering = "-created_at"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not policy.manages_provisioning(self.access, self.tenant):
            raise PermissionDenied(REFUSED)


class ScimTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ProvisioningViewSet):
    """The tenant's SCIM tokens (never the token itself after it was minted)."""

    scoped_model = ScimToken
    serializer_class = ScimTokenSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    def scope_queryset(self, queryset: Any) -> Any:
        return queryset.select_related("created_by")

    @extend_schema(request=ScimTokenInputSerializer, responses={201: ScimTokenCreatedSerializer})
    def create(self, request: Request, tenant_slug: str | None = None) -> Response:
        minted: MintedToken = api_perform(self, SCIM_TOKEN_MINT, self.tenant)
        body = dict(ScimTokenSerializer(minted.token).data)
        body["token"] = minted.raw
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        api_perform(self, SCIM_TOKEN_REVOKE, self.get_object(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupRoleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ProvisioningViewSet):
    """Which role the members of an identity provider's group get in the tenant."""

    scoped_model = GroupRoleMapping
    serializer_class = GroupRoleSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    @extend_schema(request=GroupRoleSerializer, responses={201: GroupRoleSerializer})
    def create(self, request: Request, tenant_slug: str | None = None) -> Response:
        mapping = api_perform(self, SCIM_MAPPING_ADD, self.tenant)
        return Response(GroupRoleSerializer(mapping).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        api_perform(self, SCIM_MAPPING_REMOVE, self.get_object(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)
