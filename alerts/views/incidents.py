"""Portal pages of the alerts app: the analyst console (the multi-customer queue), the incident
page, and the alert lists and pages that customers and analysts share.

Every page reads through the same filters, ordering, pagination (alerts.selectors), permission
rules (alerts.policy) and validation (the API's serializers) as the REST API, so a page offers
exactly what the API allows and shows the same rows."""

from __future__ import annotations

import json

from allauth.core.exceptions import ReauthenticationRequired
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from tenants.actions import Invalid, Refused, StepUpRequired, error_sentence, page_perform, perform
from tenants.api.pagination import paginate_page
from tenants.models import Tenant
from tenants.views import error_text, portal_view

from .. import actions, exports, policy, selectors, tlp
from ..api.filters import AlertFilter, IncidentFilter
from ..api.serializers import URGENCY_CHOICES
from ..extensions import decorate_incident_rows, incident_files
from ..intake.base import OBSERVABLE_TYPES
from ..models import (
    OPEN_STATUSES,
    Alert,
    Incident,
    IncidentObservable,
    IncidentStatus,
    ObservableTag,
    Resolution,
    Severity,
    SourceKind,
)
from ..selectors import QUEUE_COUNT_CAP, URGENCY, pin_list_filters
from ..services import TRANSITIONS

QUEUE_PAGE_SIZE = 50


def _back(request, default: str) -> HttpResponseRedirect:
    """Back to where the form was (the queue with its filters), never off-site."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = default
    return HttpResponseRedirect(target or default)


def _page(request, queryset, *, keyset: bool, count_cap: int | None = None, ordering=URGENCY):
    """One page of `queryset` by the API's pagination (the queue's urgency keyset, a custom
    field's, or the newest first): (rows, next page link, (count, capped) or None)."""
    if keyset:
        page = paginate_page(
            request, queryset, ordering, keyset=True, page_size=QUEUE_PAGE_SIZE, count_cap=count_cap
        )
        return page.rows, page.next_url, (page.count, page.count_is_capped)
    page = paginate_page(request, queryset, "-id", page_size=QUEUE_PAGE_SIZE)
    return page.rows, page.next_url, None


# --- incident lists: the analyst console and the customer's incidents ------------------------


def _incident_list(request, access, *, console: bool):
    params = request.GET.copy()
    if console and "status" not in params:
        params["status"] = "open"  # the queue: what still needs work
    tenants = list(Tenant.objects.filter(pk__in=access.tenant_ids).order_by("name"))
    queryset = selectors.get_incidents(access)
    error = ""
    try:
        filtered = IncidentFilter(params, queryset=queryset, request=request)
        ordering = URGENCY
        if not filtered.is_valid():
            error = error_text(dict(filtered.errors))
            queryset = queryset.none()
        else:
            queryset = pin_list_filters(params, request.user, filtered.qs)
            queryset, ordering = _by_custom_fields(params, queryset, access)
        incidents, next_url, count = _page(
            request,
            queryset.select_related("tenant", "owner", "owner_team", "source"),
            keyset=True,
            count_cap=QUEUE_COUNT_CAP,
            ordering=ordering,
        )
    except ApiValidationError as exc:
        error, incidents, next_url, count = error_text(exc), [], None, (0, False)
    decorate_incident_rows(incidents)  # what higher apps show per row (SLA countdowns)
    field_choices, field_keys = _custom_field_columns(params, incidents, access)
    context = {
        "console": console,
        "incidents": incidents,
        "next_url": next_url,
        "count": count,
        "error": error,
        "params": params,
        "tenants": tenants,
        "statuses": IncidentStatus.choices,
        "severities": Severity.choices,
        "source_kinds": SourceKind.choices,
        "may_act": access.is_mssp_staff,
        "may_open": access.is_mssp_staff or access.is_customer_worker,
        "bulk_statuses": [(s.value, s.label) for s in IncidentStatus if s != IncidentStatus.NEW],
        "resolutions": Resolution.choices,
        "custom_fields": field_choices,
        "field_columns": field_keys,
    }
    if request.htmx and request.GET.get("fragment") == "rows":
        return render(request, "alerts/_incident_rows.html", context)
    return render(request, "alerts/incident_list.html", context, status=400 if error else 200)


