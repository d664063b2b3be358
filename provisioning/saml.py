"""SAML 2.0 single sign-on: a tenant's users sign in through the tenant's own SAML identity
provider. The portal is the service provider (SP), with python3-saml (OneLogin) checking every
response and django-allauth's SAML provider turning it into a social login, so that the rest
is provisioning.sso's, exactly as for OpenID Connect (the same member-for-login rules, role
mapping, audit entries, second factor and SSO only).

- Each tenant's SP is its own: entity id `<portal>/sso/saml/sso-<config id>/metadata/` (where its
  metadata is published for the customer's IdP admin), assertion consumer service (ACS)
  `<portal>/sso/saml/sso-<config id>/acs/` (HTTP-POST binding). Requests are not signed; the
  SP has no key of its own.
- The IdP is described by its metadata (uploaded, or fetched through the SSRF guard when the
  configuration is saved): entity id, single sign-on address (HTTP-Redirect binding) and
  signing certificates. An assertion is accepted only when it is signed by one of those
  certificates (SHA-256 or better), issued by that entity id, for this tenant's SP (audience),
  sent to this tenant's ACS (destination, recipient), within its validity, in answer to a
  request this browser started here (InResponseTo; unsolicited IdP-initiated responses are
  refused), and not seen before (its ID is kept until it expires: SeenAssertion).
- The subject is the NameID (ask the IdP for a persistent one); the username, e-mail and
  groups come from the attributes the configuration names (username_claim, email_claim,
  groups_claim), the username falling back to the e-mail and then the NameID.
"""

from __future__ import annotations

import binascii
import datetime
from typing import Any

import requests
from allauth.core.internal import httpkit
from allauth.socialaccount.helpers import complete_social_login
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.saml.provider import SAMLProvider
from allauth.socialaccount.sessions import LoginSession
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Constants
from onelogin.saml2.errors import OneLogin_Saml2_Error, OneLogin_Saml2_ValidationError
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from tenants.rls import rls_bypass, tenant_scope

from . import sso
from .models import IdentityProvider, SeenAssertion

MAX_METADATA = 1024 * 1024  # bytes of an IdP's metadata document
ACS_SESSION = ("saml_acs_session", "saml-acs-session")  # attribute and cookie of the ACS hand-over
# An assertion without an expiry of its own is remembered this long (python3-saml refuses one
# older than its conditions anyway).
REMEMBER_DEFAULT = datetime.timedelta(hours=1)

V = OneLogin_Saml2_ValidationError
AUDIENCE = "The identity provider's assertion was issued for another application."
ISSUER = "The sign-in came from an identity provider your organisation does not use."
EXPIRED = "The identity provider's assertion has expired or is not valid yet. Sign in again."
UNSIGNED = "The identity provider's answer is not signed."
SIGNATURE = "The identity provider's answer is not validly signed."
WEAK = "The identity provider signs with SHA-1, which the portal refuses: ask for SHA-256."
DESTINATION = "The identity provider's answer was meant for another organisation's sign-in."
REFUSALS: dict[int, tuple[str, str]] = {
    **dict.fromkeys(
        [V.WRONG_AUDIENCE, V.SP_NAME_QUALIFIER_NAME_MISMATCH], ("wrong_audience", AUDIENCE)
    ),
    **dict.fromkeys(
        [V.WRONG_ISSUER, V.ISSUER_NOT_FOUND_IN_ASSERTION, V.ISSUER_MULTIPLE_IN_RESPONSE],
        ("wrong_issuer", ISSUER),
    ),
    **dict.fromkeys(
        [
            V.ASSERTION_EXPIRED,
            V.SESSION_EXPIRED,
            V.ASSERTION_TOO_EARLY,
            V.WRONG_SUBJECTCONFIRMATION,
        ],
        ("expired", EXPIRED),
    ),
    **dict.fromkeys(
        [V.NO_SIGNATURE_FOUND, V.NO_SIGNED_ASSERTION, V.NO_SIGNED_MESSAGE], ("unsigned", UNSIGNED)
    ),
    **dict.fromkeys(
        [
            V.INVALID_SIGNATURE,
            V.INVALID_SIGNED_ELEMENT,
            V.WRONG_SIGNED_ELEMENT,
            V.UNEXPECTED_SIGNED_ELEMENTS,
            V.DUPLICATED_ID_IN_SIGNED_ELEMENTS,
            V.DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS,
            V.ID_NOT_FOUND_IN_SIGNED_ELEMENT,
            V.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE,
            V.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION,
        ],
        ("bad_signature", SIGNATURE),
    ),
    **dict.fromkeys(
        [V.DEPRECATED_SIGNATURE_METHOD, V.DEPRECATED_DIGEST_METHOD], ("weak_signature", WEAK)
    ),
    **dict.fromkeys([V.WRONG_DESTINATION, V.EMPTY_DESTINATION], ("wrong_destination", DESTINATION)),
    V.STATUS_CODE_IS_NOT_SUCCESS: ("idp_refused", "The identity provider did not sign you in."),
}
INVALID = ("invalid_assertion", "The identity provider's answer is not a valid SAML response.")
REPLAYED = ("replayed", "That sign-in was used already. Sign in again.")
UNSOLICITED = (
    "unsolicited",
    "This sign-in was not started on the portal. Start it from the portal's login page.",
)


