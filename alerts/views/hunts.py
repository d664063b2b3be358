"""The hunts pages (MSSP staff): saved hunts, one hunt's query, runs and hits, and opening an
incident from a hit. Each change is the API's action (alerts.hunts): the same check, the same
serializer (the form is posted as the API's body, see _form_data) and the same write."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import JSONField, OuterRef, Subquery
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from tenants.actions import page_perform
from tenants.api.pagination import paginate_page
from tenants.models import Tenant
from tenants.views import error_text, portal_view

from ..hunts import (
    CREATE_HUNT,
    DELETE_HUNT,
    HUNTS_ARE_FOR_STAFF,
    OBSERVABLE_TYPES,
    OPEN_INCIDENT_FROM_ALERT,
    RUN_HUNT,
    UPDATE_HUNT,
    HuntSerializer,
    hunt_alerts,
    hunts_for,
    run_counts,
    viewer_slugs,
)
from ..models import Alert, Hunt, HuntRun, Severity, SourceKind


def _staff_only(access) -> None:
    """The pages' reads; what may be changed is each action's check (alerts.hunts)."""
    if not access.is_mssp_staff:
        raise PermissionDenied(HUNTS_ARE_FOR_STAFF)


def _form_data(post) -> dict:
    """The page's form as the API's body."""
    query = {
        "q": post.get("q", ""),
        "severity": post.getlist("severity"),
        "source_kind": post.get("source_kind", ""),
        "category": post.get("category", ""),
        "rule": post.get("rule", ""),
        "mitre": post.get("mitre", "").strip(),
        "observable_type": post.get("observable_type", ""),
        "observable_value": post.get("observable_value", ""),
        "tenants": post.getlist("tenants"),
    }
    return {
        "name": post.get("name", ""),
        "description": post.get("description", ""),
        "query": query,
        "lookback_days": post.get("lookback_days") or 7,
        "shared": post.get("shared") == "on",
        "schedule": post.get("schedule", ""),
    }


def _form_context(data: dict) -> dict:
    """What _hunt_form.html shows: a hunt's fields, or a posted form's."""
    return {
        "q": data.get("query", {}),
        "name": data.get("name", ""),
        "description": data.get("description", ""),
        "lookback": data.get("lookback_days", 7),
        "schedule": data.get("schedule", ""),
        "shared": data.get("shared", False),
    }


def _choices(access) -> dict:
    return {
        "tenants": list(Tenant.objects.filter(pk__in=access.tenant_ids).order_by("name")),
        "severities": Severity.choices,
        "source_kinds": SourceKind.choices,
        "observable_types": OBSERVABLE_TYPES,
        "schedules": Hunt.Schedule.choices,
    }


@portal_view
def hunts(request, access):
    _staff_only(access)
    form, status = {}, 200
    if request.method == "POST":
        form = _form_data(request.POST)
        done, hunt = page_perform(request, CREATE_HUNT, access=access, target=None, data=form)
        if done:
            return redirect("hunt", pk=hunt.pk)
        status = 400  # the message above the form says why
    latest = HuntRun.objects.filter(hunt=OuterRef("pk"), status="done").order_by("-started_at")
    rows = list(
        hunts_for(access)
        .select_related("owner")
        .annotate(
            last_run_at=Subquery(latest.values("started_at")[:1]),
            last_per_tenant=Subquery(latest.values("per_tenant")[:1], output_field=JSONField()),
        )
        .order_by("name")
    )
    mine = viewer_slugs(access)
    for hunt in rows:  # the viewer's own tenants only, whoever ran it
        hunt.last_hits = sum(n for slug, n in (hunt.last_per_tenant or {}).items() if slug in mine)
    context = {"hunts": rows, **_form_context(form), **_choices(access)}
    return render(request, "alerts/hunts.html", context, status=status)


def _hunt(access, pk) -> Hunt:
    hunt = hunts_for(access).select_related("owner").filter(pk=pk).first()
    if hunt is None:
        raise Http404("No such hunt.")
    return hunt


@portal_view
def hunt_detail(request, access, pk):
    _staff_only(access)
    hunt = _hunt(access, pk)
    error, status, posted = "", 200, None
    if request.method == "POST":
        posted = _form_data(request.POST)
        done, _ = page_perform(request, UPDATE_HUNT, access=access, target=hunt, data=posted)
        if done:
            return redirect("hunt", pk=hunt.pk)
        status = 400  # the message above the form says why
    alerts = hunt_alerts(access, hunt.query, hunt.lookback_days).select_related(
        "tenant", "source", "incident"
    )
    try:
        page = paginate_page(request, alerts, "-id")
        hits, next_url = page.rows, page.next_url
    except ApiValidationError as exc:
        hits, next_url, error, status = [], None, error_text(exc), 400
    runs = list(hunt.runs.select_related("run_by")[:10])
    mine = viewer_slugs(access)
    for run in runs:  # every count over the viewer's tenants only, whoever ran it
        counts = run_counts(run, mine)
        run.visible, run.visible_hits = counts["per_tenant"], counts["hits"]
        run.visible_new_hits = counts["new_hits"]
    shown = posted if posted is not None else HuntSerializer(hunt).data  # a refused form, again
    context = {
        **_form_context(shown),
        "hunt": hunt,
        "hits": hits,
        "next_url": next_url,
        "runs": runs,
        "error": error,
        "mine": hunt.owner_id == request.user.pk,
        **_choices(access),
    }
    return render(request, "alerts/hunt_detail.html", context, status=status)


@require_POST
@portal_view
def hunt_run_now(request, access, pk):
    _staff_only(access)
    page_perform(request, RUN_HUNT, access=access, target=_hunt(access, pk), data={})
    return redirect("hunt", pk=pk)


@require_POST
@portal_view
def hunt_delete(request, access, pk):
    _staff_only(access)
    done, _ = page_perform(request, DELETE_HUNT, access=access, target=_hunt(access, pk), data={})
    return redirect("hunts") if done else redirect("hunt", pk=pk)


@require_POST
@portal_view
def alert_open_incident(request, access, pk):
    """A hunt's hit: the alert's open incident, or a new one in its tenant."""
    _staff_only(access)
    alert = Alert.objects.for_tenants(access.tenant_ids).filter(pk=pk).first()
    if alert is None:
        raise Http404("No such alert.")
    done, result = page_perform(request, OPEN_INCIDENT_FROM_ALERT, access=access, target=alert)
    if not done:
        return redirect("hunts")
    incident, _created = result
    return redirect("incident", pk=incident.pk)
