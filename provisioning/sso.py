"""Single sign-on: a tenant's users sign in through the tenant's own OpenID Connect provider
(django-allauth's socialaccount and its `openid_connect` provider; this module is its glue) or
its SAML 2.0 identity provider (provisioning.saml, which ends in this module's adapter too:
everything below about members, roles, SSO only and refusals holds for both).

- Each tenant's IdentityProvider is an allauth app built here (never stored as allauth's
  SocialApp, so the client secret stays sealed): its provider id is `sso-<config id>`, and a
  login's `sub` is stored under it, so a subject is always one tenant's.
- Every HTTP call to the provider (discovery, keys, the code exchange) goes through the SSRF
  guard of customer-given URLs (tenants.webhooks).
- The ID token is verified on every login, signature included (allauth skips the signature
  when the token came straight from the token endpoint; a provider's keys are cheap to check),
  against the configured issuer, the client id as audience, its expiry, and the nonce this
  login sent.
- A login reaches only its tenant: a new subject becomes a member of that tenant
  (`<slug>/<name>`, like members an admin adds), never MSSP staff and never another tenant's
  account; its role follows the groups claim (provisioning.roles) on every login.
- SSO only: a right password of such a tenant's user is refused with the reason, on /login/
  and on POST /api/v1/auth/token/ (SsoOnlyPasswordBackend). There is no break-glass password
  for tenant admins; an MSSP admin lifts SSO only when the provider is broken.
- A single-sign-on login is the password factor only: a second factor the account has or its
  tenant requires is asked afterwards by the portal's usual flow (tenants.mfa).
- Step-up of an account without a second factor that signed in here (tenants.mfa): the member
  signs in again at the same provider (/login/sso/reauthenticate/, `start_reauthentication`),
  which is told to ask for the login again (OIDC `prompt=login`, `max_age=0`; SAML
  `ForceAuthn`). The answer must be for the same subject of the same tenant and say that the
  login happened after the re-authentication was started (the ID token's `auth_time`, the
  assertion's AuthnInstant): a provider that reused its session, or another person's login, is
  refused and the session stays as it was. Nothing else of a login happens (no role change, no
  new session); the session gains an IdP authentication record and the member is sent back
  where they were (allauth's suspended request is replayed, as after its own reauthentication).
Every refusal is a page that says why and an `auth.sso_refused` entry in the tenant's audit log.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from typing import Any

import jwt
import requests
from allauth.account.internal.flows.login import record_authentication
from allauth.account.internal.flows.reauthentication import STATE_SESSION_KEY
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.core.internal import httpkit
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialLogin
from allauth.socialaccount.providers.base.constants import AuthError, AuthProcess
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from allauth.utils import build_absolute_uri
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import resolve, reverse
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from tenants import audit, sealed, webhooks
from tenants.models import Membership, Tenant, User, member_username
from tenants.rls import rls_bypass, tenant_scope
from tenants.services import sync_responder_permission

from . import roles
from .models import IdentityProvider, SsoDomain
from .services import USER_NAME

logger = logging.getLogger("mssp.sso")

PROVIDER_PREFIX = "sso-"
SECRET = "client_secret"  # noqa: S105 (the name of the client secret in IdentityProvider.sealed_secrets)
MAX_DOCUMENT = 1024 * 1024  # bytes read of a provider's answer (discovery, keys, tokens)

NO_SSO = "There is no single sign-on for this address. Sign in with your username and password."
UNREADABLE = (
    "Your organisation's single sign-on cannot be used: its client secret cannot be read with "
    "this portal's keys. Ask your admin to enter it again."
)
REAUTH = "sso_reauthenticate"  # the key of a re-authentication's data in allauth's login state
STALE = (
    "Your identity provider did not ask you to sign in again (it reused an earlier sign-in), so "
    "this does not confirm it is you. Sign out at your identity provider, then try again."
)
OTHER_SUBJECT = (
    "Your identity provider signed in another account than yours. You are still signed in as "
    "before; sign in at your provider as yourself to confirm it is you."
)
SSO_ONLY = (
    "Your organisation signs in with single sign-on only: use “Sign in with single sign-on” on "
    "the login page (/login/sso/) with your work e-mail address."
)


# --- configuration -----------------------------------------------------------------------------
def client_secret(config: IdentityProvider) -> str:
    return sealed.unseal(config.sealed_secrets).get(SECRET, "")


def config_by_provider_id(provider_id: str) -> IdentityProvider | None:
    """The configuration an allauth provider id names (any tenant's: a sign-in has no tenant
    context until this answers)."""
    if not provider_id.startswith(PROVIDER_PREFIX):
        return None
    try:
        pk = uuid.UUID(provider_id[len(PROVIDER_PREFIX) :])
    except ValueError:
        return None
    with rls_bypass("sso: the identity provider a sign-in names"):
        config: IdentityProvider | None = (
            IdentityProvider.objects.dangerously_unscoped("the provider a sign-in names")
            .select_related("tenant")
            .filter(pk=pk)
            .first()
        )
    return config


def social_app(config: IdentityProvider) -> SocialApp:
    """The tenant's provider as an allauth app (unsaved; the secret unsealed for this request)."""
    return SocialApp(
        provider=OpenIDConnectProvider.id,
        provider_id=config.provider_id,
        name=config.tenant.name,
        client_id=config.client_id,
        secret=client_secret(config),
        settings={
            "server_url": config.discovery,
            "issuer": config.issuer,
            "fetch_userinfo": False,  # the claims are the ID token's, which is verified
            "oauth_pkce_enabled": True,
            "scope": config.scopes.split(),
        },
    )


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().rstrip(".").lower()