# --- the IdP's metadata ------------------------------------------------------------------------
class MetadataError(ValueError):
    """An IdP's metadata that cannot be used, with the sentence that says why."""


def parse_metadata(xml: str) -> dict[str, Any]:
    """python3-saml's view of an IdP's metadata: its entity id, its single sign-on address
    (HTTP-Redirect binding) and at least one signing certificate."""
    try:
        parsed: dict[str, Any] = OneLogin_Saml2_IdPMetadataParser.parse(
            xml, required_sso_binding=Constants.BINDING_HTTP_REDIRECT
        )
    except Exception as exc:  # noqa: BLE001 (lxml, xmlsec and the parser's own errors alike)
        raise MetadataError(f"This is not SAML metadata ({str(exc)[:120]}).") from None
    idp = parsed.get("idp") or {}
    if not idp.get("entityId"):
        raise MetadataError("The metadata describes no identity provider (IDPSSODescriptor).")
    if not (idp.get("singleSignOnService") or {}).get("url"):
        raise MetadataError(
            "The metadata names no single sign-on address with the HTTP-Redirect binding."
        )
    signing = (idp.get("x509certMulti") or {}).get("signing") or []
    if not idp.get("x509cert") and not signing:
        raise MetadataError("The metadata holds no signing certificate.")
    return parsed


def fetch_metadata(url: str) -> str:
    """An IdP's metadata document, read through the SSRF guard (provisioning.sso)."""
    try:
        with sso.guarded_session() as session:
            response = session.get(url, timeout=10)
    except requests.RequestException as exc:
        raise MetadataError(f"The metadata could not be read from {url}: {exc}.") from None
    if response.status_code != 200:
        raise MetadataError(f"{url} answered {response.status_code}, not the metadata.")
    if len(response.content) >= sso.MAX_DOCUMENT:
        raise MetadataError("The metadata is larger than 1 MiB.")
    return response.content.decode("utf-8", errors="replace")


# --- the SP: its addresses, its settings, its metadata -----------------------------------------
def sp_urls(request: HttpRequest, config: IdentityProvider) -> dict[str, str]:
    """The tenant's SP, as its IdP's admin registers it."""

    def url(name: str) -> str:
        return request.build_absolute_uri(reverse(name, kwargs={"provider_id": config.provider_id}))

    return {"entity_id": url("sso-saml-metadata"), "acs_url": url("sso-saml-acs")}


def onelogin_settings(
    request: HttpRequest,
    config: IdentityProvider,
    *,
    force_authn: bool = False,
    sp_only: bool = False,
) -> OneLogin_Saml2_Settings:
    urls = sp_urls(request, config)
    idp: dict[str, Any] = {} if sp_only else parse_metadata(config.metadata_xml)["idp"]
    return OneLogin_Saml2_Settings(
        {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": urls["entity_id"],
                "assertionConsumerService": {
                    "url": urls["acs_url"],
                    "binding": Constants.BINDING_HTTP_POST,
                },
                "NameIDFormat": Constants.NAMEID_UNSPECIFIED,
            },
            "idp": idp,
            "security": {
                "authnRequestsSigned": False,
                "wantAssertionsSigned": True,
                "wantMessagesSigned": False,
                "wantAttributeStatement": False,
                "wantNameId": True,
                "requestedAuthnContext": False,
                "rejectDeprecatedAlgorithm": True,
                "allowSingleLabelDomains": True,  # a portal at localhost or an intranet name
                "allowRepeatAttributeName": True,
                "signatureAlgorithm": Constants.RSA_SHA256,
                "digestAlgorithm": Constants.SHA256,
                "forceAuthn": force_authn,
            },
        },
        sp_validation_only=not idp,
    )