def _by_custom_fields(params, queryset, access):
    """?cf.<key>= filters and ?ordering=[-]cf.<key> as the API takes them (the filter form's
    field and value boxes say cf.<key>=value): the queryset and the keyset ordering it pages
    by."""
    from .. import custom_fields as custom_field_lists

    key, value = params.get("field", ""), params.get("field_value", "")
    if key and value and not params.get(f"cf.{key}"):
        params[f"cf.{key}"] = value
    queryset = custom_field_lists.filter_incidents(params, queryset, access)
    wanted = custom_field_lists.ordering(params, access)
    if wanted is None:
        return queryset, URGENCY
    return custom_field_lists.order_incidents(queryset, *wanted, access)


def _custom_field_columns(params, incidents, access) -> tuple[list, list]:
    """The fields the caller may filter and sort by, (key, label), and the labels of those the
    list is filtered or sorted by, shown as columns with each row's value
    (`incident.field_values`)."""
    from .. import custom_fields as custom_field_lists

    choices = custom_field_lists.choices(access)
    keys = [name[3:] for name in params if name.startswith("cf.")]
    ordering = params.get("ordering", "").lstrip("-")
    if ordering.startswith("cf.") and ordering[3:] not in keys:
        keys.append(ordering[3:])
    if not keys or not incidents:
        return choices, []
    values = custom_field_lists.values_for(incidents, access)
    for incident in incidents:
        incident.field_values = [values[incident.pk].get(key) for key in keys]
    labels = dict(choices)
    return choices, [labels.get(key, key) for key in keys]


@portal_view
def console(request, access):
    if not access.is_mssp_staff:
        raise PermissionDenied("The queue is for MSSP staff; your incidents are under Incidents.")
    return _incident_list(request, access, console=True)


@portal_view
def incidents(request, access):
    return _incident_list(request, access, console=False)


@portal_view
def incidents_export(request, access):
    """The list as a file (actions.EXPORT_INCIDENTS, as the export API): the list's filters
    from the query string and `format` csv or json. Step-up: allauth asks for the second
    factor and comes back here; a bad filter is the list again, with why (400)."""
    try:
        plan = perform(
            actions.EXPORT_INCIDENTS,
            access=access,
            target=None,
            data=request.GET,
            actor=request.user,
            request=request,
        )
    except StepUpRequired:
        raise ReauthenticationRequired() from None
    except Refused as exc:
        raise PermissionDenied(error_sentence(exc.detail)) from None
    except Invalid as exc:
        if exc.status_code == 404:
            raise Http404(error_sentence(exc.detail)) from None
        messages.error(request, f"Not exported: {error_sentence(exc.detail)}")
        page = _incident_list(request, access, console=access.is_mssp_staff)
        page.status_code = 400
        return page
    return exports.response(plan, request)


@require_POST
@portal_view
def bulk(request, access):
    """The queue's bulk actions (actions.BULK, as the bulk API): each chosen incident reports
    done or its own error; one the caller cannot see reads 'not found'."""
    default = reverse("console")
    ids = request.POST.getlist("ids")
    if not ids:  # the same rule as the API's (at least one id), said for this form
        messages.error(request, "Choose at least one incident (the boxes in the first column).")
        return _back(request, default)
    data = {"ids": ids, "action": request.POST.get("action", "")}
    for name in ("status", "reason", "resolution", "owner"):  # the form sends them all, blank
        if request.POST.get(name):
            data[name] = request.POST[name]
    visible = selectors.get_incidents(access).select_related("tenant")
    done, result = page_perform(request, actions.BULK, access=access, target=visible, data=data)
    if done:
        _bulk_failures(request, result)
    return _back(request, default)


def _bulk_failures(request, result: actions.BulkResult) -> None:
    """One message a failed incident (the first ten); those not found in one line."""
    failed = [o for o in result.outcomes if not o.ok and o.incident is not None]
    missing = sum(1 for o in result.outcomes if o.incident is None)
    for outcome in failed[:10]:
        messages.error(request, f"{outcome.incident.title}: {outcome.error}")
    if len(failed) > 10:
        messages.error(request, f"…and {len(failed) - 10} more not changed.")
    if missing:
        messages.error(request, f"{missing} incident(s) not found: not changed.")


# --- one incident ----------------------------------------------------------------------------


