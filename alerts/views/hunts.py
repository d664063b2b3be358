"""The hunts pages (MSSP staff): saved hunts, one hunt's query, runs and hits, and opening an
incident from a hit. Same validation (HuntQuery), query (alerts.hunts) and rules as the API."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import JSONField, OuterRef, Subquery
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from tenants import audit
from tenants.api.pagination import paginate_page
from tenants.models import Tenant
from tenants.views import error_text, portal_view

from .. import services
from ..api.hunts import HuntSerializer
from ..hunts import (
    OBSERVABLE_TYPES,
    hunt_alerts,
    hunt_run,
    hunts_for,
    run_counts,
    schedule_next,
    viewer_slugs,
)
from ..models import Alert, Hunt, HuntRun, Severity, SourceKind


def _staff_only(access) -> None:
    if not access.is_mssp_staff:
        raise PermissionDenied("Hunts are for MSSP staff.")


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
    form, error, status = {}, "", 200
    if request.method == "POST":
        form = _form_data(request.POST)
        serializer = HuntSerializer(data=form)
        if serializer.is_valid():
            hunt = serializer.save(owner=request.user)
            schedule_next(hunt)
            hunt.save(update_fields=["next_run_at"])
            audit.record("hunt.created", obj=hunt, request=request, summary=hunt.name)
            messages.success(request, f"Hunt “{hunt.name}” saved.")
            return redirect("hunt", pk=hunt.pk)
        error, status = error_text(serializer.errors), 400
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
    context = {"hunts": rows, "error": error, **_form_context(form), **_choices(access)}
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
    error, status, posted = "", 200, {}
    if request.method == "POST":
        if hunt.owner_id != request.user.pk:
            raise PermissionDenied("Only its owner changes a hunt; you may run it.")
        posted = _form_data(request.POST)
        serializer = HuntSerializer(hunt, data=posted)
        if serializer.is_valid():
            hunt = serializer.save()
            schedule_next(hunt)
            hunt.save(update_fields=["next_run_at"])
            audit.record("hunt.updated", obj=hunt, request=request, summary=hunt.name)
            messages.success(request, "Hunt saved.")
            return redirect("hunt", pk=hunt.pk)
        error, status = error_text(serializer.errors), 400
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
    shown = posted if error else HuntSerializer(hunt).data
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
    run = hunt_run(_hunt(access, pk), access)
    counts = run_counts(run, viewer_slugs(access))
    messages.success(
        request, f"Run: {counts['hits']} hit(s), {counts['new_hits']} new since the last run."
    )
    return redirect("hunt", pk=pk)


@require_POST
@portal_view
def hunt_delete(request, access, pk):
    _staff_only(access)
    hunt = _hunt(access, pk)
    if hunt.owner_id != request.user.pk:
        raise PermissionDenied("Only its owner deletes a hunt.")
    audit.record("hunt.deleted", obj=hunt, request=request, summary=hunt.name)
    hunt.delete()
    messages.success(request, f"Hunt “{hunt.name}” deleted.")
    return redirect("hunts")


@require_POST
@portal_view
def alert_open_incident(request, access, pk):
    """A hunt's hit: the alert's open incident, or a new one in its tenant."""
    _staff_only(access)
    alert = Alert.objects.for_tenants(access.tenant_ids).filter(pk=pk).first()
    if alert is None:
        raise Http404("No such alert.")
    with transaction.atomic():
        incident, created = services.incident_open_for_alert(alert, actor=request.user)
    if created:
        messages.success(request, f"Incident opened in {incident.tenant.name}.")
    else:
        messages.info(request, "This alert already belongs to an open incident.")
    return redirect("incident", pk=incident.pk)