def route_for_email(email: str) -> tuple[SsoDomain | None, IdentityProvider | None]:
    """The claim on the address's domain (verified or not) and its tenant's provider."""
    domain = email_domain(email)
    if not domain:
        return None, None
    with rls_bypass("sso: the tenant of an e-mail domain at sign-in"):
        claim: SsoDomain | None = (
            SsoDomain.objects.dangerously_unscoped("the tenant of an e-mail domain")
            .select_related("tenant")
            .filter(domain=domain)
            .first()
        )
        config: IdentityProvider | None = None
        if claim is not None:
            config = (
                IdentityProvider.objects.dangerously_unscoped("the provider of a domain's tenant")
                .select_related("tenant")
                .filter(tenant_id=claim.tenant_id)
                .first()
            )
    return claim, config


def sso_only_config(user: User) -> IdentityProvider | None:
    """The provider of the user's tenant when it signs in by single sign-on only."""
    if user.is_mssp_staff or user.is_staff or user.is_superuser:
        return None
    with rls_bypass("sso: whether a signing-in user's tenant is SSO only"):
        config: IdentityProvider | None = (
            IdentityProvider.objects.dangerously_unscoped("whether a tenant is SSO only")
            .select_related("tenant")
            .filter(tenant__memberships__user_id=user.pk, sso_only=True, enabled=True)
            .first()
        )
    return config


# --- refusals ----------------------------------------------------------------------------------
def refuse(
    request: HttpRequest,
    tenant: Tenant | None,
    reason: str,
    message: str,
    *,
    status: int = 403,
    **data: Any,
) -> HttpResponse:
    """The refusal page, and its audit entry in the tenant concerned (none when no tenant is)."""
    record_refusal(request, tenant, reason, message, **data)
    return render(
        request,
        "provisioning/sso_refused.html",
        {"message": message, "organisation": tenant.name if tenant else ""},
        status=status,
    )


def record_refusal(
    request: HttpRequest | None, tenant: Tenant | None, reason: str, message: str, **data: Any
) -> None:
    if tenant is None:
        logger.info("single sign-on refused (%s): %s", reason, message)
        return
    with tenant_scope([tenant.pk]):
        audit.record(
            "auth.sso_refused",
            tenant=tenant,
            request=request,
            summary=f"single sign-on refused: {message}",
            data={"reason": reason, **data},
        )