def _incident(access, pk) -> Incident:
    incident = (
        selectors.get_incidents(access)
        .select_related("tenant", "owner", "owner_team", "source", "merged_into")
        .filter(pk=pk)
        .first()
    )
    if incident is None:
        raise Http404("No such incident.")
    return incident


@portal_view
def incident_detail(request, access, pk):
    incident = _incident(access, pk)
    staff = access.is_mssp_staff
    alerts = list(
        Alert.objects.for_tenant(incident.tenant_id)
        .filter(incident=incident)
        .select_related("source")
        .order_by("-id")[:100]
    )
    for alert in alerts:
        alert.raw_text = json.dumps(alert.raw, indent=2, sort_keys=True, default=str)[:100_000]
    live = bool(request.htmx) and request.GET.get("fragment") == "live"
    # the live part (refreshed on every event of the incident) shows none of these
    observables = [] if live else _observables(access, incident)
    # The same reads as the post-incident report's customer-facing facts (reports).
    timeline = selectors.get_timeline(access, incident)
    comments = selectors.get_comments(access, incident)
    workable = policy.can_work(access, incident)
    context = {
        "incident": incident,
        "alerts": alerts,
        "observables": observables,
        "timeline": list(timeline.order_by("-at", "-id")[:500]),
        "comments": list(comments[:500]),
        "containment": list(incident.containment.order_by("at", "id")),
        "staff": staff,
        "workable": workable,
        "commentable": access.works,
        "next_statuses": [
            (status, IncidentStatus(status).label)
            for status in sorted(TRANSITIONS.get(incident.status, ()))
        ]
        if workable
        else [],
        "resolutions": Resolution.choices,
        "containment_results": incident.containment.model.Result.choices,
        "is_open": incident.status in OPEN_STATUSES,
        "promotable": _promotable(incident) if staff and workable else [],
        "may_add_observable": policy.can_add_observable(access, incident),
        "observable_types": OBSERVABLE_TYPES,
        "observable_tags": ObservableTag.choices,
        "tags_for_customer": [("", "Untagged"), ("sighted", "Sighted")],
        "similar": [] if live else selectors.get_similar(access, incident),
        "similar_elsewhere": []
        if live
        else selectors.get_similar(access, incident, elsewhere=True),
        "similar_days": selectors.SIMILAR_DAYS,
    }
    if live:
        return render(request, "alerts/_incident_live.html", context)
    return render(request, "alerts/incident_detail.html", context)


def _observables(access, incident: Incident) -> list:
    """The incident's observables (those the caller may see) with their sightings at this
    customer and, for MSSP staff, at the other customers they work."""
    rows = selectors.get_observables(access, incident)
    keys = [row.key for row in rows]
    sightings = selectors.get_sightings(access, incident, keys)
    comparable = [row.key for row in rows if tlp.pap_allows(row.pap, tlp.Use.CROSS_CUSTOMER)]
    elsewhere = selectors.get_sightings_elsewhere(access, incident, comparable)
    for row in rows:
        row.sightings = sightings.get(row.key)
        row.elsewhere = elsewhere.get(row.key)
        row.may_change = _may(policy.check_change_observable, access, row)
        row.may_remove = _may(policy.check_remove_observable, access, row)
        row.may_note = row.may_change and _may(policy.observable_note, access, row)
    return rows


def _may(check, access, row) -> bool:
    try:
        check(access, row)
    except Refused:
        return False
    return True


@require_POST
@portal_view
def observable_add(request, access, pk):
    """Add an observable (actions.ADD_OBSERVABLE, as POST /api/v1/incidents/{id}/observables/)."""
    incident = _incident(access, pk)
    data = {
        k: request.POST[k]
        for k in ("type", "value", "tag", "note", "visibility", "tlp", "pap")
        if k in request.POST
    }
    if not access.is_mssp_staff:
        data.pop("visibility", None)  # not offered to a customer: the API refuses internal
    page_perform(request, actions.ADD_OBSERVABLE, access=access, target=incident, data=data)
    return _back(request, reverse("incident", args=[incident.pk]) + "#obs-h")


def _observable(access, incident: Incident, oid) -> IncidentObservable:
    rows = IncidentObservable.objects.for_tenant(incident.tenant_id).filter(incident=incident)
    row = (
        policy.visible_observables(access, rows)
        .select_related("incident__tenant")
        .filter(pk=oid)
        .first()
    )
    if row is None:
        raise Http404("No such observable.")
    return row


