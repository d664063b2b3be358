"""The tenant's SCIM provisioning settings page (/settings/scim/): the SCIM base URL to give
the identity provider, the SCIM tokens (minted here, shown once, revocable), the groups it
pushed and which role each gives, and the recent SCIM activity. Every change is the API's own
action (provisioning.actions)."""

from __future__ import annotations

import uuid

from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from tenants.access import Access
from tenants.actions import page_perform
from tenants.models import AuditEvent, Membership
from tenants.views import SettingsScope, settings_render, shown_once, tenant_settings_view

from .actions import SCIM_MAPPING_ADD, SCIM_MAPPING_REMOVE, SCIM_TOKEN_MINT, SCIM_TOKEN_REVOKE
from .models import GroupRoleMapping, ScimGroup, ScimToken

RECENT = 20  # SCIM audit entries shown on the page (the audit log has them all)


def _page(
    request: HttpRequest,
    scope: SettingsScope,
    *,
    created: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    tenant = scope.tenant
    mappings = list(GroupRoleMapping.objects.for_tenant(tenant))
    mapped = {m.group_name.casefold(): m.role for m in mappings}
    groups = [
        {
            "name": g.display_name,
            "members": g.member_count,
            "role": mapped.get(g.display_name.casefold(), ""),
        }
        for g in ScimGroup.objects.for_tenant(tenant).annotate(member_count=Count("memberships"))
    ]
    response = settings_render(
        request,
        scope,
        "provisioning/settings_scim.html",
        {
            "base_url": request.build_absolute_uri("/scim/v2/"),
            "tokens": list(ScimToken.objects.for_tenant(tenant).select_related("created_by")),
            "mappings": mappings,
            "groups": groups,
            "roles": Membership.Role.choices,
            "activity": list(
                AuditEvent.objects.for_tenant(tenant)
                .filter(action__startswith="scim.")
                .order_by("-at", "-id")[:RECENT]
            ),
            "created": created,
            "posted": request.POST if request.method == "POST" else None,
        },
        page="settings-scim",
        status=status,
    )
    return shown_once(response) if created else response


@tenant_settings_view
def settings_scim(request: HttpRequest, access: Access, scope: SettingsScope) -> HttpResponse:
    return _page(request, scope)


@tenant_settings_view
def settings_scim_token_create(
    request: HttpRequest, access: Access, scope: SettingsScope
) -> HttpResponse:
    if request.method != "POST":
        return redirect(scope.url("settings-scim"))
    done, minted = page_perform(request, SCIM_TOKEN_MINT, access=access, target=scope.tenant)
    if not done:
        return _page(request, scope, status=400)
    return _page(
        request,
        scope,
        created={
            "title": f"SCIM token '{minted.token.name}' created",
            "secret": minted.raw,
            "what": "Paste it into your identity provider's provisioning settings as the "
            "secret token (Entra ID) or the API token (Okta), with the base URL above.",
        },
    )


@tenant_settings_view
def settings_scim_token_revoke(
    request: HttpRequest, access: Access, scope: SettingsScope, token_id: uuid.UUID
) -> HttpResponse:
    token = ScimToken.objects.for_tenant(scope.tenant).filter(pk=token_id).first()
    if token is None or request.method != "POST":
        raise Http404
    page_perform(request, SCIM_TOKEN_REVOKE, access=access, target=token, data={})
    return redirect(scope.url("settings-scim"))


@tenant_settings_view
def settings_scim_mapping_add(
    request: HttpRequest, access: Access, scope: SettingsScope
) -> HttpResponse:
    if request.method != "POST":
        return redirect(scope.url("settings-scim"))
    done, _ = page_perform(request, SCIM_MAPPING_ADD, access=access, target=scope.tenant)
    if not done:
        return _page(request, scope, status=400)
    return redirect(scope.url("settings-scim"))


@tenant_settings_view
def settings_scim_mapping_remove(
    request: HttpRequest, access: Access, scope: SettingsScope, mapping_id: uuid.UUID
) -> HttpResponse:
    mapping = GroupRoleMapping.objects.for_tenant(scope.tenant).filter(pk=mapping_id).first()
    if mapping is None or request.method != "POST":
        raise Http404
    page_perform(request, SCIM_MAPPING_REMOVE, access=access, target=mapping, data={})
    return redirect(scope.url("settings-scim"))