class SsoRefused(Exception):
    def __init__(self, reason: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.reason, self.message, self.data = reason, message, data


class NonceMismatch(OAuth2Error):  # type: ignore[misc]  # allauth.socialaccount is untyped
    pass


class IssuerMismatch(OAuth2Error):  # type: ignore[misc]  # allauth.socialaccount is untyped
    pass


def explain(error: str | None, exception: BaseException | None) -> tuple[str, str]:
    """A failed sign-in's reason (for the audit log) and the sentence the person reads."""
    cause = exception.__cause__ if exception is not None else None
    if isinstance(cause, jwt.InvalidIssuerError) or isinstance(exception, IssuerMismatch):
        return "wrong_issuer", (
            "The sign-in came from an identity provider your organisation does not use."
        )
    if isinstance(cause, jwt.InvalidAudienceError):
        return "wrong_audience", "The identity provider's token was issued for another application."
    if isinstance(cause, jwt.ExpiredSignatureError):
        return "expired", "The identity provider's token has expired. Sign in again."
    if isinstance(cause, jwt.InvalidSignatureError):
        return "bad_signature", "The identity provider's token is not validly signed."
    if isinstance(cause, jwt.PyJWTError):
        return "invalid_token", "The identity provider's token is not valid."
    if isinstance(exception, NonceMismatch):
        return "nonce_mismatch", "The identity provider's answer belongs to another sign-in."
    if isinstance(exception, OAuth2Error) and "already used" in str(exception):
        return "replayed", "That sign-in was used already. Sign in again."
    if isinstance(exception, OAuth2Error):
        return "code_refused", (
            "The identity provider did not accept the sign-in (it may have been used already). "
            "Sign in again."
        )
    if isinstance(exception, requests.RequestException):
        return "provider_unreachable", "Your organisation's identity provider could not be reached."
    if error == AuthError.CANCELLED:
        return "cancelled", "The sign-in was cancelled at the identity provider."
    if exception is None:
        return "state", (
            "This sign-in has expired or was used already. Start again from the login page."
        )
    return "failed", "The sign-in with your identity provider failed."


# --- HTTP to the provider, through the SSRF guard ----------------------------------------------
class GuardedAdapter(BaseAdapter):
    """requests' transport over tenants.webhooks: only permitted addresses, connected to the
    address that was checked, no redirects, bounded time and size."""

    def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in ("host", "accept-encoding", "connection")
        }
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        try:
            reply = webhooks.send(
                request.method, request.url, body, headers, read_body=MAX_DOCUMENT
            )
        except webhooks.DestinationRefused as exc:
            raise requests.exceptions.InvalidURL(f"refused: {exc}") from None
        except webhooks.DeliveryFailed as exc:
            raise requests.exceptions.ConnectionError(str(exc)) from None
        response = requests.Response()
        response.status_code = reply.status
        response.headers = CaseInsensitiveDict(reply.headers)
        response._content = reply.body
        response.encoding = "utf-8"
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        return None


def guarded_session() -> requests.Session:
    session = requests.Session()
    session.mount("http://", GuardedAdapter())
    session.mount("https://", GuardedAdapter())
    return session


# --- allauth: the provider, its OAuth2 adapter, the callback -----------------------------------
class TenantOIDCAdapter(OpenIDConnectOAuth2Adapter):  # type: ignore[misc]  # allauth.socialaccount is untyped
    state: dict[str, Any]

    @property
    def openid_config(self) -> dict[str, Any]:
        if not hasattr(self, "_openid_config"):
            provider = self.get_provider()
            with guarded_session() as session:
                response = session.get(provider.app.settings["server_url"])
                response.raise_for_status()
                document = response.json()
            if not isinstance(document, dict):
                raise OAuth2Error("The discovery document is not a JSON object.")
            if document.get("issuer") != provider.app.settings["issuer"]:
                raise IssuerMismatch("The discovery document names another issuer.")
            self._openid_config = document
        config: dict[str, Any] = self._openid_config
        return config

    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict[str, Any]:
        data: dict[str, Any] = jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=app.settings["issuer"],
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
            verify_signature=True,
        )
        expected = getattr(self, "state", {}).get("nonce")
        if not expected or not secrets.compare_digest(str(data.get("nonce", "")), expected):
            raise NonceMismatch("The ID token's nonce is not this sign-in's.")
        return data

    def get_callback_url(self, request: HttpRequest, app: SocialApp) -> str:
        url = reverse("sso-oidc-callback", kwargs={"provider_id": self.provider_id})
        return str(build_absolute_uri(request, url, self.redirect_uri_protocol))