def sp_metadata(request: HttpRequest, config: IdentityProvider) -> str:
    metadata: str | bytes = onelogin_settings(request, config, sp_only=True).get_sp_metadata()
    return metadata.decode() if isinstance(metadata, bytes) else metadata


def request_data(request: HttpRequest) -> dict[str, Any]:
    return {
        "https": "on" if request.is_secure() else "off",
        "http_host": request.get_host(),
        "script_name": request.META.get("SCRIPT_NAME", ""),
        "path_info": request.path_info,
        "get_data": request.GET.copy(),
        "post_data": request.POST.copy(),
    }


def saml_app(config: IdentityProvider) -> SocialApp:
    return SocialApp(
        provider=SAMLProvider.id,
        provider_id=config.provider_id,
        name=config.organisation,
        client_id=config.provider_id,
        settings={},
    )


class TenantSAMLProvider(SAMLProvider):  # type: ignore[misc]  # allauth.socialaccount is untyped
    """allauth's SAML provider for one tenant's IdP: the subject is the NameID, and the
    attributes are kept as they came (provisioning.sso reads them by the configured names)."""

    def __init__(
        self, request: HttpRequest | None, app: SocialApp, config: IdentityProvider | None
    ) -> None:
        super().__init__(request, app=app)
        if config is None:
            raise SocialApp.DoesNotExist
        self.config = config

    def serialize(self) -> dict[str, Any]:
        return {"id": self.app.provider_id, "app.client_id": self.app.client_id}

    def redirect(
        self,
        request: HttpRequest,
        process: Any,
        next_url: str | None = None,
        data: Any = None,
        **kwargs: Any,
    ) -> HttpResponse:
        force_authn = bool(kwargs.pop("force_authn", False))
        auth = OneLogin_Saml2_Auth(
            request_data(request),
            onelogin_settings(request, self.config, force_authn=force_authn),
        )
        url = auth.login(return_to="", force_authn=force_authn)
        self.stash_redirect_state(
            request, process, next_url, data, state_id=auth.get_last_request_id(), **kwargs
        )
        return HttpResponseRedirect(url)

    def extract_uid(self, data: OneLogin_Saml2_Auth) -> str:
        return str(data.get_nameid() or "")

    def extract_extra_data(self, data: OneLogin_Saml2_Auth) -> dict[str, Any]:
        return {
            "name_id": data.get_nameid(),
            "name_id_format": data.get_nameid_format(),
            "attributes": data.get_attributes(),
            "authn_contexts": data.get_last_authn_contexts(),
            # when the IdP signed the person in (a re-authentication must be newer: sso)
            "authn_instant": getattr(data, "authn_instant", None),
        }

    def extract_common_fields(self, data: OneLogin_Saml2_Auth) -> dict[str, Any]:
        claims = saml_claims(self.config, self.extract_extra_data(data))
        return {"email": claims.get(self.config.email_claim) or None}


def saml_claims(config: IdentityProvider, extra_data: dict[str, Any]) -> dict[str, Any]:
    """A SAML login's attributes as the claims provisioning.sso reads: each single-valued
    attribute by its name (its first value), the groups attribute as a list, and the NameID
    as the username when the configured attribute is missing."""
    attributes = extra_data.get("attributes") or {}
    claims: dict[str, Any] = {}
    for name, values in attributes.items():
        if isinstance(values, list) and values:
            claims[name] = values if name == config.groups_claim else values[0]
    name_id = str(extra_data.get("name_id") or "")
    if name_id and not isinstance(claims.get(config.username_claim), str):
        if not isinstance(claims.get(config.email_claim), str) or not config.username_claim:
            claims[config.username_claim or "name_id"] = name_id
    if name_id and "@" in name_id and not isinstance(claims.get(config.email_claim), str):
        claims[config.email_claim] = name_id
    return claims


# --- the ACS -----------------------------------------------------------------------------------
def hand_over(request: HttpRequest, config: IdentityProvider) -> HttpResponse:
    """The IdP's POST arrives without the session cookie (SameSite=Lax, a cross-site POST):
    keep it in a short session of its own and continue on a GET, which carries the cookie."""
    url = reverse("sso-saml-finish", kwargs={"provider_id": config.provider_id})
    response = HttpResponseRedirect(url)
    acs_session = LoginSession(request, *ACS_SESSION)
    acs_session.store.update({"request": httpkit.serialize_request(request)})
    acs_session.save(response)
    return response


