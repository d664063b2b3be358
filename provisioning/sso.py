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

The MSSP's own identity provider (an IdentityProvider of no tenant; configured by MSSP admins,
provisioning.mssp_sso) goes through the same protocol code and signs in MSSP staff only:
- A login's groups map to a staff role (StaffGroupRoleMapping, provisioning.roles): a new
  subject becomes a staff account with that role (just-in-time; a plain login name, never a
  tenant's `<slug>/<name>`), and the role follows the groups on every login. Groups that map
  to no staff role refuse the login; an account that had one is deactivated and its sessions
  end at once. It never makes or touches a tenant membership, and never signs in a superuser
  (the break-glass accounts made with `manage.py createsuperuser` keep their password and
  second factor) or a customer's account.
- A tenant's provider never signs in or makes MSSP staff: a linked subject or a same-named
  account that is staff is refused, and so is a new member whose e-mail is a staff account's
  or in one of the MSSP's domains. Its groups never grant a staff role (they map to the
  tenant's roles only); groups named like the MSSP's staff groups are noted in the audit log.
- The second factor of a staff login (`staff_second_factor`): by default the portal's own,
  asked after the IdP (tenants.mfa holds the session at the code or enrolment page). Set to
  `idp`, the IdP's multi-factor sign-in counts instead, but only when the login proves it:
  the ID token's `amr` names a second factor (MFA_AMR), or the assertion's
  AuthnContextClassRef is a multi-factor class (MFA_AUTHN_CONTEXTS). A login that does not
  prove it still gives the portal's factor.
- SSO only: staff passwords are refused (superusers excepted, the break-glass).
Its refusals and sign-ins are MSSP-level audit entries (no tenant), read by MSSP staff.
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
# RFC 8176 authentication method references that are a second factor or prove several.
MFA_AMR = frozenset({"mfa", "otp", "hwk", "sc"})
# SAML AuthnContextClassRefs of a multi-factor sign-in (OASIS classes, REFEDS, Entra ID).
MFA_AUTHN_CONTEXTS = frozenset(
    {
        "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI",
        "https://refeds.org/profile/mfa",
        "http://schemas.microsoft.com/claims/multipleauthn",
    }
)
NO_STAFF_ROLE = (
    "Your groups at the MSSP's identity provider give you no role in the portal. Ask an MSSP "
    "admin to map one of your groups to a staff role."
)
REAUTH_NO_MFA = (
    "The MSSP's identity provider did not confirm a second factor for this sign-in, so it does "
    "not confirm it is you. Sign in there again with your second factor."
)
NOT_STAFF = "The MSSP's identity provider signs in MSSP staff only, not this account."
STAFF_IDENTITY = "This identity provider cannot sign in an MSSP staff account."
SSO_ONLY_STAFF = (
    "MSSP staff sign in with the MSSP's single sign-on only: use “Sign in with single sign-on” "
    "on the login page (/login/sso/) with your work e-mail address."
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
        name=config.organisation,
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
        if claim is not None and claim.tenant_id is None:
            config = mssp_config()  # one of the MSSP's domains: its staff's provider
        elif claim is not None:
            config = (
                IdentityProvider.objects.dangerously_unscoped("the provider of a domain's tenant")
                .select_related("tenant")
                .filter(tenant_id=claim.tenant_id)
                .first()
            )
    return claim, config


def mssp_config() -> IdentityProvider | None:
    """The MSSP's own identity provider (its staff's), if one is configured."""
    with rls_bypass("sso: the MSSP's own identity provider"):
        config: IdentityProvider | None = (
            IdentityProvider.objects.dangerously_unscoped("the MSSP's provider")
            .filter(tenant__isnull=True)
            .first()
        )
    return config


def signs_in_with_password(user: User) -> bool:
    """The break-glass: superusers (made with `manage.py createsuperuser`) keep their password
    and second factor whatever the MSSP's single sign-on says, and no provider signs them in."""
    return bool(user.is_superuser)


def sso_only_config(user: User) -> IdentityProvider | None:
    """The provider of the user's tenant when it signs in by single sign-on only; for MSSP
    staff, the MSSP's (superusers, the break-glass, never)."""
    if user.is_superuser:
        return None
    if user.staff_role:
        mssp = mssp_config()
        return mssp if mssp is not None and mssp.enabled and mssp.sso_only else None
    if user.is_staff:
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
# Whose sign-in was refused: a tenant's, the provider's (the MSSP's own has no tenant), or
# MSSP ("the MSSP's", e.g. one of its domains before its provider is configured).
MSSP = "mssp"
Where = Tenant | IdentityProvider | str | None


def _organisation(where: Where) -> str:
    if isinstance(where, IdentityProvider):
        return where.organisation
    if isinstance(where, Tenant):
        return where.name
    return "MSSP staff" if where == MSSP else ""


def refuse(
    request: HttpRequest,
    tenant: Where,
    reason: str,
    message: str,
    *,
    status: int = 403,
    **data: Any,
) -> HttpResponse:
    """The refusal page, and its audit entry in the tenant concerned (the MSSP's log for its
    own provider; none when nobody is)."""
    record_refusal(request, tenant, reason, message, **data)
    return render(
        request,
        "provisioning/sso_refused.html",
        {"message": message, "organisation": _organisation(tenant)},
        status=status,
    )


def record_refusal(
    request: HttpRequest | None, tenant: Where, reason: str, message: str, **data: Any
) -> None:
    if isinstance(tenant, IdentityProvider):
        tenant = tenant.tenant if tenant.tenant_id is not None else MSSP
    if tenant == MSSP:
        audit.record(
            "auth.sso_refused",
            request=request,
            summary=f"MSSP single sign-on refused: {message}",
            data={"reason": reason, "mssp": True, **data},
        )
        return
    if not isinstance(tenant, Tenant):
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
        raise ImmediateHttpResponse(refuse(request, config, reason, message))

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
            if config.is_mssp:
                _staff_login(request, config, sociallogin, claims)
                return
            assert tenant is not None  # noqa: S101 (a tenant's provider)
            with tenant_scope([tenant.pk]), transaction.atomic():
                membership, created = _member_for(request, config, sociallogin, claims)
                role = _apply_role(request, config, membership, claims, created)
                _note_staff_groups(request, config, membership, claims)
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
                    config,
                    refusal.reason,
                    refusal.message,
                    subject=subject,
                    **refusal.data,
                )
            ) from None