class TenantOIDCProvider(OpenIDConnectProvider):  # type: ignore[misc]  # allauth.socialaccount is untyped
    oauth2_adapter_class = TenantOIDCAdapter

    @property
    def server_url(self) -> str:
        return str(self.app.settings["server_url"])

    def get_callback_url(self) -> str:
        return reverse("sso-oidc-callback", kwargs={"provider_id": self.app.provider_id})

    def serialize(self) -> dict[str, Any]:
        """Named by its tenant's provider id, not allauth's "openid_connect": a login held for
        its second factor is stored and read back by it (Provider.deserialize)."""
        return {"id": self.app.provider_id, "app.client_id": self.app.client_id}

    def redirect(
        self,
        request: HttpRequest,
        process: Any,
        next_url: str | None = None,
        data: Any = None,
        **kwargs: Any,
    ) -> HttpResponse:
        """The authorization request, with a nonce that the ID token must carry back."""
        nonce = secrets.token_urlsafe(24)
        auth_params = dict(kwargs.pop("auth_params", None) or self.get_auth_params())
        auth_params["nonce"] = nonce
        response: HttpResponse = super().redirect(
            request, process, next_url, data, auth_params=auth_params, nonce=nonce, **kwargs
        )
        return response


class CallbackView(OAuth2CallbackView):  # type: ignore[misc]  # allauth.socialaccount is untyped
    """allauth's callback; the adapter also sees the state (its nonce)."""

    def _get_state(self, request: HttpRequest, provider: Any) -> Any:
        state, response = super()._get_state(request, provider)
        if state is not None:
            self.adapter.state = state
        return state, response


# --- allauth: the social-account adapter -------------------------------------------------------
class SocialAccountAdapter(DefaultSocialAccountAdapter):  # type: ignore[misc]  # allauth.socialaccount is untyped
    def list_apps(
        self, request: HttpRequest | None, provider: Any = None, client_id: Any = None
    ) -> list[SocialApp]:
        """Only tenants' providers, one at a time, by its provider id; none when switched off."""
        config = config_by_provider_id(provider) if isinstance(provider, str) else None
        if config is None or not config.enabled:
            return []
        if config.kind == IdentityProvider.Kind.SAML:
            from .saml import saml_app

            app = saml_app(config)
        else:
            app = social_app(config)
        if client_id and client_id != app.client_id:
            return []
        return [app]

    def get_provider(
        self, request: HttpRequest | None, provider: Any, client_id: Any = None
    ) -> Any:
        if isinstance(provider, str) and provider.startswith(PROVIDER_PREFIX):
            app = self.get_app(request, provider=provider, client_id=client_id)
            if app.provider == "saml":
                from .saml import TenantSAMLProvider

                config = config_by_provider_id(provider)
                return TenantSAMLProvider(request, app, config)
            return TenantOIDCProvider(request, app=app)
        return super().get_provider(request, provider, client_id)

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return False  # members are made by pre_social_login, in the provider's tenant only

    def can_authenticate_by_email(self, login: SocialLogin, email: str) -> bool:
        return False  # an e-mail claim never opens an account

    def get_requests_session(self) -> requests.Session:
        return guarded_session()

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        app = getattr(provider, "app", None)
        config = config_by_provider_id(app.provider_id) if app is not None else None
        reason, message = explain(error, exception)
        raise ImmediateHttpResponse(
            refuse(request, config.tenant if config else None, reason, message)
        )

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        config = config_by_provider_id(sociallogin.account.provider)
        if config is None:
            raise ImmediateHttpResponse(
                refuse(request, None, "unknown_provider", "This identity provider is not known.")
            )
        tenant = config.tenant
        if config.kind == IdentityProvider.Kind.SAML:
            from .saml import saml_claims

            claims = saml_claims(config, sociallogin.account.extra_data)
        else:
            claims = dict(sociallogin.account.extra_data.get("id_token") or {})
        subject = str(sociallogin.account.uid)
        reauth = (sociallogin.state.get("data") or {}).get(REAUTH)
        try:
            if not config.enabled:
                raise SsoRefused(
                    "sso_disabled", "Single sign-on is turned off for your organisation."
                )
            if isinstance(reauth, dict):
                raise ImmediateHttpResponse(
                    _reauthenticated(request, config, sociallogin, claims, reauth)
                )
            with tenant_scope([tenant.pk]), transaction.atomic():
                membership, created = _member_for(request, config, sociallogin, claims)
                role = _apply_role(request, config, membership, claims, created)
                # The password factor (tenants.mfa): the session records the sign-in as one,
                # so that an account without a second factor enrols one and steps up as it
                # would after a password; one with a second factor still gives its code.
                record_authentication(
                    request, membership.user, "password", via="sso", provider=config.provider_id
                )
                audit.record(
                    "auth.sso_login",
                    actor=membership.user,
                    tenant=tenant,
                    obj=membership.user,
                    request=request,
                    summary=f"{membership.user.username} signed in with single sign-on",
                    data={"subject": subject, "new_member": created, "role": role},
                )
        except SsoRefused as refusal:
            raise ImmediateHttpResponse(
                refuse(
                    request,
                    tenant,
                    refusal.reason,
                    refusal.message,
                    subject=subject,
                    **refusal.data,
                )
            ) from None


