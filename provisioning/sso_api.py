"""The administration API of a tenant's single sign-on (the settings page's actions):

- /api/v1/tenants/{slug}/sso/ — the tenant's OpenID Connect provider or SAML 2.0 identity
  provider: read (GET), set all of it (PUT), change part of it (PATCH), remove (DELETE). The
  client secret is write-only; the answer shows its last characters (`client_secret_hint`).
  SAML's metadata is given by `metadata_url` or `metadata_xml` (write-only); the answer names
  the portal's side to register (`sp_entity_id`, `acs_url`).
- /api/v1/tenants/{slug}/sso-domains/ — the e-mail domains it claims: list, claim, read,
  remove; `{id}/check/` (POST) looks its TXT record up in DNS and verifies it when it holds
  the claim's token; `{id}/verify/` (POST) for MSSP admins, who may verify without DNS.

Its customer admins and MSSP admins only (everyone else 403, another tenant 404), with a
token only if it has the `admin` scope, reading included.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api.actions import api_perform
from tenants.api.base import TenantNestedViewSet

from . import dns_verify, policy
from .actions import (
    SSO_DOMAIN_CHECK,
    SSO_DOMAIN_CLAIM,
    SSO_DOMAIN_REMOVE,
    SSO_DOMAIN_VERIFY,
    SSO_REFUSED,
    SSO_REMOVE,
    SSO_SAVE,
    SSO_UPDATE,
    DomainInput,
    IdentityProviderInput,
)
from .models import IdentityProvider, SsoDomain


class IdentityProviderSerializer(serializers.ModelSerializer[IdentityProvider]):
    client_secret_hint = serializers.CharField(source="secret_hint", read_only=True)
    # Empty when not given: plain strings, not the model's URLField ("" is no "uri").
    discovery_url = serializers.CharField(read_only=True)
    metadata_url = serializers.CharField(read_only=True)
    redirect_uri = serializers.SerializerMethodField(
        help_text="OpenID Connect: the redirect URI to register at the provider."
    )
    sp_entity_id = serializers.SerializerMethodField(
        help_text="SAML: the portal's entity id (audience) for this tenant, to register at the "
        "identity provider; its metadata is published at this address."
    )
    acs_url = serializers.SerializerMethodField(
        help_text="SAML: the assertion consumer service (HTTP-POST binding) to register."
    )

    class Meta:
        model = IdentityProvider
        fields = [
            "id",
            "kind",
            "enabled",
            "issuer",
            "discovery_url",
            "client_id",
            "client_secret_hint",
            "metadata_url",
            "metadata_read_at",
            "scopes",
            "username_claim",
            "email_claim",
            "groups_claim",
            "sso_only",
            "default_role",
            "redirect_uri",
            "sp_entity_id",
            "acs_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_redirect_uri(self, config: IdentityProvider) -> str:
        from .sso_views import callback_url

        request = self.context.get("request")
        if request is None or config.kind != IdentityProvider.Kind.OIDC:
            return ""
        return callback_url(request, config)

    def _sp(self, config: IdentityProvider, name: str) -> str:
        from .saml import sp_urls

        request = self.context.get("request")
        if request is None or config.kind != IdentityProvider.Kind.SAML:
            return ""
        return sp_urls(request, config)[name]

    def get_sp_entity_id(self, config: IdentityProvider) -> str:
        return self._sp(config, "entity_id")

    def get_acs_url(self, config: IdentityProvider) -> str:
        return self._sp(config, "acs_url")


class SsoDomainSerializer(serializers.ModelSerializer[SsoDomain]):
    verified = serializers.BooleanField(read_only=True)
    verified_by = serializers.CharField(
        source="verified_by.username", default=None, read_only=True, allow_null=True
    )
    verified_method = serializers.CharField(
        read_only=True, help_text="dns (its TXT record), manual (an MSSP admin), or empty: pending"
    )
    verification_record = serializers.SerializerMethodField(
        help_text="The TXT record's name to publish in the domain's DNS."
    )
    verification_value = serializers.SerializerMethodField(
        help_text="The TXT record's value that proves the claim."
    )

    class Meta:
        model = SsoDomain
        fields = [
            "id",
            "domain",
            "verified",
            "verified_at",
            "verified_by",
            "verified_method",
            "verification_record",
            "verification_value",
            "dns_checked_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_verification_record(self, claim: SsoDomain) -> str:
        return dns_verify.record_name(claim.domain)

    def get_verification_value(self, claim: SsoDomain) -> str:
        return dns_verify.record_value(claim.verification_token)


class SsoViewSet(TenantNestedViewSet):
    required_scope = "admin"
    cursor_ordering = "-created_at"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not policy.manages_sso(self.access, self.tenant):
            raise PermissionDenied(SSO_REFUSED)


class IdentityProviderViewSet(SsoViewSet):
    """The tenant's single sign-on provider: one per tenant, at the collection's own URL."""

    scoped_model = IdentityProvider
    serializer_class = IdentityProviderSerializer
    http_method_names = ["get", "put", "patch", "delete", "head", "options"]

    def current(self) -> IdentityProvider:
        config: IdentityProvider | None = IdentityProvider.objects.for_tenant(self.tenant).first()
        if config is None:
            raise Http404
        return config

    def answer(self, config: IdentityProvider, code: int = status.HTTP_200_OK) -> Response:
        return Response(
            IdentityProviderSerializer(config, context={"request": self.request}).data, status=code
        )

    @extend_schema(responses={200: IdentityProviderSerializer})
    def retrieve(self, request: Request, tenant_slug: str | None = None) -> Response:
        return self.answer(self.current())

    @extend_schema(
        request=IdentityProviderInput,
        responses={200: IdentityProviderSerializer, 201: IdentityProviderSerializer},
    )
    def update(self, request: Request, tenant_slug: str | None = None) -> Response:
        existed = IdentityProvider.objects.for_tenant(self.tenant).exists()
        config = api_perform(self, SSO_SAVE, self.tenant)
        return self.answer(config, status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    @extend_schema(request=IdentityProviderInput, responses={200: IdentityProviderSerializer})
    def partial_update(self, request: Request, tenant_slug: str | None = None) -> Response:
        return self.answer(api_perform(self, SSO_UPDATE, self.current()))

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, tenant_slug: str | None = None) -> Response:
        api_perform(self, SSO_REMOVE, self.current(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)


class SsoDomainViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, SsoViewSet):
    """The e-mail domains the tenant claims for single sign-on."""

    scoped_model = SsoDomain
    serializer_class = SsoDomainSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    def scope_queryset(self, queryset: Any) -> Any:
        return queryset.select_related("verified_by")

    @extend_schema(request=DomainInput, responses={201: SsoDomainSerializer})
    def create(self, request: Request, tenant_slug: str | None = None) -> Response:
        claim = api_perform(self, SSO_DOMAIN_CLAIM, self.tenant)
        return Response(SsoDomainSerializer(claim).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        api_perform(self, SSO_DOMAIN_REMOVE, self.get_object(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: SsoDomainSerializer})
    @action(detail=True, methods=["post"])
    def check(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        """Look the claim's TXT record up in DNS now; verified when it holds the token."""
        claim = api_perform(self, SSO_DOMAIN_CHECK, self.get_object(), data={})
        return Response(SsoDomainSerializer(claim).data)

    @extend_schema(request=None, responses={200: SsoDomainSerializer})
    @action(detail=True, methods=["post"])
    def verify(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        claim = api_perform(self, SSO_DOMAIN_VERIFY, self.get_object(), data={})
        return Response(SsoDomainSerializer(claim).data)
