"""Messages about what is not an incident: a finding past its remediation date (its clock's
sla.breached event, target "remediate") and a report ready (reports' report.ready). Read for a
batch of events at once, from what the tenant's own users may read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from findings.models import Finding
from reports.models import Report
from tenants.text import single_line

from . import message as msg
from .models import Event


@dataclass(frozen=True)
class Subject:
    kind: str  # "finding" or "report"
    id: str
    title: str
    severity: str
    text: str
    path: str


def subjects(tenant_ids: list[int], events: list[dict[str, Any]]) -> dict[str, Subject]:
    """{event object id: what it is about} for the events about findings and reports."""
    finding_ids = [e["id"] for e in events if (e.get("data") or {}).get("target") == "remediate"]
    report_ids = [e["id"] for e in events if e["type"] == "report.ready"]
    found: dict[str, Subject] = {}
    if finding_ids:
        for finding in (
            Finding.objects.for_tenants(tenant_ids)
            .filter(pk__in=finding_ids)
            .select_related("asset")
        ):
            found[str(finding.pk)] = Subject(
                "finding",
                str(finding.pk),
                f"{finding.title} on {finding.asset.identifier}",
                finding.severity,
                f"Severity {finding.get_severity_display()} · {finding.get_status_display()}",
                f"/findings/{finding.pk}/",
            )
    if report_ids:
        for report in Report.objects.for_tenants(tenant_ids).filter(pk__in=report_ids):
            period = f"{report.period_start:%Y-%m-%d} to {report.period_end:%Y-%m-%d}"
            found[str(report.pk)] = Subject(
                "report",
                str(report.pk),
                f"Report {period}",
                "",
                "PDF and CSV are ready.",
                f"/reports/{report.pk}/",
            )
    return found


def message(subject: Subject, name: str, event: dict[str, Any], tenant_name: str) -> msg.Message:
    headline = "Remediation overdue" if name == Event.FINDING_OVERDUE else "Report ready"
    return msg.Message(
        event_type=name,
        subject_key=f"{subject.kind}:{subject.id}",
        tenant_name=tenant_name,
        title=single_line(f"{headline}: {subject.title}", 250),
        text=subject.text,
        severity=subject.severity,
        url=settings.PORTAL_BASE_URL.rstrip("/") + subject.path,
        occurred_at=event.get("at") or timezone.now().isoformat(),
        data={"event": name, subject.kind: subject.id, "severity": subject.severity or None},
    )
