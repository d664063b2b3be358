"""The reports pages: the list with the request form (reports.actions' REPORT_REQUEST, the
API's own), a report (progress while it runs, its figures and charts when done) and its
downloads. Every query names the caller's tenants; a report of another tenant is a 404 like a
missing one."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from alerts import selectors as incident_selectors
from alerts.models import Incident
from tenants.access import Access
from tenants.actions import page_perform
from tenants.models import Tenant
from tenants.views import portal_view

from . import actions, incident_reports
from . import policy as incident_policy
from .api.incident import pdf_response
from .figures import SEVERITIES
from .forms import ReportRequestForm
from .incident_render import view as incident_view
from .models import IncidentReport, Report
from .render import TARGET_LABELS, ordered_targets, report_charts
from .render import duration as fmt_duration
from .render import percent as fmt_percent

PAGE_SIZE = 25


def _reports(access: Access, *defer: str):
    return (
        Report.objects.for_tenants(access.tenant_ids)
        .select_related("tenant", "requested_by")
        .defer(*defer)
    )


def _report_or_404(access: Access, pk, *defer: str) -> Report:
    report = _reports(access, *defer).filter(pk=pk).first()
    if report is None:
        raise Http404("No such report.")
    return report


def _last_month() -> dict:
    first_of_this = timezone.localdate().replace(day=1)
    last = first_of_this - timedelta(days=1)
    return {"start": last.replace(day=1), "end": last}


@portal_view
def report_list(request, access: Access):
    choices = Tenant.objects.filter(pk__in=access.tenant_ids).order_by("name")
    tenants = list(choices)
    status = 200
    if request.method == "POST" and tenants:
        form = ReportRequestForm(request.POST, tenants=choices, context={"access": access})
        if form.is_valid():
            done, report = page_perform(
                request, actions.REPORT_REQUEST, access=access, target=None, data=form.api_data()
            )
            if done:
                return redirect("report", pk=report.pk)
        status = 400
    else:
        initial = _last_month()
        for name in ("start", "end"):  # "request again" links carry the period
            if request.GET.get(name):
                initial[name] = request.GET[name]
        chosen = next((t for t in tenants if t.slug == request.GET.get("tenant")), None)
        if chosen:
            initial["tenant"] = chosen
        form = ReportRequestForm(initial=initial, tenants=choices)

    reports = _reports(access, "figures", "pdf", "csv").order_by("-id")
    shown_tenant = next((t for t in tenants if t.slug == request.GET.get("tenant")), None)
    if shown_tenant is not None:
        reports = reports.filter(tenant=shown_tenant)
    page = Paginator(reports, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "reports/list.html",
        {
            "form": form,
            "tenants": tenants,
            "shown_tenant": shown_tenant,
            "page": page,
            "reports": list(page.object_list),
            # The table refreshes itself while a report on it is being generated.
            "unfinished": any(r.status in Report.UNFINISHED for r in page.object_list),
        },
        status=status,
    )


def _figures_context(figures: dict) -> dict:
    """What the page shows beyond the raw figures: formatted SLA rows and the inline charts."""
    from sla.charts import to_svg

    def rows(summary):
        return [
            {
                "label": TARGET_LABELS.get(name, name),
                "target": name,
                "row": row,
                "compliance": fmt_percent(row["compliance"]),
                "mean": fmt_duration(row["mean_seconds_to_met"]),
            }
            for name, row in ordered_targets(summary)
        ]

    sla = figures["sla"]
    head = figures["headline"]
    alerts, incidents = figures["alerts"], figures["incidents"]
    return {
        "severities": SEVERITIES,
        "volume_rows": [
            ("Alerts", [alerts["by_severity"].get(s, 0) for s in SEVERITIES], alerts["total"]),
            (
                "Incidents",
                [incidents["by_severity"].get(s, 0) for s in SEVERITIES],
                incidents["total"],
            ),
        ],
        "sla_rows": rows(sla["summary"]),
        "customer_rows": rows(sla["customer"]) if sla.get("customer") else None,
        "charts": {name: to_svg(chart) for name, chart in report_charts(figures).items()},
        "head": {
            **head,
            "mtta": fmt_duration(head["mtta_seconds"]),
            "mttc": fmt_duration(head["mttc_seconds"]),
            "mttr": fmt_duration(head["mttr_seconds"]),
            "compliance_text": fmt_percent(head["compliance"]),
        },
        "escalation_rows": [
            {**row, "mean": fmt_duration(row["mean_answer_seconds"])}
            for row in figures["escalations"]["by_direction"]
        ],
    }


@portal_view
def report_detail(request, access: Access, pk):
    report = _report_or_404(access, pk, "pdf", "csv")
    context = {"report": report, "figures": report.figures}
    if report.status == Report.Status.DONE:
        context.update(_figures_context(report.figures))
    elif report.status == Report.Status.FAILED:
        zone = ZoneInfo(report.tenant.timezone or "UTC")
        last = report.period_end - timedelta(microseconds=1)
        context["again"] = urlencode(
            {
                "tenant": report.tenant.slug,
                "start": timezone.localtime(report.period_start, zone).date().isoformat(),
                "end": timezone.localtime(last, zone).date().isoformat(),
            }
        )
    return render(request, "reports/detail.html", context)


@portal_view
def report_progress(request, access: Access, pk):
    """The progress bar, polled by htmx while the report runs; once it is finished the page
    reloads itself to show the figures (or the failure)."""
    report = _report_or_404(access, pk, "figures", "pdf", "csv")
    if not request.htmx:
        return redirect("report", pk=report.pk)
    if report.is_finished:
        return HttpResponseClientRefresh()
    return render(request, "reports/_progress.html", {"report": report})


@portal_view
def report_download(request, access: Access, pk, fmt: str):
    other = {"pdf": "csv", "csv": "pdf"}[fmt]
    report = _report_or_404(access, pk, "figures", other)
    if report.status != Report.Status.DONE:
        messages.error(
            request,
            "This report failed; request it again."
            if report.status == Report.Status.FAILED
            else "This report is still being generated; download it when it is done.",
        )
        return redirect("report", pk=report.pk)
    content_type = "application/pdf" if fmt == "pdf" else "text/csv; charset=utf-8"
    filename = f"security-report-{report.tenant.slug}-{report.period_start:%Y-%m-%d}.{fmt}"
    return HttpResponse(
        bytes(getattr(report, fmt)),
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- post-incident reports (reports.incident_reports) -----------------------------------------

INCIDENT_REPORT_STEPS = {
    "draft": actions.DRAFT_INCIDENT_REPORT,
    "edit": actions.EDIT_INCIDENT_REPORT,
    "approve": actions.APPROVE_INCIDENT_REPORT,
    "share": actions.SHARE_INCIDENT_REPORT,
    "reopen": actions.REOPEN_INCIDENT_REPORT,
}


def _incident_or_404(access: Access, pk) -> Incident:
    incident = incident_selectors.get_incidents(access).select_related("tenant")
    found = incident.filter(pk=pk).first()
    if found is None:
        raise Http404("No such incident.")
    return found


def _incident_report_or_404(access: Access, incident: Incident) -> IncidentReport:
    """The incident's report as the caller may read it: a customer's only once shared."""
    report = (
        IncidentReport.objects.for_tenant(incident.tenant_id)
        .filter(incident=incident)
        .select_related("drafted_by", "edited_by", "approved_by", "shared_by")
        .first()
    )
    if report is None or not incident_policy.may_read_incident_report(
        access, report.tenant_id, report.status, incident_reports.marking(report, incident)
    ):
        raise Http404("No post-incident report here.")
    report.incident = incident
    report.tenant = incident.tenant
    return report


@portal_view
def incident_report(request, access: Access, pk):
    """The report's page: staff see every state (a draft under a banner) and the workflow's
    buttons; the customer sees a shared report only."""
    incident = _incident_or_404(access, pk)
    report = _incident_report_or_404(access, incident)
    tenant_id = incident.tenant_id
    may_work = incident_policy.works_incident_report(access, tenant_id)
    supervises = incident_policy.supervises_incident_report(access, tenant_id)
    return render(
        request,
        "reports/incident_report.html",
        {
            "incident": incident,
            "report": report,
            "shown": incident_view(report),
            "staff": access.is_mssp_staff,
            "may_edit": may_work and report.status == IncidentReport.Status.DRAFT,
            "may_approve": supervises
            and report.status == IncidentReport.Status.DRAFT
            and report.edited_by_id != access.user_id,
            "four_eyes": supervises
            and report.status == IncidentReport.Status.DRAFT
            and report.edited_by_id == access.user_id,
            "may_share": supervises and report.status == IncidentReport.Status.APPROVED,
            "may_reopen": supervises and report.status != IncidentReport.Status.DRAFT,
            "section_max": IncidentReport.SECTION_MAX,
        },
    )


@portal_view
def incident_report_pdf(request, access: Access, pk):
    incident = _incident_or_404(access, pk)
    return pdf_response(_incident_report_or_404(access, incident))


@require_POST
@portal_view
def incident_report_step(request, access: Access, pk, step: str):
    """Draft, edit, approve, share or reopen (reports.actions, as the API's routes)."""
    action = INCIDENT_REPORT_STEPS.get(step)
    if action is None:
        raise Http404("No such step.")
    incident = _incident_or_404(access, pk)
    target = incident if step == "draft" else _incident_report_or_404(access, incident)
    # Only an edit carries input (the sections, "refresh facts"); a draft starts empty.
    data = request.POST if step == "edit" else {}
    done, _ = page_perform(request, action, access=access, target=target, data=data)
    if done or step != "draft":
        return redirect("incident-report", pk=incident.pk)
    return redirect("incident", pk=incident.pk)
