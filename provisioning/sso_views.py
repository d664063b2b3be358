"""Single sign-on's pages: "Sign in with single sign-on" (/login/sso/: an e-mail address to its
tenant's provider), "Confirm it is you" at the provider for a step-up
(/login/sso/reauthenticate/: the signed-in member to their own tenant's provider), the provider's
return (/sso/oidc/<provider>/callback/; SAML's assertion
consumer service /sso/saml/<provider>/acs/ and the SP metadata /sso/saml/<provider>/metadata/),
and the tenant's settings page (/settings/sso/), whose changes are the API's own actions
(provisioning.actions).
"""

from __future__ import annotations

import uuid
from typing import Any

import requests
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from tenants import mfa
from tenants.access import Access
from tenants.actions import page_perform
from tenants.auth import login_throttled
from tenants.models import AuditEvent, Membership
from tenants.sealed import SecretsUnreadable
from tenants.views import SettingsScope, settings_render, tenant_settings_view

from . import policy, saml, sso
from .actions import (
    MAX_METADATA_CHARS,
    SSO_DOMAIN_CHECK,
    SSO_DOMAIN_CLAIM,
    SSO_DOMAIN_REMOVE,
    SSO_DOMAIN_VERIFY,
    SSO_REMOVE,
    SSO_SAVE,
)
from .models import IdentityProvider, SsoDomain

RECENT = 20  # single sign-on entries shown on the settings page (the audit log has them all)