@require_POST
@portal_view
def observable_edit(request, access, pk, oid):
    """Tag, note or share one (actions.EDIT_OBSERVABLE, as PATCH .../observables/{oid}/): the
    form sends only what it offers the caller."""
    incident = _incident(access, pk)
    row = _observable(access, incident, oid)
    data = {k: request.POST[k] for k in ("tag", "note", "visibility") if k in request.POST}
    page_perform(request, actions.EDIT_OBSERVABLE, access=access, target=row, data=data)
    return _back(request, reverse("incident", args=[incident.pk]) + "#obs-h")


@require_POST
@portal_view
def observable_remove(request, access, pk, oid):
    incident = _incident(access, pk)
    row = _observable(access, incident, oid)
    page_perform(request, actions.REMOVE_OBSERVABLE, access=access, target=row, data={})
    return _back(request, reverse("incident", args=[incident.pk]) + "#obs-h")


# The incident page's and the queue's buttons post `action` to incident_act.
ACT = {action.name: action for action in (actions.ACKNOWLEDGE, actions.CLAIM, actions.TRANSITION)}


@require_POST
@portal_view
def incident_act(request, access, pk):
    """Acknowledge, claim or change the status of one incident (the queue's row buttons and
    the incident page's forms)."""
    incident = _incident(access, pk)
    action = ACT.get(request.POST.get("action", ""))
    if action is None:
        messages.error(request, "Unknown action.")
    else:
        page_perform(request, action, access=access, target=incident)
    return _back(request, reverse("incident", args=[incident.pk]))


@require_POST
@portal_view
def incident_comment(request, access, pk):
    incident = _incident(access, pk)
    data = request.POST
    if not access.is_mssp_staff:
        # The form offers a customer no choice of visibility (their comments are shared): one
        # sent anyway is ignored here, where the API refuses it.
        data = data.copy()
        data.pop("visibility", None)
    page_perform(request, actions.COMMENT, access=access, target=incident, data=data)
    return _back(request, reverse("incident", args=[incident.pk]))


@require_POST
@portal_view
def incident_contain(request, access, pk):
    incident = _incident(access, pk)
    page_perform(request, actions.CONTAIN, access=access, target=incident)
    return _back(request, reverse("incident", args=[incident.pk]))


@require_POST
@portal_view
def incident_promote(request, access, pk):
    """Move chosen alerts of this incident's customer into it (actions.PROMOTE, as POST
    /api/v1/incidents/{id}/promote/)."""
    incident = _incident(access, pk)
    data = {"alerts": request.POST.getlist("alerts")}
    if not data["alerts"]:
        messages.error(request, "Choose at least one alert to add.")
    else:
        page_perform(request, actions.PROMOTE, access=access, target=incident, data=data)
    return _back(request, reverse("incident", args=[incident.pk]))


def _promotable(incident: Incident) -> list[Alert]:
    """The customer's latest alerts not in this incident, for the promote form."""
    return list(
        Alert.objects.for_tenant(incident.tenant_id)
        .exclude(incident=incident)
        .select_related("incident")
        .order_by("-id")[:20]
    )


NEW_FIELDS = (
    "tenant",
    "title",
    "description",
    "occurred_at",
    "category",
    "urgency",
    "severity",
    "affected_assets",
    "affected_people",
    "tlp",
    "pap",
)


@csrf_exempt  # checked in _incident_new, once the files' upload handler is in place
def incident_new(request):
    """Raise an incident, with files (kept as its evidence) if any are chosen. A body declared
    larger than the files may be is refused before it is read: nothing raised, the form again."""
    keeper = incident_files()
    if request.method == "POST" and keeper is not None:
        refused = keeper.before_body(request)
        if refused:
            messages.error(request, refused)
            return HttpResponseRedirect(reverse("incident-new"))
    return _incident_new(request)


