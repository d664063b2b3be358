"""Portal pages of the alerts app: the analyst console (the multi-customer queue), the incident
page, and the alert lists and pages that customers and analysts share.

Every page reads through the same filters, ordering, pagination (alerts.selectors), permission
rules (alerts.policy) and validation (the API's serializers) as the REST API, so a page offers
exactly what the API allows and shows the same rows."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from tenants.api.pagination import paginate_page
from tenants.models import Tenant
from tenants.views import error_text, portal_view

from .. import policy, services
from ..api.filters import AlertFilter, IncidentFilter
from ..api.serializers import (
    BulkSerializer,
    CommentCreateSerializer,
    ContainmentSerializer,
    TransitionSerializer,
)
from ..extensions import decorate_incident_rows
from ..models import (
    OPEN_STATUSES,
    Alert,
    Incident,
    IncidentEvent,
    IncidentStatus,
    Resolution,
    Severity,
    SourceKind,
    Visibility,
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


def _page(request, queryset, *, keyset: bool, count_cap: int | None = None):
    """One page of `queryset` by the API's pagination (the queue's urgency keyset, or the
    newest first): (rows, next page link, (count, capped) or None)."""
    if keyset:
        page = paginate_page(
            request, queryset, URGENCY, keyset=True, page_size=QUEUE_PAGE_SIZE, count_cap=count_cap
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
    queryset = Incident.objects.for_tenants(access.tenant_ids)
    error = ""
    try:
        filtered = IncidentFilter(params, queryset=queryset, request=request)
        if not filtered.is_valid():
            error = error_text(dict(filtered.errors))
            queryset = queryset.none()
        else:
            queryset = pin_list_filters(params, request.user, filtered.qs)
        incidents, next_url, count = _page(
            request,
            queryset.select_related("tenant", "owner", "owner_team", "source"),
            keyset=True,
            count_cap=QUEUE_COUNT_CAP,
        )
    except ApiValidationError as exc:
        error, incidents, next_url, count = error_text(exc), [], None, (0, False)
    decorate_incident_rows(incidents)  # what higher apps show per row (SLA countdowns)
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
        "bulk_statuses": [(s.value, s.label) for s in IncidentStatus if s != IncidentStatus.NEW],
        "resolutions": Resolution.choices,
    }
    if request.htmx and request.GET.get("fragment") == "rows":
        return render(request, "alerts/_incident_rows.html", context)
    return render(request, "alerts/incident_list.html", context, status=400 if error else 200)


@portal_view
def console(request, access):
    if not access.is_mssp_staff:
        raise PermissionDenied("The queue is for MSSP staff; your incidents are under Incidents.")
    return _incident_list(request, access, console=True)


@portal_view
def incidents(request, access):
    return _incident_list(request, access, console=False)


@require_POST
@portal_view
def bulk(request, access):
    """The queue's bulk actions: each chosen incident reports done or its own error, as the
    bulk API does; one that the caller cannot see reads 'not found'."""
    default = reverse("console")
    data = {"ids": request.POST.getlist("ids"), "action": request.POST.get("action", "")}
    for field in ("status", "reason", "resolution"):  # the form sends them for every action
        if request.POST.get(field):
            data[field] = request.POST[field]
    serializer = BulkSerializer(data=data)
    if not serializer.is_valid():
        if not data["ids"]:
            messages.error(request, "Choose at least one incident (the boxes in the first column).")
        else:
            messages.error(request, error_text(serializer.errors))
        return _back(request, default)
    data = serializer.validated_data
    if data["action"] == "assign":
        messages.error(request, "Assign one incident at a time from its page.")
        return _back(request, default)
    found = {
        i.pk: i
        for i in Incident.objects.for_tenants(access.tenant_ids)
        .select_related("tenant")
        .filter(pk__in=data["ids"])
    }
    done, failed = 0, []
    for incident_id in data["ids"]:
        incident = found.get(incident_id)
        try:
            if incident is None:
                raise services.WorkflowError("not found")
            if not policy.can_work(access, incident):
                raise services.WorkflowError("you may read it but not change it")
            with transaction.atomic():
                services.incident_bulk_action(
                    incident,
                    data["action"],
                    actor=request.user,
                    status=data.get("status", ""),
                    reason=data.get("reason", ""),
                    resolution=data.get("resolution", ""),
                )
            done += 1
        except services.WorkflowError as exc:
            failed.append(f"{incident.title if incident else incident_id}: {exc}")
    if done:
        messages.success(request, f"{data['action'].capitalize()}: {done} incident(s) done.")
    for line in failed[:10]:
        messages.error(request, line)
    if len(failed) > 10:
        messages.error(request, f"…and {len(failed) - 10} more not changed.")
    return _back(request, default)


# --- one incident ----------------------------------------------------------------------------


def _incident(access, pk) -> Incident:
    incident = (
        Incident.objects.for_tenants(access.tenant_ids)
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
    observables = _observables(alerts)
    timeline = IncidentEvent.objects.for_tenant(incident.tenant_id).filter(incident=incident)
    comments = incident.comments.order_by("created_at", "id")
    if not staff:
        timeline = timeline.filter(visibility=Visibility.SHARED)
        comments = comments.filter(visibility=Visibility.SHARED)
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
    }
    if request.htmx and request.GET.get("fragment") == "live":
        return render(request, "alerts/_incident_live.html", context)
    return render(request, "alerts/incident_detail.html", context)


def _observables(alerts: list[Alert]) -> list[dict]:
    """The incident's observables, each once, with how many of its alerts carry it."""
    seen: dict[tuple[str, str], int] = {}
    for alert in alerts:
        for item in alert.observables or []:
            if isinstance(item, dict) and item.get("type") and item.get("value"):
                key = (str(item["type"]), str(item["value"]))
                seen[key] = seen.get(key, 0) + 1
    return [
        {"type": kind, "value": value, "alerts": n}
        for (kind, value), n in sorted(seen.items(), key=lambda kv: (kv[0][0], kv[0][1]))
    ]


