"""Portal pages of threat intelligence: indicators (list, filters, add, revoke), imports (upload,
progress, per-record errors) and retro-hunts (progress, hits). For MSSP staff and customer
admins; the same rules, serializers and services as /api/v1/intel/."""

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
from tenants.api.pagination import paginate_page
from tenants.models import Tenant
from tenants.views import error_text, portal_view

from . import parsing, selectors, services
from .api.serializers import ImportUploadSerializer, IndicatorCreateSerializer
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
    if not services.may_use_intel(access):
        raise PermissionDenied("Threat intelligence is managed by MSSP staff and customer admins.")


def _common(access) -> dict:
    tenants = list(Tenant.objects.filter(pk__in=access.tenant_ids).order_by("name"))
    return {
        "tenants": tenants,
        "manageable": [t for t in tenants if services.may_manage_tenant(access, t.pk)],
        "may_manage_global": services.may_manage_global(access),
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
    data = {k: v for k, v in request.POST.items() if v != "" and k != "csrfmiddlewaretoken"}
    slug = ""
    if access.is_customer:
        slug = Tenant.objects.get(pk=access.customer_tenant_id).slug
    serializer = IndicatorCreateSerializer(
        data=data, context={"access": access, "customer_slug": slug}
    )
    if not serializer.is_valid():
        messages.error(request, error_text(serializer.errors))
        return HttpResponseRedirect(reverse("intel"))
    data = dict(serializer.validated_data)
    tenant_id = data.pop("tenant_id")
    data.pop("tenant", None)
    if not services.may_manage(access, tenant_id):
        raise PermissionDenied("You may not add indicators there.")
    kind, value = data.pop("type"), data.pop("value")
    indicator, created, hunt = services.indicator_create(
        tenant_id, kind, value, data, actor=request.user
    )
    messages.success(
        request,
        f"{'Added' if created else 'Updated'} {indicator.type} {indicator.value}"
        + ("; a retro-hunt searches earlier alerts." if hunt else "."),
    )
    return HttpResponseRedirect(reverse("intel-indicator", args=[indicator.pk]))


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
        "may_manage": services.may_manage(access, indicator.tenant_id),
    }
    return render(request, "intel/indicator_detail.html", context)


@require_POST
@portal_view
def indicator_revoke(request, access, pk):
    _allowed(access)
    indicator = _indicator(access, pk)
    if not services.may_manage(access, indicator.tenant_id):
        raise PermissionDenied("You may read this indicator but not change it.")
    services.indicator_update(indicator, {"status": Indicator.Status.REVOKED})
    messages.success(request, f"Revoked {indicator.type} {indicator.value}: it no longer matches.")
    return HttpResponseRedirect(reverse("intel-indicator", args=[indicator.pk]))


# --- matches ---------------------------------------------------------------------------------
@require_POST
@portal_view
def match_raise(request, access, pk):
    """MSSP staff raise a match's incident to the match's severity by hand (the API's
    raise/ twin)."""
    if not services.may_raise_by_hand(access):
        raise PermissionDenied("Raising an incident from a match is for MSSP staff.")
    match = selectors.get_matches(access).filter(pk=pk).first()
    if match is None:
        raise Http404("No such match.")
    try:
        services.match_raise_severity(match, actor=request.user)
    except services.IntelError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"The incident is now {match.severity}.")
    if match.incident_id:
        return HttpResponseRedirect(reverse("incident", args=[match.incident_id]))
    return HttpResponseRedirect(reverse("alert", args=[match.alert_id]))


# --- imports ---------------------------------------------------------------------------------
@portal_view
def imports(request, access):
    _allowed(access)
    status = 200
    if request.method == "POST":
        result = _upload(request, access)
        if isinstance(result, IndicatorImport):
            messages.success(request, "Uploaded; the list is read in the background.")
            return HttpResponseRedirect(reverse("intel-import", args=[result.pk]))
        messages.error(request, result)
        status = 413 if "larger than" in result else 400
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


def _upload(request, access) -> IndicatorImport | str:
    limit = settings.INTEL_IMPORT_MAX_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit + 64 * 1024:  # before Django reads it
        return f"The list is larger than {limit // 1024} KiB; split it."
    upload = request.FILES.get("file")
    if upload is None:
        return "Choose a file to upload."
    if upload.size > limit:
        return f"The list is larger than {limit // 1024} KiB; split it."
    options = {
        k: v for k, v in request.POST.items() if v != "" and k not in ("csrfmiddlewaretoken",)
    }
    serializer = ImportUploadSerializer(data=options)
    if not serializer.is_valid():
        return error_text(serializer.errors)
    data = dict(serializer.validated_data)
    slug = data.pop("tenant", "") or ""
    if access.is_customer:
        tenant_id = access.customer_tenant_id
    elif slug:
        tenant = Tenant.objects.filter(slug=slug, pk__in=access.tenant_ids).first()
        if tenant is None:
            return f"No such tenant: '{slug}'."
        tenant_id = tenant.pk
    else:
        tenant_id = None
    if not services.may_manage(access, tenant_id):
        return "You may not import indicators there."
    fmt = data.pop("kind")
    data.pop("file", None)
    try:
        content = parsing.decode(upload.read())
        if not content.strip():
            return "The list is empty."
        return services.import_create(
            tenant_id, fmt, content, filename=upload.name or "", defaults=data, actor=request.user
        )
    except parsing.UnreadableImport as exc:
        return str(exc)


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