# --- re-authentication (step-up) at the provider ------------------------------------------------
def reauthentication_config(user: User) -> IdentityProvider | None:
    """The enabled provider of the user's tenant that the user has signed in through (its
    subject is linked to the account), if any: where the user re-authenticates."""
    if user.is_mssp_staff or user.is_staff or user.is_superuser:
        return None
    providers = SocialAccount.objects.filter(
        user_id=user.pk, provider__startswith=PROVIDER_PREFIX
    ).values_list("provider", flat=True)
    ids = []
    for provider in providers:
        try:
            ids.append(uuid.UUID(provider[len(PROVIDER_PREFIX) :]))
        except ValueError:
            continue
    if not ids:
        return None
    with rls_bypass("sso: the provider a signed-in member re-authenticates at"):
        config: IdentityProvider | None = (
            IdentityProvider.objects.dangerously_unscoped("the provider of a member's tenant")
            .select_related("tenant")
            .filter(pk__in=ids, tenant__memberships__user_id=user.pk, enabled=True)
            .first()
        )
    return config


def start_reauthentication(
    request: HttpRequest, config: IdentityProvider, next_url: str
) -> HttpResponse:
    """Send the signed-in member to the provider, which must ask for the login again; its
    answer comes back to the usual callback (or ACS) and is checked by _reauthenticated."""
    data = {
        REAUTH: {
            "user": request.user.pk,
            "tenant": str(config.tenant_id),
            "started": int(time.time()),
            "next": next_url,
        }
    }
    if config.kind == IdentityProvider.Kind.SAML:
        from .saml import TenantSAMLProvider, saml_app

        response: HttpResponse = TenantSAMLProvider(request, saml_app(config), config).redirect(
            request, AuthProcess.REDIRECT, next_url or None, data, force_authn=True
        )
        return response
    provider = TenantOIDCProvider(request, app=social_app(config))
    params = {"prompt": "login", "max_age": "0"}
    email = getattr(request.user, "email", "")
    if email:
        params["login_hint"] = email
    response = provider.redirect(
        request, AuthProcess.REDIRECT, next_url or None, data, auth_params=params
    )
    return response


def _instant(config: IdentityProvider, sociallogin: SocialLogin, claims: dict[str, Any]) -> Any:
    """When the provider says the person signed in: the ID token's auth_time, the assertion's
    AuthnInstant (seconds since the epoch)."""
    if config.kind == IdentityProvider.Kind.SAML:
        return sociallogin.account.extra_data.get("authn_instant")
    return claims.get("auth_time")


