"""Portal pages of connectors: the tenant's settings page (/settings/connectors/: list, add,
edit, test, remove) and the incident page's "Enrich" button (the enrichment card is a panel,
connectors.templatetags). Each runs the same Action as the API (connectors.actions); forms are
validated by the API's serializer."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from alerts import policy as alerts_policy
from alerts import selectors as incident_selectors
from alerts.models import IncidentObservable
from tenants.access import Access
from tenants.actions import page_perform
from tenants.views import SettingsScope, portal_view, settings_render, tenant_settings_view

from . import actions, kinds, policy
from .models import Connector, ConnectorCall

PAGE = "settings-connectors"
CALLS_SHOWN = 20


def _connector_or_404(scope: SettingsScope, connector_id: uuid.UUID) -> Connector:
    found: Connector | None = (
        Connector.objects.for_tenant(scope.tenant).filter(pk=connector_id).first()
    )
    if found is None:
        raise Http404("No such connector.")
    return found


def _inputs(request: HttpRequest, spec: kinds.KindSpec, *, creating: bool) -> dict[str, Any]:
    """The form's fields as the API's body: options and secrets by the kind's names (a blank
    secret keeps the one held)."""
    post = request.POST
    data: dict[str, Any] = {
        "name": post.get("name", ""),
        "base_url": post.get("base_url", ""),
        "is_enabled": post.get("is_enabled") in ("on", "true", "1"),
        "options": {f.name: post.get(f"option_{f.name}", "") for f in spec.options},
        "secrets": {
            f.name: post[f"secret_{f.name}"]
            for f in spec.secrets
            if post.get(f"secret_{f.name}", "").strip()
        },
    }
    if creating:
        data["kind"] = spec.kind
    return data


def _page(
    request: HttpRequest, access: Access, scope: SettingsScope, status: int = 200, **extra: Any
) -> HttpResponse:
    rows = list(Connector.objects.for_tenant(scope.tenant).order_by("name"))
    for row in rows:
        row.purpose = kinds.spec(row.kind).purpose.value if kinds.is_known(row.kind) else ""
    context = {
        "connectors": rows,
        "may_manage": policy.may_manage(access, scope.tenant.pk),
        "response_kinds": kinds.specs(kinds.Purpose.RESPONSE),
        "enrichment_kinds": kinds.specs(kinds.Purpose.ENRICHMENT),
        **extra,
    }
    return settings_render(
        request, scope, "connectors/settings_connectors.html", context, page=PAGE, status=status
    )


@tenant_settings_view
def settings_connectors(request: HttpRequest, access: Access, scope: SettingsScope) -> HttpResponse:
    return _page(request, access, scope)


@tenant_settings_view
def settings_connector_new(
    request: HttpRequest, access: Access, scope: SettingsScope
) -> HttpResponse:
    """The form for one kind (?kind=); its POST adds the connector (as POST /connectors/)."""
    kind = request.GET.get("kind", "")
    if not kinds.is_known(kind):
        raise Http404("No such connector kind.")
    spec = kinds.spec(kind)
    values: dict[str, Any] = {}
    if request.method == "POST":
        data = _inputs(request, spec, creating=True)
        done, _ = page_perform(
            request, actions.CONNECTOR_CREATE, access=access, target=scope.tenant, data=data
        )
        if done:
            return redirect(scope.url(PAGE))
        values = {**data["options"], "name": data["name"], "base_url": data["base_url"]}
    return settings_render(
        request,
        scope,
        "connectors/connector_edit.html",
        {"spec": spec, "connector": None, "values": values},
        page=PAGE,
        status=400 if request.method == "POST" else 200,
    )


@tenant_settings_view
def settings_connector_edit(
    request: HttpRequest, access: Access, scope: SettingsScope, connector_id: uuid.UUID
) -> HttpResponse:
    """Rename, re-address, enable or disable, replace secrets (as PATCH /connectors/{id}/)."""
    connector = _connector_or_404(scope, connector_id)
    spec = kinds.spec(connector.kind)
    values = {**(connector.options or {}), "name": connector.name, "base_url": connector.base_url}
    if request.method == "POST":
        data = _inputs(request, spec, creating=False)
        done, _ = page_perform(
            request, actions.CONNECTOR_UPDATE, access=access, target=connector, data=data
        )
        if done:
            return redirect(scope.url(PAGE))
        values = {**data["options"], "name": data["name"], "base_url": data["base_url"]}
    calls = list(
        ConnectorCall.objects.for_tenant(scope.tenant)
        .filter(connector=connector)
        .order_by("-at", "-id")[:CALLS_SHOWN]
    )
    return settings_render(
        request,
        scope,
        "connectors/connector_edit.html",
        {"spec": spec, "connector": connector, "values": values, "calls": calls},
        page=PAGE,
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@tenant_settings_view
def settings_connector_test(
    request: HttpRequest, access: Access, scope: SettingsScope, connector_id: uuid.UUID
) -> HttpResponse:
    connector = _connector_or_404(scope, connector_id)
    page_perform(request, actions.CONNECTOR_TEST, access=access, target=connector, data={})
    return redirect(scope.url(PAGE))


@require_POST
@tenant_settings_view
def settings_connector_delete(
    request: HttpRequest, access: Access, scope: SettingsScope, connector_id: uuid.UUID
) -> HttpResponse:
    connector = _connector_or_404(scope, connector_id)
    page_perform(request, actions.CONNECTOR_DELETE, access=access, target=connector, data={})
    return redirect(scope.url(PAGE))


@require_POST
@portal_view
def enrich_observable(
    request: HttpRequest, access: Access, pk: uuid.UUID, oid: uuid.UUID
) -> HttpResponse:
    """The incident page's "Enrich" button (as POST /incidents/{id}/observables/{oid}/enrich/)."""
    incident = (
        incident_selectors.get_incidents(access).select_related("tenant").filter(pk=pk).first()
    )
    if incident is None:
        raise Http404("No such incident.")
    rows = IncidentObservable.objects.for_tenant(incident.tenant_id).filter(incident=incident)
    observable = (
        alerts_policy.visible_observables(access, rows).select_related("incident").filter(pk=oid)
    ).first()
    if observable is None:
        raise Http404("No such observable.")
    data = {"refresh": request.POST.get("refresh") in ("on", "true", "1")}
    page_perform(request, actions.ENRICH, access=access, target=observable, data=data)
    return HttpResponseRedirect(reverse("incident", args=[incident.pk]) + "#enrichment")
