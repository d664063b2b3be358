"""Portal pages of response actions: the incident page's "Respond" card forms (the card is a
panel, response.templatetags) and the contract's settings page. Each runs the same Action as
the API (response.actions)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from alerts import selectors as incident_selectors
from alerts.models import Incident
from tenants.access import Access
from tenants.actions import page_perform
from tenants.models import Tenant
from tenants.views import portal_view

from . import actions, policy, services
from .models import ActionKind, ApprovalMode, ResponseAction


def _incident(access: Access, pk: object) -> Incident:
    incident: Incident | None = (
        incident_selectors.get_incidents(access).select_related("tenant").filter(pk=pk).first()
    )
    if incident is None:
        raise Http404("No such incident.")
    return incident


def _action(access: Access, pk: str) -> ResponseAction:
    row = (
        policy.visible_actions(access, ResponseAction.objects.for_tenants(access.tenant_ids))
        .select_related("incident", "incident__tenant")
        .filter(pk=pk)
        .first()
    )
    if row is None:
        raise Http404("No such response action.")
    return row


def _to_incident(incident_id: object) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("incident", args=[incident_id]) + "#respond")


@require_POST
@portal_view
def request_action(request: HttpRequest, access: Access, pk: str) -> HttpResponse:
    incident = _incident(access, pk)
    data = {
        name: request.POST.get(name, "")
        for name in ("connector", "action", "target", "reason", "idempotency_key")
    }
    page_perform(request, actions.REQUEST, access=access, target=incident, data=data)
    return _to_incident(incident.pk)


@require_POST
@portal_view
def approve(request: HttpRequest, access: Access, pk: str) -> HttpResponse:
    row = _action(access, pk)
    page_perform(request, actions.APPROVE, access=access, target=row)
    return _to_incident(row.incident_id)


@require_POST
@portal_view
def reject(request: HttpRequest, access: Access, pk: str) -> HttpResponse:
    row = _action(access, pk)
    page_perform(request, actions.REJECT, access=access, target=row)
    return _to_incident(row.incident_id)


@require_POST
@portal_view
def reverse_action(request: HttpRequest, access: Access, pk: str) -> HttpResponse:
    row = _action(access, pk)
    page_perform(request, actions.REVERSE, access=access, target=row, data={})
    return _to_incident(row.incident_id)


@portal_view
def contract_page(request: HttpRequest, access: Access) -> HttpResponse:
    """The contract's word per action, for one tenant (`?tenant=` for MSSP staff): shown to
    everyone who sees the tenant, set by its admins and the MSSP's supervisors."""
    tenants = Tenant.objects.filter(pk__in=sorted(access.tenant_ids)).order_by("name")
    slug = request.GET.get("tenant") or request.POST.get("tenant")
    tenant = tenants.filter(slug=str(slug)[:63]).first() if slug else tenants.first()
    if tenant is None:
        raise Http404("No such customer.")
    may_set = policy.can_set_contract(access, tenant.pk)
    if request.method == "POST":
        data = {
            "action": request.POST.get("action", ""),
            "mode": request.POST.get("mode", ""),
            "approve_minutes": request.POST.get("approve_minutes") or None,
            "escalations": request.POST.get("escalations") or None,
        }
        data = {k: v for k, v in data.items() if v is not None}
        page_perform(request, actions.SET_POLICY, access=access, target=tenant, data=data)
        return HttpResponseRedirect(f"{reverse('response-contract')}?tenant={tenant.slug}")
    return render(
        request,
        "response/contract.html",
        {
            "tenant": tenant,
            "tenants": tenants if access.is_mssp_staff else [],
            "policies": services.contracts(tenant.pk),
            "may_set": may_set,
            "modes": ApprovalMode.choices,
            "kinds": dict(ActionKind.choices),
        },
    )