# --- re-authentication (step-up) at the provider ------------------------------------------------
def reauthentication_config(user: User) -> IdentityProvider | None:
    """The enabled provider of the user's tenant that the user has signed in through (its
    subject is linked to the account), if any: where the user re-authenticates. For MSSP
    staff, the MSSP's provider when they sign in there."""
    if user.is_superuser:
        return None
    if user.staff_role:
        mssp = mssp_config()
        if (
            mssp is not None
            and mssp.enabled
            and SocialAccount.objects.filter(user_id=user.pk, provider=mssp.provider_id).exists()
        ):
            return mssp
        return None
    if user.is_staff:
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
            "tenant": str(config.tenant_id or MSSP),
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
        or str(config.tenant_id or MSSP) != reauth.get("tenant")
    ):
        raise SsoRefused("reauth_session", "This confirmation belongs to another sign-in.")
    assert isinstance(user, User)  # noqa: S101 (AUTH_USER_MODEL)
    if config.is_mssp:
        if not user.staff_role or user.is_superuser or _has_membership(user):
            raise SsoRefused("not_staff", NOT_STAFF)
    else:
        assert config.tenant_id is not None  # noqa: S101 (a tenant's provider)
        with tenant_scope([config.tenant_id]):
            member = Membership.objects.for_tenant(config.tenant).filter(user_id=user.pk).exists()
        if not member or user.is_mssp_staff or user.is_staff or user.is_superuser:
            raise SsoRefused(
                "other_tenant", "This identity provider cannot sign in to that account."
            )
    if not sociallogin.is_existing or sociallogin.user.pk != user.pk:
        raise SsoRefused("reauth_other_subject", OTHER_SUBJECT)
    instant = _instant(config, sociallogin, claims)
    started = int(reauth.get("started") or 0)
    if not isinstance(instant, int | float) or isinstance(instant, bool) or instant < started:
        raise SsoRefused("reauth_stale", STALE, auth_time=instant, started=started)
    if config.is_mssp and not idp_second_factor(config, sociallogin, claims):
        # staff without the portal's factor step up here only by the IdP's multi-factor
        raise SsoRefused("reauth_no_mfa", REAUTH_NO_MFA)
    record_authentication(
        request, user, "password", via="sso", provider=config.provider_id, reauthenticated=True
    )
    if config.is_mssp:
        record_authentication(request, user, "mfa", via="sso", provider=config.provider_id)
    with tenant_scope([config.tenant_id] if config.tenant_id else []):
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
    assert tenant is not None  # noqa: S101 (a tenant's provider; the MSSP's: _staff_login)
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
    email = _claim_text(claims, config.email_claim)
    if is_staff_identity(email):
        raise SsoRefused("staff_identity", STAFF_IDENTITY, email=email[:254])
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
    assert tenant is not None  # noqa: S101 (a tenant's provider)
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
            config,
            "password_on_sso_only",
            f"{user.username} tried a password; the organisation signs in with SSO only",
            username=user.username,
        )
        raise SsoOnlyRefusal(SSO_ONLY_STAFF if config.is_mssp else SSO_ONLY, code="sso_only")