@csrf_protect
@portal_view
def _incident_new(request, access):
    """Raise an incident (a customer's responders and admins) or open one by hand (MSSP staff
    for a tenant they work): actions.OPEN_INCIDENT, as POST /api/v1/incidents/."""
    if not access.is_mssp_staff and not access.is_customer_worker:
        raise PermissionDenied(policy.NO_OPENING)
    tenants = list(Tenant.objects.filter(pk__in=access.tenant_ids).order_by("name"))
    status = 200
    if request.method == "POST":
        data = {name: request.POST[name] for name in NEW_FIELDS if request.POST.get(name)}
        data |= _posted_custom_fields(request.POST, access)
        if not access.is_mssp_staff:
            data.pop("severity", None)  # not offered to a customer: the API refuses it
        try:
            tenant = actions.tenant_for_new_incident(access, data.get("tenant"))
        except actions.Invalid as exc:
            messages.error(request, actions.error_sentence(exc.detail))
            status = 400
        else:
            data |= _attachments(request, access)
            keeper = incident_files()
            cut_short = keeper.cut_short(request) if keeper is not None else ""
            if cut_short:
                messages.error(request, cut_short)
                status = 413
            else:
                done, incident = page_perform(
                    request,
                    actions.OPEN_INCIDENT_WITH_FILES,
                    access=access,
                    target=tenant,
                    data=data,
                )
                if done:
                    return HttpResponseRedirect(reverse("incident", args=[incident.pk]))
                status = 400
    context = {
        "tenants": tenants,
        "staff": access.is_mssp_staff,
        "values": request.POST if request.method == "POST" else {},
        "urgencies": URGENCY_CHOICES,
        "severities": Severity.choices,
        "categories": CATEGORY_SUGGESTIONS,
        "files_hint": keeper.hint() if (keeper := incident_files()) is not None else "",
    }
    return render(request, "alerts/incident_new.html", context, status=status)


def _attachments(request, access) -> dict:
    """The raise form's files (and, for MSSP staff, who sees them), as the action takes them."""
    files = request.FILES.getlist("attachments")  # the body is read here at the latest
    if not files:
        return {}
    found: dict = {"attachments": files}
    if access.is_mssp_staff and request.POST.get("attachment_visibility"):
        found["attachment_visibility"] = request.POST["attachment_visibility"]
    return found


# What the new-incident form suggests (any category is taken; a case template matches it).
CATEGORY_SUGGESTIONS = (
    "phishing",
    "ransomware",
    "account_compromise",
    "ddos",
    "malware",
    "data_leak",
    "other",
)


def _posted_custom_fields(post, access) -> dict:
    """The form's custom field inputs (the panel cases registers in "incident.new"): `cf.<key>`
    for a customer's own tenant, `cf.<slug>.<key>` for MSSP staff, who choose the customer in
    the same form; only the chosen customer's are sent, empty ones left out."""
    prefix = "cf." if not access.is_mssp_staff else f"cf.{post.get('tenant', '')}."
    values = {
        name[len(prefix) :]: post[name]
        for name in post
        if name.startswith(prefix) and "." not in name[len(prefix) :] and post[name].strip()
    }
    return {"custom_fields": values} if values else {}


# --- alerts ----------------------------------------------------------------------------------


@portal_view
def alerts(request, access):
    queryset = tlp.visible_alerts(access, Alert.objects.for_tenants(access.tenant_ids))
    error = ""
    try:
        filtered = AlertFilter(request.GET, queryset=queryset, request=request)
        if not filtered.is_valid():
            error = error_text(dict(filtered.errors))
            queryset = queryset.none()
        else:
            queryset = filtered.qs
        rows, next_url, _ = _page(
            request, queryset.select_related("tenant", "source"), keyset=False
        )
    except ApiValidationError as exc:
        error, rows, next_url = error_text(exc), [], None
    context = {
        "alerts": rows,
        "next_url": next_url,
        "error": error,
        "params": request.GET,
        "tenants": list(Tenant.objects.filter(pk__in=access.tenant_ids).order_by("name")),
        "severities": Severity.choices,
        "source_kinds": SourceKind.choices,
    }
    if request.htmx and request.GET.get("fragment") == "rows":
        return render(request, "alerts/_alert_rows.html", context)
    return render(request, "alerts/alert_list.html", context, status=400 if error else 200)


@portal_view
def alert_detail(request, access, pk):
    alert = (
        tlp.visible_alerts(access, Alert.objects.for_tenants(access.tenant_ids))
        .select_related("tenant", "source", "incident")
        .filter(pk=pk)
        .first()
    )
    if alert is None:
        raise Http404("No such alert.")
    raw = json.dumps(alert.raw, indent=2, sort_keys=True, default=str)
    return render(request, "alerts/alert_detail.html", {"alert": alert, "raw_text": raw})
