"""Portal pages of custom incident fields: Settings → Incident fields (the definitions of a
customer's fields) and the incident page's fields card. Both post to the same actions as the
API (cases.actions CREATE_FIELD / UPDATE_FIELD, alerts.actions SET_CUSTOM_FIELDS)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from alerts import actions as incident_actions
from alerts.models import IncidentStatus
from tenants.actions import Invalid, page_perform
from tenants.models import Tenant
from tenants.views import portal_view

from . import actions, custom_fields
from .models import CustomField, FieldType
from .views import _incident

LIST_FIELDS = ("required_for_categories", "required_for_statuses", "choices")


def _tenants(access) -> list[Tenant]:
    """The customers whose fields the caller manages."""
    tenants = Tenant.objects.filter(pk__in=access.tenant_ids).order_by("name")
    return [t for t in tenants if custom_fields.may_manage(access, t.pk)]


def _field(access, pk) -> CustomField:
    rows = CustomField.objects.for_tenants(access.tenant_ids).filter(pk=pk)
    if not access.is_mssp_staff:
        rows = rows.filter(customer_visible=True)
    field = rows.select_related("tenant").first()
    if field is None:
        raise Http404("No such field.")
    return field


def _form_data(post, *, staff: bool) -> dict[str, Any]:
    """The form's fields as the API's body: lists one per line, the boxes true or false."""
    data: dict[str, Any] = {
        name: post.get(name, "") for name in ("key", "label", "help_text", "type") if name in post
    }
    if post.get("position", "").strip():
        data["position"] = post["position"].strip()
    for name in LIST_FIELDS:
        if name in post:
            data[name] = [line.strip() for line in post[name].splitlines() if line.strip()]
    data["required_for_statuses"] = post.getlist("required_for_statuses")
    data["is_archived"] = post.get("is_archived") == "on"
    if staff:
        data["customer_visible"] = post.get("customer_visible") == "on"
    return data


@portal_view
def fields_page(request, access):
    """Settings → Incident fields: one customer's fields (?tenant=<slug>), and a form to add
    one."""
    tenants = _tenants(access)
    if not tenants:
        raise PermissionDenied(custom_fields.MANAGE_REFUSED)
    chosen = next((t for t in tenants if t.slug == request.GET.get("tenant")), tenants[0])
    status = 200
    values: Any = {}
    if request.method == "POST":
        chosen = next((t for t in tenants if t.slug == request.POST.get("tenant")), None) or chosen
        if request.POST.get("from_library"):  # adopting a field of the MSSP's library
            try:
                entry = custom_fields.library_entry(request.POST["from_library"])
            except Invalid:
                raise Http404(custom_fields.NOT_IN_LIBRARY) from None
            data = custom_fields.adoption_body(entry, {})
        else:
            data = _form_data(request.POST, staff=access.is_mssp_staff)
        done, _field_made = page_perform(
            request, actions.CREATE_FIELD, access=access, target=chosen, data=data
        )
        if done:
            return HttpResponseRedirect(reverse("custom-fields") + f"?tenant={chosen.slug}")
        status, values = 400, request.POST
    context = {
        "tenants": tenants,
        "tenant": chosen,
        "fields": custom_fields.definitions(chosen.pk, staff=access.is_mssp_staff),
        "library": custom_fields.library_for(chosen.pk),
        "types": FieldType.choices,
        "statuses": IncidentStatus.choices,
        "staff": access.is_mssp_staff,
        "values": values,
    }
    return render(request, "cases/custom_fields.html", context, status=status)


@portal_view
def field_edit(request, access, pk):
    field = _field(access, pk)
    if not custom_fields.may_manage(access, field.tenant_id):
        raise PermissionDenied(custom_fields.MANAGE_REFUSED)
    status = 200
    if request.method == "POST":
        data = _form_data(request.POST, staff=access.is_mssp_staff)
        data.pop("type", None) if request.POST.get("type") == field.type else None
        done, _saved = page_perform(
            request, actions.UPDATE_FIELD, access=access, target=field, data=data
        )
        if done:
            return HttpResponseRedirect(reverse("custom-fields") + f"?tenant={field.tenant.slug}")
        status = 400
        field = _field(access, pk)
    context = {
        "field": field,
        "types": FieldType.choices,
        "statuses": IncidentStatus.choices,
        "staff": access.is_mssp_staff,
        "in_use": custom_fields.in_use(field),
    }
    return render(request, "cases/custom_field_edit.html", context, status=status)


@require_POST
@portal_view
def incident_fields(request, access, pk):
    """The incident page's fields card: alerts.actions.SET_CUSTOM_FIELDS, as POST
    /api/v1/incidents/{id}/custom-fields/. Each input is named `cf.<key>`; an empty one clears."""
    incident = _incident(access, pk)
    values = {
        name[3:]: request.POST[name]
        for name in request.POST
        if name.startswith("cf.") and len(name) <= 60
    }
    page_perform(
        request,
        incident_actions.SET_CUSTOM_FIELDS,
        access=access,
        target=incident,
        data={"custom_fields": values},
    )
    return HttpResponseRedirect(reverse("incident", args=[incident.pk]) + "#fields-h")