def _remember(config: IdentityProvider, response: OneLogin_Saml2_Response) -> bool:
    """Record the assertion's ID; False when it was accepted before (a replay)."""
    assertion_id = str(response.get_assertion_id() or "")[:255]
    not_after = response.get_assertion_not_on_or_after()
    now = timezone.now()
    expires = (
        datetime.datetime.fromtimestamp(not_after, tz=datetime.UTC)
        if not_after
        else now + REMEMBER_DEFAULT
    )
    if config.tenant_id is None:
        # the MSSP's own provider: its assertions are rows of no tenant, read under a logged
        # bypass like the provider itself at sign-in (provisioning.sso.mssp_config)
        scope: Any = rls_bypass("saml: the MSSP provider's seen assertions")
        rows = SeenAssertion.objects.dangerously_unscoped("the MSSP's assertions").filter(
            tenant__isnull=True, provider=config
        )
    else:
        scope = tenant_scope([config.tenant_id])
        rows = SeenAssertion.objects.for_tenant(config.tenant_id)
    with scope:
        rows.filter(expires_at__lt=now).delete()
        try:
            with transaction.atomic():
                SeenAssertion.objects.create(
                    tenant_id=config.tenant_id,
                    provider=config,
                    assertion_id=assertion_id,
                    expires_at=max(expires, now + datetime.timedelta(minutes=5)),
                )
        except IntegrityError:
            return False
    return True


def authn_instant(response: OneLogin_Saml2_Response) -> int | None:
    """The assertion's AuthnInstant (when the IdP signed the person in), in epoch seconds."""
    # python3-saml reads its other AuthnStatement values (SessionIndex) with this same query
    for statement in response._query_assertion("/saml:AuthnStatement[@AuthnInstant]"):
        value = statement.get("AuthnInstant")
        if value:
            try:
                return int(OneLogin_Saml2_Utils.parse_SAML_to_time(value))
            except ValueError:
                return None
    return None


def finish(request: HttpRequest, config: IdentityProvider) -> HttpResponse:
    """Check the IdP's response (kept by hand_over), then sign the member in (provisioning.sso)."""
    tenant = config  # whose refusals: the tenant's, or the MSSP's for its own provider
    acs_session = LoginSession(request, *ACS_SESSION)
    kept = acs_session.store.get("request")
    acs_session.delete()
    if not kept:
        return sso.refuse(request, tenant, "state", sso.explain(None, None)[1])
    acs_request = httpkit.deserialize_request(kept, HttpRequest())
    data = request_data(acs_request)
    encoded = data["post_data"].get("SAMLResponse")
    if not encoded:
        return sso.refuse(request, tenant, *INVALID, status=400)
    try:
        saml_settings = onelogin_settings(acs_request, config)
        response = OneLogin_Saml2_Response(saml_settings, encoded)
        response.is_valid(data, None, raise_exceptions=True)
    except OneLogin_Saml2_ValidationError as exc:
        reason, message = REFUSALS.get(exc.code, INVALID)
        return sso.refuse(request, tenant, reason, message, detail=str(exc)[:200])
    except (OneLogin_Saml2_Error, binascii.Error, ValueError, TypeError) as exc:
        return sso.refuse(request, tenant, *INVALID, detail=str(exc)[:200])
    except Exception as exc:  # noqa: BLE001 (lxml/xmlsec on hostile XML: a refusal, never a 500)
        return sso.refuse(request, tenant, *INVALID, detail=type(exc).__name__)
    if not _remember(config, response):
        return sso.refuse(request, tenant, *REPLAYED, assertion_id=response.get_assertion_id())
    auth = OneLogin_Saml2_Auth(data, saml_settings)
    auth.store_valid_response(response)
    auth.authn_instant = authn_instant(response)
    provider = TenantSAMLProvider(request, saml_app(config), config)
    state_id = auth.get_last_response_in_response_to()
    if not state_id:
        return sso.refuse(request, tenant, *UNSOLICITED)
    login = provider.sociallogin_from_response(request, auth)
    try:
        login.state = provider.unstash_redirect_state(request, state_id)
    except Exception:  # noqa: BLE001 (allauth's PermissionDenied: no such sign-in started here)
        return sso.refuse(request, tenant, *sso.explain(None, None))
    result: HttpResponse = complete_social_login(request, login)
    return result
