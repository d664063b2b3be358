"""A customer's dashboard: open incidents, SLA compliance, MTTA/MTTC/MTTR and trends, with the
figures of /api/v1/sla/summary/ for the same period (sla.selectors)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from alerts import tlp
from alerts.models import OPEN_STATUSES, SEVERITY_RANK, Incident, Severity
from tenants.access import Access
from tenants.format import duration, percent
from tenants.models import Tenant
from tenants.views import portal_view

from .. import charts
from ..forms import PeriodForm
from ..models import SlaClock, Target
from ..selectors import get_sla_summary, get_sla_trend
from .common import URGENCY, first_error, iso_z, refuse


def _dashboard_tenant(request, access: Access) -> Tenant | None:
    """The customer's own tenant; for MSSP staff, ?tenant=<slug> among those they work."""
    slug = request.GET.get("tenant", "")
    if access.is_customer:
        tenant = Tenant.objects.get(pk=access.customer_tenant_id)
        if slug and slug != tenant.slug:
            raise Http404
        return tenant
    if not slug:
        return None
    return get_object_or_404(Tenant, slug=slug, pk__in=sorted(access.tenant_ids))


def _open_incidents_context(tenant: Tenant, access: Access) -> dict:
    # A customer counts and lists only the incidents their TLP allows them (alerts.tlp).
    scoped = tlp.visible_incidents(
        access, Incident.objects.for_tenant(tenant.pk).filter(status__in=OPEN_STATUSES)
    )
    by_severity = dict(
        scoped.values("severity").annotate(n=Count("id")).order_by().values_list("severity", "n")
    )
    counts = [
        (value, label, by_severity.get(value, 0))
        for value, label in sorted(Severity.choices, key=lambda c: -SEVERITY_RANK[c[0]])
    ]
    latest = list(scoped.select_related(None).order_by(*URGENCY)[:10])
    return {
        "tenant": tenant,
        "open_total": sum(by_severity.values()),
        "severity_counts": counts,
        "open_latest": latest,
        "severity_svg": charts.to_svg(
            charts.severity_chart(by_severity, title="Open incidents by severity")
        ),
    }


def _summary_rows(summary: dict) -> list[dict]:
    rows = []
    for value, label in Target.choices:
        figures = summary["targets"].get(value)
        rows.append(
            {
                "target": value,
                "label": label,
                "figures": figures,
                "compliance": percent(figures["compliance"]) if figures else "—",
                "mean": duration(figures["mean_seconds_to_met"]) if figures else "—",
            }
        )
    return rows


def _figures(tenant: Tenant, start, end, severity, owner: str, label: str) -> dict:
    summary = get_sla_summary([tenant.pk], start, end, severity=severity, owner=owner)
    trend = get_sla_trend([tenant.pk], start, end, severity=severity, owner=owner)
    query = {"tenant": tenant.slug, "from": iso_z(start), "to": iso_z(end), "owner": owner}
    if severity:
        query["severity"] = severity
    return {
        "owner": owner,
        "label": label,
        "summary": summary,
        "rows": _summary_rows(summary),
        "mtta": duration(summary["mtta_seconds"]),
        "mttc": duration(summary["mttc_seconds"]),
        "mttr": duration(summary["mttr_seconds"]),
        "trend": trend,
        "chart": charts.to_svg(
            charts.compliance_chart(trend, title=f"SLA compliance over time ({label})")
        ),
        "api_url": reverse("sla-summary") + "?" + urlencode(query),
    }


@portal_view
def dashboard(request, access):
    if not (access.is_customer or access.is_mssp_staff):
        return refuse(request, "The dashboard is for a customer's users and the MSSP's staff.")
    tenant = _dashboard_tenant(request, access)
    if tenant is None:  # MSSP staff choose which customer's dashboard to open
        tenants = Tenant.objects.filter(pk__in=sorted(access.tenant_ids)).order_by("name")
        return render(request, "sla/dashboard_choose.html", {"tenants": list(tenants)})
    incidents = _open_incidents_context(tenant, access)
    if request.htmx and request.GET.get("part") == "incidents":
        return render(request, "sla/_dashboard_incidents.html", incidents)
    query = request.GET.copy()
    query.setdefault("days", "30")
    form = PeriodForm(query)
    if not form.is_valid():
        messages.error(request, f"Showing the last 30 days: {first_error(form)}")
        form = PeriodForm({"days": "30"})
    start, end = form.period(tenant.timezone)
    severity = form.cleaned_data.get("severity") or None
    figures = [_figures(tenant, start, end, severity, SlaClock.Owner.MSSP, "MSSP")]
    if tenant.service_model == Tenant.ServiceModel.HYBRID:  # hand-offs give the team clocks
        figures.append(
            _figures(tenant, start, end, severity, SlaClock.Owner.CUSTOMER, "your in-house team")
        )
    context = {
        **incidents,
        "form": form,
        "start": start,
        "end": end,
        "severity": severity,
        "figures": figures,
        "staff_view": access.is_mssp_staff,
        "live_url": reverse("dashboard")
        + "?"
        + urlencode({"tenant": tenant.slug, "part": "incidents"}),
    }
    return render(request, "sla/dashboard.html", context)