def _reauthenticated(
    request: HttpRequest,
    config: IdentityProvider,
    sociallogin: SocialLogin,
    claims: dict[str, Any],
    reauth: dict[str, Any],
) -> HttpResponse:
    """The provider's answer to a re-authentication: the same account of the same tenant,
    signed in again after it was asked. Success records an authentication that step-up
    accepts (tenants.mfa.stepped_up) and resumes where the member was; anything else is a
    refusal that leaves the session as it was."""
    user = request.user
    subject = str(sociallogin.account.uid)
    if (
        not user.is_authenticated
        or user.pk != reauth.get("user")
        or str(config.tenant_id) != reauth.get("tenant")
    ):
        raise SsoRefused("reauth_session", "This confirmation belongs to another sign-in.")
    assert isinstance(user, User)  # noqa: S101 (AUTH_USER_MODEL)
    with tenant_scope([config.tenant_id]):
        member = Membership.objects.for_tenant(config.tenant).filter(user_id=user.pk).exists()
    if not member or user.is_mssp_staff or user.is_staff or user.is_superuser:
        raise SsoRefused("other_tenant", "This identity provider cannot sign in to that account.")
    if not sociallogin.is_existing or sociallogin.user.pk != user.pk:
        raise SsoRefused("reauth_other_subject", OTHER_SUBJECT)
    instant = _instant(config, sociallogin, claims)
    started = int(reauth.get("started") or 0)
    if not isinstance(instant, int | float) or isinstance(instant, bool) or instant < started:
        raise SsoRefused("reauth_stale", STALE, auth_time=instant, started=started)
    record_authentication(
        request, user, "password", via="sso", provider=config.provider_id, reauthenticated=True
    )
    with tenant_scope([config.tenant_id]):
        audit.record(
            "auth.sso_reauthenticated",
            actor=user,
            tenant=config.tenant,
            obj=user,
            request=request,
            summary=f"{user.username} confirmed their sign-in at the identity provider",
            data={"subject": subject},
        )
    return resume(request, str(reauth.get("next") or ""))


def resume(request: HttpRequest, next_url: str) -> HttpResponse:
    """Back where the member was: the POST that asked for the step-up (kept by allauth's
    middleware) is replayed when `next` is its page, as allauth's reauthentication does;
    otherwise a redirect to `next` (checked same-site when the re-authentication started)."""
    state = request.session.pop(STATE_SESSION_KEY, None)
    if isinstance(state, dict) and "request" in state and next_url:
        suspended = httpkit.deserialize_request(state["request"], request)
        if suspended.path == next_url:
            match = resolve(suspended.path)
            response: HttpResponse = match.func(suspended, *match.args, **match.kwargs)
            return response
    return HttpResponseRedirect(next_url or "/")


def _claim_text(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name) if name else None
    return value.strip() if isinstance(value, str) else ""


