"""Portal pages of findings: the list (filters, keyset pages), a finding (details, timeline,
the workflow's forms), imports (upload form, list, progress and per-record errors) and
engagements. Same filters as the API; every form runs the API's action (findings.actions),
so the checks, limits and messages are the same."""

from __future__ import annotations

from types import SimpleNamespace

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from alerts.models import Severity
from tenants.actions import page_perform
from tenants.api.pagination import paginate_page
from tenants.models import Tenant
from tenants.views import error_text, portal_view

from . import imports
from .actions import CREATE_ENGAGEMENT, FINDING_ACTIONS, IMPORT_SCAN
from .api.filters import FindingFilter
from .models import Engagement, Finding, FindingEvent, FindingStatus, ScanImport, Scanner
from .policy import (
    allowed_actions,
    can_import,
    writes_engagements,
)
from .selectors import get_open_incidents_on_asset

PAGE_SIZE = 50


LIST_ORDERING = ("-severity_rank", "id")  # most severe first, as the API's list


def _tenants(access) -> list[Tenant]:
    return list(Tenant.objects.filter(pk__in=access.tenant_ids).order_by("name"))


@portal_view
def finding_list(request, access):
    queryset = Finding.objects.for_tenants(access.tenant_ids)
    params = request.GET.copy()
    if "status" not in params:
        params["status"] = "open"
    error, rows, next_url = "", [], None
    try:
        filtered = FindingFilter(params, queryset=queryset, request=request)
        if not filtered.is_valid():
            raise ApiValidationError(dict(filtered.errors))
        page = paginate_page(
            request,
            filtered.qs.select_related("tenant", "asset", "clock"),
            LIST_ORDERING,
            keyset=True,
            page_size=PAGE_SIZE,
        )
        rows, next_url = page.rows, page.next_url
    except ApiValidationError as exc:
        error = error_text(exc.detail)
    context = {
        "findings": rows,
        "next_url": next_url,
        "error": error,
        "params": params,
        "tenants": _tenants(access),
        "severities": Severity.choices,
        "statuses": FindingStatus.choices,
        "scanners": Scanner.choices,
        "may_import": can_import(access),
    }
    return render(request, "findings/list.html", context, status=400 if error else 200)


def _finding(access, pk) -> Finding:
    finding = (
        Finding.objects.for_tenants(access.tenant_ids)
        .select_related(
            "tenant",
            "asset",
            "engagement",
            "risk_accepted_by",
            "remediated_by",
            "remediation_claimed_by",
        )
        .filter(pk=pk)
        .first()
    )
    if finding is None:
        raise Http404("No such finding.")
    return finding


@portal_view
def finding_detail(request, access, pk):
    finding = _finding(access, pk)
    clock = getattr(finding, "clock", None) if _has_clock(finding) else None
    timeline = (
        FindingEvent.objects.for_tenant(finding.tenant_id)
        .filter(finding=finding)
        .order_by("-at", "-id")[:500]
    )
    return render(
        request,
        "findings/detail.html",
        {
            "finding": finding,
            "clock": clock,
            "timeline": list(timeline),
            "actions": allowed_actions(access, finding),
            "incidents": get_open_incidents_on_asset(finding, access) if finding.is_open else [],
            "staff": access.is_mssp_staff,
        },
    )


def _has_clock(finding) -> bool:
    from .models import RemediationClock

    try:
        finding.clock  # noqa: B018
    except RemediationClock.DoesNotExist:
        return False
    return True


@require_POST
@portal_view
def finding_act(request, access, pk):
    """The finding page's forms: one action each, the API's (findings.actions)."""
    finding = _finding(access, pk)
    action = FINDING_ACTIONS.get(request.POST.get("action", ""))
    if action is None:
        messages.error(request, "Unknown action.")
    else:
        page_perform(request, action, access=access, target=finding)
    return HttpResponseRedirect(reverse("finding", args=[finding.pk]))


# --- imports ---------------------------------------------------------------------------------


def _engagements(access) -> list[Engagement]:
    return list(
        Engagement.objects.for_tenants(access.tenant_ids).select_related("tenant").order_by("name")
    )


@portal_view
def import_list(request, access):
    try:
        page = paginate_page(
            request,
            ScanImport.objects.for_tenants(access.tenant_ids)
            .defer("content", "errors")
            .select_related("tenant", "requested_by", "engagement"),
            "-created_at",
            page_size=PAGE_SIZE,
        )
    except ApiValidationError as exc:  # a cursor this list did not give out
        raise BadRequest(error_text(exc.detail)) from None
    return render(
        request,
        "findings/imports.html",
        {
            "scans": page.rows,
            "next_url": page.next_url,
            "tenants": _tenants(access),
            "engagements": _engagements(access),
            "scanners": Scanner.choices,
            "may_import": can_import(access),
            "may_plan": writes_engagements(access),
            "engagement_kinds": Engagement.Kind.choices,
            "max_bytes": imports.max_upload_bytes(),
            "staff": access.is_mssp_staff,
        },
    )


@require_POST
@portal_view
def import_upload(request, access):
    """The imports page's upload form: the API's import (findings.actions.IMPORT_SCAN)."""
    # Refuse what is too large before reading it, as the API does (a 413 page).
    too_large = f"Imports take files of at most {imports.max_upload_bytes():,} bytes."
    if imports.declared_length(request) > imports.max_upload_bytes() + 1024 * 1024:
        messages.error(request, too_large)
        return render(request, "findings/refused.html", {"reason": too_large}, status=413)
    upload = request.FILES.get("file")
    if upload is not None and upload.size > imports.max_upload_bytes():
        return render(request, "findings/refused.html", {"reason": too_large}, status=413)
    # A form posts its empty fields; the API's serializer reads them as not given.
    data = {**{k: v for k, v in request.POST.items() if v}, **request.FILES.dict()}
    done, scan = page_perform(
        request,
        IMPORT_SCAN,
        access=access,
        target=None,
        data=data,
        context={"view": SimpleNamespace(access=access)},
    )
    if not done:
        return HttpResponseRedirect(reverse("finding-imports"))
    return HttpResponseRedirect(reverse("finding-import", args=[scan.pk]))


def _scan(access, pk) -> ScanImport:
    scan = (
        ScanImport.objects.for_tenants(access.tenant_ids)
        .defer("content")
        .select_related("tenant", "requested_by", "engagement")
        .filter(pk=pk)
        .first()
    )
    if scan is None:
        raise Http404("No such import.")
    return scan


@portal_view
def import_detail(request, access, pk):
    scan = _scan(access, pk)
    template = (
        "findings/_import_progress.html"
        if request.htmx and request.GET.get("fragment") == "progress"
        else "findings/import_detail.html"
    )
    return render(request, template, {"scan": scan})


@require_POST
@portal_view
def engagement_create(request, access):
    """The imports page's engagement form: the API's (findings.actions.CREATE_ENGAGEMENT)."""
    data = {k: v for k, v in request.POST.items() if v}  # empty fields are not given
    page_perform(request, CREATE_ENGAGEMENT, access=access, target=None, data=data)
    return HttpResponseRedirect(reverse("finding-imports"))