# --- signing in --------------------------------------------------------------------------------
def _start_page(
    request: HttpRequest, *, message: str = "", error: str = "", status: int = 200
) -> HttpResponse:
    return render(
        request,
        "provisioning/sso_start.html",
        {
            "message": message,
            "error": error,
            "email": request.POST.get("email", "") if request.method == "POST" else "",
            "next": request.POST.get("next", "") or request.GET.get("next", ""),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
def sso_start(request: HttpRequest) -> HttpResponse:
    """An e-mail address of a verified domain goes to its tenant's provider; any other gets the
    same plain answer (which tenants use single sign-on is not told)."""
    if request.method == "GET":
        return _start_page(request)
    throttled = login_throttled(request)
    if throttled is not None:
        return throttled
    email = request.POST.get("email", "").strip()
    try:
        validate_email(email)
    except ValidationError:
        return _start_page(request, error="Enter your work e-mail address.", status=400)
    claim, config = sso.route_for_email(email)
    if claim is None:
        return _start_page(request, message=sso.NO_SSO)
    # whose log hears of it: the tenant's, or the MSSP's for one of its own domains
    tenant: sso.Where = claim.tenant if claim.tenant_id is not None else sso.MSSP
    if not claim.verified:
        sso.record_refusal(
            request, tenant, "domain_unverified", f"{claim.domain} is not verified yet"
        )
        return _start_page(request, message=sso.NO_SSO)
    if config is None or not config.enabled:
        sso.record_refusal(
            request, tenant, "sso_disabled", f"single sign-on is off for {claim.domain}"
        )
        return _start_page(request, message=sso.NO_SSO)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    try:
        if config.kind == IdentityProvider.Kind.SAML:
            response: HttpResponse = saml.TenantSAMLProvider(
                request, saml.saml_app(config), config
            ).redirect(request, "login", next_url or None)
        else:
            provider = sso.TenantOIDCProvider(request, app=sso.social_app(config))
            response = provider.redirect(
                request, "login", next_url or None, auth_params={"login_hint": email}
            )
    except SecretsUnreadable:
        return sso.refuse(request, config, "secret_unreadable", sso.UNREADABLE, status=502)
    except (requests.RequestException, OAuth2Error, KeyError, ValueError) as exc:
        reason, message = sso.explain(None, exc)
        return sso.refuse(request, config, reason, message, status=502)
    if not isinstance(response, HttpResponseRedirect):
        return response  # allauth's own error page (already through on_authentication_error)
    # Not a redirect: a browser holds a form's submission to the page's CSP form-action
    # ('self') through its redirects too. A page that moves on by itself (Refresh), with a link.
    url = response["Location"]
    page = render(
        request,
        "provisioning/sso_redirect.html",
        {"url": url, "organisation": config.organisation},
    )
    page["Refresh"] = f"0;url={url}"
    return page


def _same_site(request: HttpRequest, next_url: str) -> str:
    """`next` when it is a path of this site, else nothing."""
    if not next_url.startswith("/") or next_url.startswith(("//", "/\\")):
        return ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    return next_url


def _reauth_page(request: HttpRequest, message: str, page: str = "") -> HttpResponse:
    return render(
        request,
        "provisioning/sso_reauthenticate.html",
        {"message": message, "page": page},
        status=403,
    )


@require_http_methods(["GET"])
def sso_reauthenticate(request: HttpRequest) -> HttpResponse:
    """A step-up for a member without a second factor who signs in through their tenant's
    provider: to that provider (never one the request names), forced to ask for the login
    again (provisioning.sso.start_reauthentication)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    user = request.user
    next_url = _same_site(request, request.GET.get("next", ""))
    page = mfa.confirm_page(user)
    if page is not None:
        return _reauth_page(
            request, "Your account has a second factor: confirm it is you with it.", page
        )
    config = sso.reauthentication_config(user)
    if config is None:
        return _reauth_page(
            request,
            "Your account does not sign in with single sign-on: confirm it is you with your "
            "password.",
            reverse("account_reauthenticate"),
        )
    try:
        response = sso.start_reauthentication(request, config, next_url)
    except SecretsUnreadable:
        return sso.refuse(request, config, "secret_unreadable", sso.UNREADABLE, status=502)
    except (requests.RequestException, OAuth2Error, KeyError, ValueError) as exc:
        reason, message = sso.explain(None, exc)
        return sso.refuse(request, config, reason, message, status=502)
    return response


def sso_callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    """The provider sends the browser back here (the redirect URI its admin registers)."""
    config = sso.config_by_provider_id(provider_id)
    if config is None:
        raise Http404
    if not config.enabled or config.kind != IdentityProvider.Kind.OIDC:
        return sso.refuse(
            request,
            config,
            "sso_disabled",
            "Single sign-on is turned off for your organisation.",
        )
    adapter = sso.TenantOIDCAdapter(request, provider_id)
    try:
        response: HttpResponse = sso.CallbackView.adapter_view(adapter)(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None
    except SecretsUnreadable:
        return sso.refuse(request, config, "secret_unreadable", sso.UNREADABLE, status=502)
    return response


def _saml_config(provider_id: str) -> IdentityProvider:
    config = sso.config_by_provider_id(provider_id)
    if config is None or config.kind != IdentityProvider.Kind.SAML:
        raise Http404
    return config


@csrf_exempt  # the IdP's POST (HTTP-POST binding): the signed response is its own proof
@require_http_methods(["POST"])
def saml_acs(request: HttpRequest, provider_id: str) -> HttpResponse:
    """The assertion consumer service: the IdP's response is handed over to saml_finish."""
    return saml.hand_over(request, _saml_config(provider_id))


@require_http_methods(["GET"])
def saml_finish(request: HttpRequest, provider_id: str) -> HttpResponse:
    config = _saml_config(provider_id)
    if not config.enabled:
        return sso.refuse(
            request,
            config,
            "sso_disabled",
            "Single sign-on is turned off for your organisation.",
        )
    return saml.finish(request, config)


@require_http_methods(["GET"])
def saml_metadata(request: HttpRequest, provider_id: str) -> HttpResponse:
    """The tenant's SP metadata, for its IdP's admin (public, like any SP's)."""
    config = _saml_config(provider_id)
    return HttpResponse(
        saml.sp_metadata(request, config), content_type="application/samlmetadata+xml"
    )


def callback_url(request: HttpRequest, config: IdentityProvider) -> str:
    return request.build_absolute_uri(
        reverse("sso-oidc-callback", kwargs={"provider_id": config.provider_id})
    )


# --- the settings page -------------------------------------------------------------------------
def _page(request: HttpRequest, scope: SettingsScope, *, status: int = 200) -> HttpResponse:
    tenant = scope.tenant
    access: Access = request.access  # type: ignore[attr-defined]
    config = IdentityProvider.objects.for_tenant(tenant).first()
    is_saml = config is not None and config.kind == IdentityProvider.Kind.SAML
    context: dict[str, Any] = {
        "config": config,
        "is_saml": is_saml,
        "callback": callback_url(request, config) if config and not is_saml else "",
        "sp": saml.sp_urls(request, config) if is_saml else {},
        "saml_values": _saml_values(request, config),
        "domains": list(SsoDomain.objects.for_tenant(tenant)),
        "verifies": policy.verifies_domains(access, tenant),
        "roles": Membership.Role.choices,
        "values": _form_values(request, config),
        "posted": request.POST if request.method == "POST" else {},
        "activity": list(
            AuditEvent.objects.for_tenant(tenant)
            .filter(action__regex=r"^(sso\.|auth\.sso_)")
            .order_by("-at", "-id")[:RECENT]
        ),
    }
    return settings_render(
        request,
        scope,
        "provisioning/settings_sso.html",
        context,
        page="settings-sso",
        status=status,
    )


FORM_FIELDS = (
    "issuer",
    "discovery_url",
    "client_id",
    "metadata_url",
    "scopes",
    "username_claim",
    "email_claim",
    "groups_claim",
    "default_role",
)


SAML_DEFAULTS = {"username_claim": "uid", "email_claim": "email", "groups_claim": "groups"}


def _saml_values(request: HttpRequest, config: IdentityProvider | None) -> dict[str, Any]:
    """What the SAML form shows: what was just posted to it, else the stored SAML provider,
    else the defaults."""
    if request.method == "POST" and request.POST.get("kind") == IdentityProvider.Kind.SAML:
        values: dict[str, Any] = {name: request.POST.get(name, "") for name in FORM_FIELDS}
        values["metadata_xml"] = request.POST.get("metadata_xml", "")
        values["enabled"] = bool(request.POST.get("enabled"))
        values["sso_only"] = bool(request.POST.get("sso_only"))
        return values
    if config is not None and config.kind == IdentityProvider.Kind.SAML:
        values = {name: getattr(config, name) for name in FORM_FIELDS}
        values["enabled"], values["sso_only"] = config.enabled, config.sso_only
        values["metadata_xml"] = "" if config.metadata_url else config.metadata_xml
        return values
    values = {name: getattr(IdentityProvider(), name) for name in FORM_FIELDS}
    values.update(SAML_DEFAULTS, enabled=True, sso_only=False, metadata_xml="")
    return values


def _form_values(request: HttpRequest, config: IdentityProvider | None) -> dict[str, Any]:
    """What the OpenID Connect form shows: what was just posted, else what is stored, else the
    defaults (never the secret)."""
    if request.method == "POST" and "issuer" in request.POST:
        values: dict[str, Any] = {name: request.POST.get(name, "") for name in FORM_FIELDS}
        values["enabled"] = bool(request.POST.get("enabled"))
        values["sso_only"] = bool(request.POST.get("sso_only"))
        return values
    current = config if config and config.kind == IdentityProvider.Kind.OIDC else None
    current = current or IdentityProvider()
    values = {name: getattr(current, name) for name in FORM_FIELDS}
    values["enabled"], values["sso_only"] = current.enabled, current.sso_only
    return values


@tenant_settings_view
def settings_sso(request: HttpRequest, access: Access, scope: SettingsScope) -> HttpResponse:
    if request.method != "POST":
        return _page(request, scope)
    data = request.POST.copy()
    for flag in ("enabled", "sso_only"):
        data[flag] = "true" if request.POST.get(flag) else "false"
    upload = request.FILES.get("metadata_file")
    if upload is not None:
        # an uploaded metadata file is the metadata (the serializer bounds and checks it)
        data["metadata_xml"] = upload.read(MAX_METADATA_CHARS + 1).decode("utf-8", "replace")
        data["metadata_url"] = ""
    done, _ = page_perform(request, SSO_SAVE, access=access, target=scope.tenant, data=data)
    if not done:
        return _page(request, scope, status=400)
    return redirect(scope.url("settings-sso"))


@tenant_settings_view
def settings_sso_remove(request: HttpRequest, access: Access, scope: SettingsScope) -> HttpResponse:
    config = IdentityProvider.objects.for_tenant(scope.tenant).first()
    if config is None or request.method != "POST":
        raise Http404
    page_perform(request, SSO_REMOVE, access=access, target=config, data={})
    return redirect(scope.url("settings-sso"))


@tenant_settings_view
def settings_sso_domain_claim(
    request: HttpRequest, access: Access, scope: SettingsScope
) -> HttpResponse:
    if request.method != "POST":
        return redirect(scope.url("settings-sso"))
    done, _ = page_perform(request, SSO_DOMAIN_CLAIM, access=access, target=scope.tenant)
    if not done:
        return _page(request, scope, status=400)
    return redirect(scope.url("settings-sso"))


def _domain(scope: SettingsScope, domain_id: uuid.UUID) -> SsoDomain:
    claim: SsoDomain | None = (
        SsoDomain.objects.for_tenant(scope.tenant).filter(pk=domain_id).first()
    )
    if claim is None:
        raise Http404
    return claim


@tenant_settings_view
def settings_sso_domain_verify(
    request: HttpRequest, access: Access, scope: SettingsScope, domain_id: uuid.UUID
) -> HttpResponse:
    claim = _domain(scope, domain_id)
    if request.method != "POST":
        raise Http404
    page_perform(request, SSO_DOMAIN_VERIFY, access=access, target=claim, data={})
    return redirect(scope.url("settings-sso"))


@tenant_settings_view
def settings_sso_domain_check(
    request: HttpRequest, access: Access, scope: SettingsScope, domain_id: uuid.UUID
) -> HttpResponse:
    claim = _domain(scope, domain_id)
    if request.method != "POST":
        raise Http404
    page_perform(request, SSO_DOMAIN_CHECK, access=access, target=claim, data={})
    return redirect(scope.url("settings-sso"))


@tenant_settings_view
def settings_sso_domain_remove(
    request: HttpRequest, access: Access, scope: SettingsScope, domain_id: uuid.UUID
) -> HttpResponse:
    claim = _domain(scope, domain_id)
    if request.method != "POST":
        raise Http404
    page_perform(request, SSO_DOMAIN_REMOVE, access=access, target=claim, data={})
    return redirect(scope.url("settings-sso"))