def _member_for(
    request: HttpRequest,
    config: IdentityProvider,
    sociallogin: SocialLogin,
    claims: dict[str, Any],
) -> tuple[Membership, bool]:
    """The login's member of the provider's tenant: the one its subject signed in as before,
    the tenant's member of the same name (first sign-in of a member made by an admin or SCIM),
    or a new one (just-in-time). Anything else is refused."""
    tenant = config.tenant
    if sociallogin.is_existing:
        user = sociallogin.user
        membership = Membership.objects.for_tenant(tenant).filter(user_id=user.pk).first()
        if membership is None or user.is_mssp_staff or user.is_staff or user.is_superuser:
            raise SsoRefused(
                "other_tenant", "This identity provider cannot sign in to that account."
            )
        if not user.is_active:
            raise SsoRefused("deactivated", "Your account is deactivated. Ask your admin.")
        return membership, False
    name = _claim_text(claims, config.username_claim) or _claim_text(claims, config.email_claim)
    if not name:
        raise SsoRefused(
            "no_username",
            f"Your identity provider sent no {config.username_claim} (or {config.email_claim}) "
            "to name you by.",
        )
    if not USER_NAME.match(name):
        raise SsoRefused(
            "bad_username",
            "Your identity provider's user name is not one the portal can use (letters, digits "
            "and @ . + - _, at most 100).",
        )
    login = member_username(tenant, name)
    existing = User.objects.filter(username__iexact=login).first()
    if existing is not None:
        membership = Membership.objects.for_tenant(tenant).filter(user_id=existing.pk).first()
        if membership is None or existing.is_mssp_staff or existing.is_staff:
            raise SsoRefused("name_taken", "That account cannot be signed in to this way.")
        if not existing.is_active:
            raise SsoRefused("deactivated", "Your account is deactivated. Ask your admin.")
        if SocialAccount.objects.filter(user=existing, provider=config.provider_id).exists():
            raise SsoRefused(
                "subject_changed",
                "Your account is linked to another identity at your provider. Ask your admin.",
            )
        sociallogin.user = existing
        sociallogin.save(request, connect=True)
        return membership, False
    user = User(
        username=login,
        email=_claim_text(claims, config.email_claim)[:254],
        first_name=_claim_text(claims, "given_name")[:150],
        last_name=_claim_text(claims, "family_name")[:150],
    )
    user.set_unusable_password()
    sociallogin.user = user
    # connect=True: no allauth e-mail address records (the account's e-mail is User.email; an
    # unverified record would keep it from enrolling a second factor).
    sociallogin.save(request, connect=True)
    mapped = roles.role_for_groups(tenant, _groups(config, claims))
    membership = Membership.objects.create(
        tenant=tenant, user=user, role=mapped or config.default_role
    )
    sync_responder_permission(membership)
    audit.record(
        "sso.member_created",
        tenant=tenant,
        obj=membership,
        request=request,
        summary=f"{login} joined by single sign-on as {membership.role}",
        data={"role": membership.role, "subject": str(sociallogin.account.uid)},
    )
    return membership, True


def _groups(config: IdentityProvider, claims: dict[str, Any]) -> list[str]:
    value = claims.get(config.groups_claim) if config.groups_claim else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int)]
    return []


def _apply_role(
    request: HttpRequest,
    config: IdentityProvider,
    membership: Membership,
    claims: dict[str, Any],
    created: bool,
) -> str:
    """The role the login's groups give (provisioning.roles), now; the tenant's last active
    admin is never demoted by it."""
    tenant = config.tenant
    groups = _groups(config, claims)
    role = roles.role_for_groups(tenant, groups)
    previous = membership.role
    if created or role is None or role == previous:
        return previous
    if previous == Membership.Role.ADMIN:
        others = (
            Membership.objects.for_tenant(tenant)
            .filter(role=Membership.Role.ADMIN, user__is_active=True)
            .exclude(pk=membership.pk)
        )
        if not others.exists():
            audit.record(
                "sso.role_kept",
                tenant=tenant,
                obj=membership,
                request=request,
                summary=f"{membership.user.username} stays admin: the tenant's only admin",
                data={"mapped_role": role, "groups": groups},
            )
            return previous
    membership.role = role
    membership.save(update_fields=["role"])  # its sockets re-check (tenants.signals)
    sync_responder_permission(membership)
    audit.record(
        "sso.role_changed",
        tenant=tenant,
        obj=membership,
        request=request,
        summary=f"{membership.user.username}: {previous} → {role} (groups at sign-in)",
        data={"from": previous, "to": role, "groups": groups},
    )
    return role


# --- passwords of SSO-only tenants -------------------------------------------------------------
class SsoOnlyRefusal(ValidationError):
    """A right password of a user whose tenant signs in by single sign-on only. A validation
    error: the login form shows it; the API's token login answers 403 with it."""


class SsoOnlyPasswordBackend(ModelBackend):
    """Placed before ModelBackend: for a user of an SSO-only tenant, a right password is
    refused with the reason (a wrong one stays a plain failure, so nothing is revealed to
    someone who does not know it)."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if not username or password is None:
            return None
        user = User._default_manager.filter(username=username).first()
        if user is None or not self.user_can_authenticate(user):
            return None
        config = sso_only_config(user)
        if config is None or not user.check_password(password):
            return None
        record_refusal(
            request,
            config.tenant,
            "password_on_sso_only",
            f"{user.username} tried a password; the organisation signs in with SSO only",
            username=user.username,
        )
        raise SsoOnlyRefusal(SSO_ONLY, code="sso_only")
