"""The staff settings page of the MSSP's own single sign-on (/staff/sso/): its staff's identity
provider (OpenID Connect or SAML 2.0, a tenant's options plus what counts as a staff login's
second factor), its e-mail domains and the groups that give staff roles. MSSP admins only; its
changes are the API's own actions (provisioning.actions, provisioning.mssp_sso_api).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from tenants.access import Access
from tenants.actions import page_perform
from tenants.models import AuditEvent, StaffRole
from tenants.views import forbidden_page, portal_view

from . import policy, saml, sso
from .actions import (
    MAX_METADATA_CHARS,
    MSSP_DOMAIN_CHECK,
    MSSP_DOMAIN_CLAIM,
    MSSP_DOMAIN_REMOVE,
    MSSP_GROUP_ROLE_ADD,
    MSSP_GROUP_ROLE_REMOVE,
    MSSP_SSO_REFUSED,
    MSSP_SSO_REMOVE,
    MSSP_SSO_SAVE,
)
from .models import IdentityProvider, SsoDomain, StaffGroupRoleMapping
from .sso_views import FORM_FIELDS, SAML_DEFAULTS, callback_url

RECENT = 20


def mssp_sso_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page of the MSSP's own single sign-on: MSSP admins; everyone else the page saying why."""

    @portal_view
    @wraps(view)
    def wrapper(request: HttpRequest, access: Access, *args: Any, **kwargs: Any) -> HttpResponse:
        if not policy.manages_mssp_sso(access):
            return forbidden_page(request, MSSP_SSO_REFUSED)
        return view(request, access, *args, **kwargs)

    return wrapper


def _values(request: HttpRequest, config: IdentityProvider | None, kind: str) -> dict[str, Any]:
    """What the form of one kind shows: what was just posted to it, else the stored provider of
    that kind, else the defaults (never the secret)."""
    names = (*FORM_FIELDS, "staff_second_factor")
    if request.method == "POST" and request.POST.get("kind") == kind:
        values: dict[str, Any] = {name: request.POST.get(name, "") for name in names}
        values["metadata_xml"] = request.POST.get("metadata_xml", "")
        values["enabled"] = bool(request.POST.get("enabled"))
        values["sso_only"] = bool(request.POST.get("sso_only"))
        return values
    current = config if config is not None and config.kind == kind else None
    shown = current or IdentityProvider()
    values = {name: getattr(shown, name) for name in names}
    values["enabled"], values["sso_only"] = shown.enabled, shown.sso_only
    values["metadata_xml"] = "" if current is None or current.metadata_url else shown.metadata_xml
    if current is None and kind == IdentityProvider.Kind.SAML:
        values.update(SAML_DEFAULTS)
    return values


def _page(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    config = sso.mssp_config()
    is_saml = config is not None and config.kind == IdentityProvider.Kind.SAML
    context: dict[str, Any] = {
        "config": config,
        "is_saml": is_saml,
        "callback": callback_url(request, config) if config and not is_saml else "",
        "sp": saml.sp_urls(request, config) if config and is_saml else {},
        "values": _values(request, config, IdentityProvider.Kind.OIDC),
        "saml_values": _values(request, config, IdentityProvider.Kind.SAML),
        "second_factors": IdentityProvider.StaffSecondFactor.choices,
        "domains": list(
            SsoDomain.objects.dangerously_unscoped("the MSSP's domains").filter(tenant__isnull=True)
        ),
        "mappings": list(StaffGroupRoleMapping.objects.all()),
        "staff_roles": StaffRole.choices,
        "posted": request.POST if request.method == "POST" else {},
        "activity": list(
            AuditEvent.objects.dangerously_unscoped("the MSSP's own single sign-on entries")
            .filter(tenant__isnull=True, action__regex=r"^(sso\.|auth\.sso_)")
            .order_by("-at", "-id")[:RECENT]
        ),
    }
    return render(request, "provisioning/staff_sso.html", context, status=status)


@mssp_sso_view
def staff_sso(request: HttpRequest, access: Access) -> HttpResponse:
    if request.method != "POST":
        return _page(request)
    data = request.POST.copy()
    for flag in ("enabled", "sso_only"):
        data[flag] = "true" if request.POST.get(flag) else "false"
    upload = request.FILES.get("metadata_file")
    if upload is not None:
        # an uploaded metadata file is the metadata (the serializer bounds and checks it)
        data["metadata_xml"] = upload.read(MAX_METADATA_CHARS + 1).decode("utf-8", "replace")
        data["metadata_url"] = ""
    target = sso.mssp_config() or IdentityProvider(tenant=None)
    done, _ = page_perform(request, MSSP_SSO_SAVE, access=access, target=target, data=data)
    if not done:
        return _page(request, status=400)
    return redirect("mssp-staff-sso")


@require_POST
@mssp_sso_view
def staff_sso_remove(request: HttpRequest, access: Access) -> HttpResponse:
    config = sso.mssp_config()
    if config is None:
        raise Http404
    page_perform(request, MSSP_SSO_REMOVE, access=access, target=config, data={})
    return redirect("mssp-staff-sso")


@require_POST
@mssp_sso_view
def staff_sso_domain_claim(request: HttpRequest, access: Access) -> HttpResponse:
    done, _ = page_perform(request, MSSP_DOMAIN_CLAIM, access=access, target=None)
    if not done:
        return _page(request, status=400)
    return redirect("mssp-staff-sso")


def _domain(domain_id: uuid.UUID) -> SsoDomain:
    claim: SsoDomain | None = (
        SsoDomain.objects.dangerously_unscoped("one of the MSSP's domains")
        .filter(tenant__isnull=True, pk=domain_id)
        .first()
    )
    if claim is None:  # a tenant's claim is not one of them: the same 404 as a missing one
        raise Http404
    return claim


@require_POST
@mssp_sso_view
def staff_sso_domain_check(
    request: HttpRequest, access: Access, domain_id: uuid.UUID
) -> HttpResponse:
    page_perform(request, MSSP_DOMAIN_CHECK, access=access, target=_domain(domain_id), data={})
    return redirect("mssp-staff-sso")


@require_POST
@mssp_sso_view
def staff_sso_domain_remove(
    request: HttpRequest, access: Access, domain_id: uuid.UUID
) -> HttpResponse:
    page_perform(request, MSSP_DOMAIN_REMOVE, access=access, target=_domain(domain_id), data={})
    return redirect("mssp-staff-sso")


@require_POST
@mssp_sso_view
def staff_sso_group_add(request: HttpRequest, access: Access) -> HttpResponse:
    done, _ = page_perform(request, MSSP_GROUP_ROLE_ADD, access=access, target=None)
    if not done:
        return _page(request, status=400)
    return redirect("mssp-staff-sso")


@require_POST
@mssp_sso_view
def staff_sso_group_remove(
    request: HttpRequest, access: Access, mapping_id: uuid.UUID
) -> HttpResponse:
    mapping = StaffGroupRoleMapping.objects.filter(pk=mapping_id).first()
    if mapping is None:
        raise Http404
    page_perform(request, MSSP_GROUP_ROLE_REMOVE, access=access, target=mapping, data={})
    return redirect("mssp-staff-sso")