def _workable_incident(access, pk) -> Incident:
    incident = _incident(access, pk)
    if not policy.can_work(access, incident):
        raise PermissionDenied("You may read this incident but not change it.")
    return incident


def _run(request, change, done: str) -> None:
    try:
        with transaction.atomic():
            change()
    except services.WorkflowError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)


@require_POST
@portal_view
def incident_act(request, access, pk):
    """Acknowledge, claim or change the status of one incident (the queue's row buttons and
    the incident page's forms)."""
    incident = _workable_incident(access, pk)
    default = reverse("incident", args=[incident.pk])
    action = request.POST.get("action", "")
    if action == "acknowledge":
        _run(
            request,
            lambda: services.incident_acknowledge(incident, actor=request.user),
            f"Acknowledged: {incident.title}",
        )
    elif action == "claim":
        _run(
            request,
            lambda: services.incident_assign(incident, actor=request.user, owner=request.user),
            f"You own: {incident.title}",
        )
    elif action == "transition":
        serializer = TransitionSerializer(data=request.POST)
        if not serializer.is_valid():
            messages.error(request, error_text(serializer.errors))
            return _back(request, default)
        data = serializer.validated_data
        _run(
            request,
            lambda: services.incident_transition(
                incident,
                data["status"],
                actor=request.user,
                reason=data.get("reason", ""),
                resolution=data.get("resolution", ""),
            ),
            f"Status changed to {dict(IncidentStatus.choices).get(data['status'], '')}.",
        )
    else:
        messages.error(request, "Unknown action.")
    return _back(request, default)


@require_POST
@portal_view
def incident_comment(request, access, pk):
    incident = _incident(access, pk)
    if not access.works:
        raise PermissionDenied("Your role reads incidents but does not comment.")
    serializer = CommentCreateSerializer(data=request.POST)
    if not serializer.is_valid():
        messages.error(request, error_text(serializer.errors))
        return _back(request, reverse("incident", args=[incident.pk]))
    data = serializer.validated_data
    # Customers always post shared comments; MSSP staff default to internal (as the API).
    visibility = data.get("visibility", Visibility.INTERNAL) if access.is_mssp_staff else "shared"
    _run(
        request,
        lambda: services.incident_comment(
            incident, author=request.user, body=data["body"], visibility=visibility
        ),
        "Comment added, internal: the customer does not see it."
        if visibility == Visibility.INTERNAL
        else "Comment added, shared with the customer.",
    )
    return _back(request, reverse("incident", args=[incident.pk]))


@require_POST
@portal_view
def incident_contain(request, access, pk):
    incident = _workable_incident(access, pk)
    serializer = ContainmentSerializer(data=request.POST)
    if not serializer.is_valid():
        messages.error(request, error_text(serializer.errors))
        return _back(request, reverse("incident", args=[incident.pk]))
    data = serializer.validated_data
    _run(
        request,
        lambda: services.incident_contain(
            incident,
            actor=request.user,
            action=data["action"],
            target=data["target"],
            result=data.get("result", "pending"),
            notes=data.get("notes", ""),
        ),
        f"Containment recorded: {data['action']} on {data['target']}.",
    )
    return _back(request, reverse("incident", args=[incident.pk]))


# --- alerts ----------------------------------------------------------------------------------


@portal_view
def alerts(request, access):
    queryset = Alert.objects.for_tenants(access.tenant_ids)
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
        Alert.objects.for_tenants(access.tenant_ids)
        .select_related("tenant", "source", "incident")
        .filter(pk=pk)
        .first()
    )
    if alert is None:
        raise Http404("No such alert.")
    raw = json.dumps(alert.raw, indent=2, sort_keys=True, default=str)
    return render(request, "alerts/alert_detail.html", {"alert": alert, "raw_text": raw})
