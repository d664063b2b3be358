"""Portal pages of threat intelligence: indicators (list, filters, add, revoke), imports (upload,
progress, per-record errors) and retro-hunts (progress, hits). For MSSP staff and customer
admins. Every write is an intel.actions Action, the one /api/v1/intel/ runs: the same rules
(intel.policy), serializers and services."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from alerts.models import Severity
from tenants.actions import Refused, page_perform
from tenants.api.pagination import paginate_page
from tenants.models import Tenant
from tenants.views import error_text, portal_view

from . import actions, parsing, policy, selectors
from .api.views import IndicatorFilter
from .models import Indicator, IndicatorImport, IndicatorType, Tlp

PAGE_SIZE = 50


def _page(request, queryset):
    try:
        page = paginate_page(request, queryset, "-id", page_size=PAGE_SIZE)
    except ApiValidationError:  # a cursor this list did not give out: the caller's mistake
        raise BadRequest("Not a page link this list gave out.") from None
    return page.rows, page.next_url


def _allowed(access) -> None:
    try:
        actions.check_uses_intel(access)
    except Refused as exc:
        raise PermissionDenied(exc.detail) from None


def _form_inputs(request) -> dict:
    """A form's filled-in inputs: an empty one is not given (the API's caller leaves it out)."""
    return {k: v for k, v in request.POST.items() if v != "" and k != "csrfmiddlewaretoken"}


def _common(access) -> dict:
    tenants = list(Tenant.objects.filter(pk__in=access.tenant_ids).order_by("name"))
    return {
        "tenants": tenants,
        "manageable": [t for t in tenants if policy.may_manage_tenant(access, t.pk)],
        "may_manage_global": policy.may_manage(access, None),
        "staff": access.is_mssp_staff,
        "types": IndicatorType.choices,
        "tlps": Tlp.choices,
        "severities": Severity.choices,
        "statuses": Indicator.Status.choices,
        "retro_days": settings.INTEL_RETRO_HUNT_DAYS,
    }


@portal_view
def indicators(request, access):
    _allowed(access)
    error = ""
    queryset = selectors.get_indicators(access).select_related("tenant")
    filtered = IndicatorFilter(request.GET, queryset=queryset, request=request)
    if filtered.is_valid():
        queryset = filtered.qs
    else:
        error = error_text(dict(filtered.errors))
        queryset = queryset.none()
    try:
        rows, next_url = _page(request, queryset)
    except Exception as exc:  # a malformed cursor (DRF's NotFound/ValidationError)
        error, rows, next_url = str(getattr(exc, "detail", exc)), [], None
    context = {
        **_common(access),
        "indicators": rows,
        "next_url": next_url,
        "params": request.GET,
        "error": error,
    }
    return render(request, "intel/indicator_list.html", context, status=400 if error else 200)


@require_POST
@portal_view
def indicator_add(request, access):
    _allowed(access)
    done, saved = page_perform(
        request, actions.INDICATOR_CREATE, access=access, target=None, data=_form_inputs(request)
    )
    if not done:
        return HttpResponseRedirect(reverse("intel"))
    return HttpResponseRedirect(reverse("intel-indicator", args=[saved.indicator.pk]))


def _indicator(access, pk) -> Indicator:
    indicator = selectors.get_indicators(access).select_related("tenant").filter(pk=pk).first()
    if indicator is None:
        raise Http404("No such indicator.")
    return indicator


@portal_view
def indicator_detail(request, access, pk):
    _allowed(access)
    indicator = _indicator(access, pk)
    matches = list(
        selectors.get_matches(access)
        .filter(indicator=indicator)
        .select_related("tenant")
        .order_by("-matched_at")[:100]
    )
    hunts = selectors.shown_to(
        list(selectors.get_hunts(access).filter(indicator=indicator).order_by("-id")[:20]), access
    )
    context = {
        "indicator": indicator,
        "matches": matches,
        "hunts": hunts,
        "may_manage": policy.may_manage(access, indicator.tenant_id),
    }
    return render(request, "intel/indicator_detail.html", context)


@require_POST
@portal_view
def indicator_revoke(request, access, pk):
    _allowed(access)
    indicator = _indicator(access, pk)
    page_perform(
        request,
        actions.INDICATOR_UPDATE,
        access=access,
        target=indicator,
        data={"status": Indicator.Status.REVOKED},
    )
    return HttpResponseRedirect(reverse("intel-indicator", args=[indicator.pk]))


# --- matches ---------------------------------------------------------------------------------
@require_POST
@portal_view
def match_raise(request, access, pk):
    """MSSP staff raise a match's incident to the match's severity by hand (the API's
    raise/ twin)."""
    try:  # a customer is refused whether or not they see the match
        actions.MATCH_RAISE.check(access, None)
    except Refused as exc:
        raise PermissionDenied(exc.detail) from None
    match = selectors.get_matches(access).filter(pk=pk).first()
    if match is None:
        raise Http404("No such match.")
    page_perform(request, actions.MATCH_RAISE, access=access, target=match)
    if match.incident_id:
        return HttpResponseRedirect(reverse("incident", args=[match.incident_id]))
    return HttpResponseRedirect(reverse("alert", args=[match.alert_id]))


# --- imports ---------------------------------------------------------------------------------
@portal_view
def imports(request, access):
    _allowed(access)
    status = 200
    if request.method == "POST":
        try:
            upload = _upload(request)
        except actions.ImportTooLarge as exc:
            messages.error(request, exc.detail)
            status = 413
        else:
            if upload is None:
                messages.error(request, "Choose a file to upload.")
                status = 400
            else:
                done, record = page_perform(
                    request,
                    actions.IMPORT_CREATE,
                    access=access,
                    target=upload,
                    data=_form_inputs(request),
                )
                if done:
                    return HttpResponseRedirect(reverse("intel-import", args=[record.pk]))
                status = 400
    rows, next_url = _page(request, selectors.get_imports(access).select_related("tenant"))
    context = {
        **_common(access),
        "imports": rows,
        "next_url": next_url,
        "formats": IndicatorImport.Format.choices,
        "max_kib": settings.INTEL_IMPORT_MAX_BYTES // 1024,
        "csv_columns": parsing.CSV_COLUMNS,
    }
    return render(request, "intel/import_list.html", context, status=status)


def _upload(request) -> actions.Upload | None:
    """The uploaded file, or None when there is none. Too large a list is refused before it
    is read."""
    actions.refuse_declared_too_large(request.META.get("CONTENT_LENGTH"))
    upload = request.FILES.get("file")
    if upload is None:
        return None
    actions.refuse_too_large(upload.size)
    return actions.Upload(upload.read(), upload.name or "")


@portal_view
def import_detail(request, access, pk):
    _allowed(access)
    record = selectors.get_imports(access).select_related("tenant").filter(pk=pk).first()
    if record is None:
        raise Http404("No such import.")
    hunts = selectors.shown_to(
        list(selectors.get_hunts(access).filter(indicator_import=record).order_by("-id")[:5]),
        access,
    )
    context = {"record": record, "hunts": hunts}
    if request.htmx and request.GET.get("fragment") == "progress":
        return render(request, "intel/_import_progress.html", context)
    return render(request, "intel/import_detail.html", context)


# --- retro-hunts -------------------------------------------------------------------------------
@portal_view
def hunts(request, access):
    _allowed(access)
    rows, next_url = _page(
        request, selectors.get_hunts(access).select_related("tenant", "indicator")
    )
    context = {"hunts": selectors.shown_to(rows, access), "next_url": next_url}
    return render(request, "intel/hunt_list.html", context)


@portal_view
def hunt_detail(request, access, pk):
    _allowed(access)
    hunt = (
        selectors.get_hunts(access)
        .select_related("tenant", "indicator", "indicator_import")
        .defer("indicator_import__content")
        .filter(pk=pk)
        .first()
    )
    if hunt is None:
        raise Http404("No such retro-hunt.")
    selectors.shown_to([hunt], access)
    hits = selectors.get_matches(access).filter(retro_hunt=hunt).select_related("tenant")
    context = {
        "hunt": hunt,
        "hits": list(hits.order_by("-matched_at")[:500]),
        "hit_count": hits.count(),
    }
    if request.htmx and request.GET.get("fragment") == "progress":
        return render(request, "intel/_hunt_progress.html", context)
    return render(request, "intel/hunt_detail.html", context)