# --- the MSSP's own identity provider: staff -------------------------------------------------
def _has_membership(user: User) -> bool:
    with rls_bypass("sso: whether an account is a customer's member"):
        return bool(
            Membership.objects.dangerously_unscoped("whether an account is a member")
            .filter(user_id=user.pk)
            .exists()
        )


def is_staff_identity(email: str) -> bool:
    """An e-mail address that is an MSSP staff account's, or in one of the MSSP's own domains:
    no tenant's provider may make an account with it."""
    if not email or "@" not in email:
        return False
    if User.objects.filter(email__iexact=email).exclude(staff_role="", is_superuser=False).exists():
        return True
    with rls_bypass("sso: whether an e-mail domain is the MSSP's"):
        return bool(
            SsoDomain.objects.dangerously_unscoped("the MSSP's domains")
            .filter(tenant__isnull=True, domain=email_domain(email))
            .exists()
        )


def _note_staff_groups(
    request: HttpRequest, config: IdentityProvider, membership: Membership, claims: dict[str, Any]
) -> None:
    """A tenant's login whose groups are named like the MSSP's staff groups (or staff roles)
    gets nothing from them; the tenant's audit log says so."""
    groups = {group.casefold() for group in _groups(config, claims)}
    staff_names = set(roles.staff_mappings()) | {
        role.casefold() for role in roles.STAFF_ROLE_RANK if role != "admin"
    }
    named = sorted(groups & staff_names)
    if named:
        audit.record(
            "sso.staff_groups_ignored",
            tenant=config.tenant,
            obj=membership.user,
            request=request,
            summary=f"{membership.user.username}: staff-like groups from the tenant's provider "
            "grant nothing",
            data={"groups": named},
        )


def idp_second_factor(
    config: IdentityProvider, sociallogin: SocialLogin, claims: dict[str, Any]
) -> bool:
    """The MSSP's provider counts as the staff login's second factor: it is configured to
    (`staff_second_factor` = idp) and this login proves a multi-factor sign-in."""
    if config.staff_second_factor != IdentityProvider.StaffSecondFactor.IDP:
        return False
    if config.kind == IdentityProvider.Kind.SAML:
        contexts = sociallogin.account.extra_data.get("authn_contexts") or []
        return isinstance(contexts, list) and any(
            isinstance(c, str) and c.strip() in MFA_AUTHN_CONTEXTS for c in contexts
        )
    amr = claims.get("amr")
    return isinstance(amr, list) and any(isinstance(m, str) and m in MFA_AMR for m in amr)


def _staff_account(
    config: IdentityProvider, sociallogin: SocialLogin, claims: dict[str, Any]
) -> tuple[User | None, str]:
    """The staff account of the login (the one its subject signed in as before, or the staff
    account of the same name on its first sign-in), or None and the name a new one gets.
    Anything that is not a plain staff account is refused."""
    if sociallogin.is_existing:
        user: User = sociallogin.user
        if not user.staff_role or signs_in_with_password(user) or _has_membership(user):
            raise SsoRefused("not_staff", NOT_STAFF)
        return user, user.username
    name = _claim_text(claims, config.username_claim) or _claim_text(claims, config.email_claim)
    if not name:
        raise SsoRefused(
            "no_username",
            f"The identity provider sent no {config.username_claim} (or {config.email_claim}) "
            "to name you by.",
        )
    if not USER_NAME.match(name):
        raise SsoRefused(
            "bad_username",
            "The identity provider's user name is not one the portal can use (letters, digits "
            "and @ . + - _, at most 100).",
        )
    existing = User.objects.filter(username__iexact=name).first()
    if existing is None:
        return None, name
    if not existing.staff_role or signs_in_with_password(existing) or _has_membership(existing):
        raise SsoRefused("name_taken", NOT_STAFF, username=name)
    if SocialAccount.objects.filter(user=existing, provider=config.provider_id).exists():
        raise SsoRefused(
            "subject_changed",
            "Your account is linked to another identity at the provider. Ask an MSSP admin.",
        )
    return existing, name


def _staff_deactivated(request: HttpRequest, user: User, groups: list[str]) -> None:
    """A staff account whose groups no longer give a role: deactivated, its sessions (and
    their sockets) ended now, in its own transaction so that the refusal does not undo it."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        from tenants import sessions

        ended = sessions.end_all(user.pk, "admin", actor=None, request=request)
        audit.record(
            "sso.staff_deactivated",
            obj=user,
            request=request,
            summary=f"{user.username} deactivated: their groups at the MSSP's identity provider "
            "give no staff role",
            data={"groups": groups, "role": user.staff_role, "sessions_ended": ended},
        )


def _staff_login(
    request: HttpRequest, config: IdentityProvider, sociallogin: SocialLogin, claims: dict[str, Any]
) -> None:
    """A sign-in through the MSSP's provider: a staff account with the role its groups map to
    (made on its first sign-in), or a refusal (SsoRefused). Never a tenant's member."""
    subject = str(sociallogin.account.uid)
    groups = _groups(config, claims)
    user, name = _staff_account(config, sociallogin, claims)
    role = roles.staff_role_for_groups(groups)
    if role is None:
        # only an account this provider manages (signed in through it before) is deactivated;
        # a staff account that merely has the name is refused and left as it is
        if user is not None and user.is_active and sociallogin.is_existing:
            _staff_deactivated(request, user, groups)
        raise SsoRefused("no_staff_role", NO_STAFF_ROLE, groups=groups[:20], username=name)
    if user is not None and not user.is_active:
        raise SsoRefused(
            "deactivated", "Your staff account is deactivated. Ask an MSSP admin.", username=name
        )
    created = user is None
    with transaction.atomic():
        if user is None:
            user = User(
                username=name,
                email=_claim_text(claims, config.email_claim)[:254],
                first_name=_claim_text(claims, "given_name")[:150],
                last_name=_claim_text(claims, "family_name")[:150],
                staff_role=role,
            )
            user.set_unusable_password()
            sociallogin.user = user
            sociallogin.save(request, connect=True)  # no allauth e-mail records (see above)
            audit.record(
                "sso.staff_created",
                obj=user,
                request=request,
                summary=f"{name} joined the MSSP's staff by single sign-on as {role}",
                data={"role": role, "subject": subject, "groups": groups[:20]},
            )
        elif not sociallogin.is_existing:
            sociallogin.user = user
            sociallogin.save(request, connect=True)
        previous = user.staff_role
        if previous != role:
            User.objects.filter(pk=user.pk).update(staff_role=role)
            user.staff_role = role
            audit.record(
                "sso.staff_role_changed",
                obj=user,
                request=request,
                summary=f"{user.username}: {previous} → {role} (groups at sign-in)",
                data={"from": previous, "to": role, "groups": groups[:20]},
            )
        record_authentication(request, user, "password", via="sso", provider=config.provider_id)
        by_idp = idp_second_factor(config, sociallogin, claims)
        if by_idp:
            # tenants.sessions reads it: the session starts with its second factor given
            record_authentication(
                request, user, "mfa", type="idp", via="sso", provider=config.provider_id
            )
        audit.record(
            "auth.sso_login",
            actor=user,
            obj=user,
            request=request,
            summary=f"{user.username} signed in with the MSSP's single sign-on",
            data={
                "subject": subject,
                "new_staff": created,
                "role": role,
                "second_factor": "idp" if by_idp else "portal",
            },
        )
