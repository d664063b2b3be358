"""A report's stored figures as charts, a PDF and a CSV. Only the figures are read: the page,
the PDF and the CSV show the same numbers because they all come from the one stored dict."""

from __future__ import annotations

import csv
import io
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from alerts.models import IncidentStatus, Resolution
from sla.charts import Chart, compliance_chart, counts_chart, severity_chart
from sla.models import Escalation, Target
from tenants.format import duration, percent

from .figures import SEVERITIES
from .fonts import fonts, markup, needs_fallback

TARGET_LABELS = {t.value: t.label for t in Target}


# --- charts -----------------------------------------------------------------------------------
def report_charts(figures: dict) -> dict[str, Chart]:
    """The report's charts, built from its figures (the page inlines them as SVG; the PDF
    draws the same drawings)."""
    alerts, incidents = figures["alerts"], figures["incidents"]
    return {
        "compliance": compliance_chart(figures["sla"]["trend"], title="SLA compliance over time"),
        "alert_severity": severity_chart(alerts["by_severity"], title="Alerts by severity"),
        "alert_category": counts_chart(
            [(row["category"] or "(none)", row["count"]) for row in alerts["by_category"]],
            title="Alerts by category",
        ),
        "alert_source": counts_chart(
            [(row["name"], row["count"]) for row in alerts["by_source"]],
            title="Alerts by source",
        ),
        "incident_severity": severity_chart(
            incidents["by_severity"], title="Incidents by severity"
        ),
    }


# --- PDF --------------------------------------------------------------------------------------
GRID = colors.HexColor("#d9dde3")
HEAD = colors.HexColor("#eef2ff")


def _table(rows: list[list], widths=None, header: bool = True) -> Table:
    chosen = fonts()
    cell = ParagraphStyle("cell", fontName=chosen.regular, fontSize=9, leading=11)
    rows = [
        [
            Paragraph(markup(value), cell)
            if isinstance(value, str) and needs_fallback(value)
            else value
            for value in row
        ]
        for row in rows
    ]
    table = Table(rows, colWidths=widths, hAlign="LEFT", repeatRows=1 if header else 0)
    style = [
        ("FONT", (0, 0), (-1, -1), chosen.regular, 9),
        ("LINEBELOW", (0, 0), (-1, -1), 0.5, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
    ]
    if header:
        style += [
            ("FONT", (0, 0), (-1, 0), chosen.bold, 9),
            ("BACKGROUND", (0, 0), (-1, 0), HEAD),
        ]
    table.setStyle(TableStyle(style))
    return table


def pdf_styles() -> dict[str, ParagraphStyle]:
    """reportlab's sample styles in the PDFs' fonts (reports.fonts), plus "small"."""
    chosen = fonts()
    sample = getSampleStyleSheet()
    styles = {
        name: ParagraphStyle(
            f"{name}-report",
            parent=sample[name],
            fontName=chosen.bold if sample[name].fontName.endswith("Bold") else chosen.regular,
        )
        for name in ("BodyText", "Title", "Heading2", "Heading3")
    }
    styles["small"] = ParagraphStyle("small", parent=styles["BodyText"], fontSize=8, leading=10)
    return styles


def render_pdf(figures: dict) -> bytes:
    styles = pdf_styles()
    body, small = styles["BodyText"], styles["small"]
    h1, h2 = styles["Title"], styles["Heading2"]
    tenant, period = figures["tenant"], figures["period"]
    head, alerts, incidents = figures["headline"], figures["alerts"], figures["incidents"]
    sla, escalations = figures["sla"], figures["escalations"]
    charts = report_charts(figures)

    def text(value) -> Paragraph:
        # Tenant data (titles, rule names) is text, never reportlab markup.
        return Paragraph(markup(value), small)

    story: list = [
        Paragraph(f"Security report: {markup(tenant['name'])}", h1),
        Paragraph(
            f"{markup(period['label'])} ({escape(tenant['timezone'])}). "
            f"Generated {escape(figures['generated_at'][:16].replace('T', ' '))} UTC.",
            body,
        ),
        Spacer(1, 4 * mm),
        _table(
            [
                ["Alerts", "Incidents", "MTTA", "MTTC", "MTTR", "SLA compliance", "Escalations"],
                [
                    head["alerts"],
                    head["incidents"],
                    duration(head["mtta_seconds"]),
                    duration(head["mttc_seconds"]),
                    duration(head["mttr_seconds"]),
                    percent(head["compliance"]),
                    head["escalations"],
                ],
            ]
        ),
        Paragraph(
            "MTTA, MTTC and MTTR are the mean covered time to acknowledge, contain and resolve "
            "(clocks met in the period; paused time and, under business-hours coverage, time "
            "outside business hours excluded).",
            small,
        ),
        Paragraph("SLA compliance per target", h2),
        _table(
            [["Target", "Clocks", "Met", "Breached", "Open", "Compliance", "Mean to met"]]
            + [
                [
                    TARGET_LABELS.get(name, name),
                    row["clocks"],
                    row["met"],
                    row["breached"],
                    row["open"],
                    percent(row["compliance"]),
                    duration(row["mean_seconds_to_met"]),
                ]
                for name, row in ordered_targets(sla["summary"])
            ]
        ),
    ]
    if sla.get("customer"):
        story += [
            Paragraph(
                "The in-house team's own clocks (after accepted hand-offs)", styles["Heading3"]
            ),
            _table(
                [["Target", "Clocks", "Met", "Breached", "Open", "Compliance"]]
                + [
                    [
                        TARGET_LABELS.get(name, name),
                        row["clocks"],
                        row["met"],
                        row["breached"],
                        row["open"],
                        percent(row["compliance"]),
                    ]
                    for name, row in ordered_targets(sla["customer"])
                ]
            ),
        ]
    story += [
        Spacer(1, 3 * mm),
        KeepTogether([charts["compliance"]]),
        Paragraph("Volumes", h2),
        _table(
            [["", *[s.capitalize() for s in SEVERITIES], "Total"]]
            + [
                ["Alerts", *[alerts["by_severity"].get(s, 0) for s in SEVERITIES], alerts["total"]],
                [
                    "Incidents",
                    *[incidents["by_severity"].get(s, 0) for s in SEVERITIES],
                    incidents["total"],
                ],
            ]
        ),
        Paragraph(
            f"{alerts['suppressed']} alerts were suppressed by rules; "
            f"{incidents['open']} of the period's incidents are still open.",
            small,
        ),
        KeepTogether([charts["alert_severity"]]),
        KeepTogether([charts["alert_category"]]),
        KeepTogether([charts["alert_source"]]),
        *[
            KeepTogether(
                [
                    Paragraph(f"Incidents by {field['label'].lower()}", small),
                    _table(
                        [["Value", "Incidents"]]
                        + [[row["value"], row["count"]] for row in field["counts"]]
                    ),
                ]
            )
            for field in incidents.get("by_field", [])
        ],
        Paragraph("Escalations and their outcomes", h2),
        _table(
            [
                [
                    "Direction",
                    "Total",
                    "Accepted",
                    "Declined",
                    "Expired",
                    "Withdrawn",
                    "Pending",
                    "Notified",
                    "Mean answer",
                ]
            ]
            + [
                [
                    row["label"],
                    row["total"],
                    row["accepted"],
                    row["declined"],
                    row["expired"],
                    row["withdrawn"],
                    row["pending"],
                    row["notified"],
                    duration(row["mean_answer_seconds"]),
                ]
                for row in escalations["by_direction"]
            ]
        ),
        Paragraph("Top detections", h2),
    ]
    detections = figures["top_detections"]
    if detections:
        story.append(
            _table(
                [["Detection", "Severity", "Alerts", "Incidents"]]
                + [
                    [text(d["detection"]), d["severity"], d["alerts"], d["incidents"]]
                    for d in detections
                ],
                widths=[100 * mm, 25 * mm, 20 * mm, 20 * mm],
            )
        )
    else:
        story.append(Paragraph("No alerts in this period.", body))

    remediation = figures.get("remediation")  # reports of version 1 have none
    if remediation:
        story += [
            Paragraph("Vulnerability remediation", h2),
            Paragraph(
                f"{remediation['new_in_period']} findings new in the period, "
                f"{remediation['remediated_in_period']} remediated (mean "
                f"{_days(remediation['mean_time_to_remediate_days'])}), "
                f"{remediation['breached_in_period']} remediation deadlines missed; "
                f"{remediation['risk_accepted']} risks accepted now.",
                body,
            ),
            _table(
                [["Open now", *[s.capitalize() for s in SEVERITIES], "Total"]]
                + [
                    [
                        "Open",
                        *[remediation["open_by_severity"].get(s, 0) for s in SEVERITIES],
                        remediation["open_total"],
                    ],
                    [
                        "Past due",
                        *[remediation["overdue_by_severity"].get(s, 0) for s in SEVERITIES],
                        remediation["overdue"],
                    ],
                ]
            ),
        ]

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"Security report: {tenant['name']}, {period['label']}",
        author="MSSP portal",
        subject=f"{tenant['name']} {period['from']} to {period['to']}",
    )
    document.build(story)
    return buffer.getvalue()


def _days(days: float | None) -> str:
    return "—" if days is None else f"{days:g} days"


def ordered_targets(summary: dict) -> list[tuple[str, dict]]:
    order = list(TARGET_LABELS)
    return sorted(
        summary["targets"].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99
    )


# --- CSV --------------------------------------------------------------------------------------
CSV_HEADER = ["section", "key", "metric", "value"]
HEADLINE = (
    "alerts",
    "incidents",
    "mtta_seconds",
    "mttc_seconds",
    "mttr_seconds",
    "compliance",
    "escalations",
)
SLA_METRICS = ("clocks", "met", "breached", "open", "compliance", "mean_seconds_to_met")


def _cell(value):
    """Spreadsheet-safe: text that a spreadsheet would run as a formula is quoted with '."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def render_csv(figures: dict) -> bytes:
    """One figure a row: section, key, metric, value (easy to filter in a spreadsheet and to
    parse in a script)."""
    rows: list[list] = []
    add = rows.append
    tenant, period, head = figures["tenant"], figures["period"], figures["headline"]
    add(["report", "tenant", "slug", tenant["slug"]])
    add(["report", "tenant", "name", tenant["name"]])
    add(["report", "period", "from", period["from"]])
    add(["report", "period", "to", period["to"]])
    add(["report", "period", "timezone", tenant["timezone"]])
    add(["report", "report", "generated_at", figures["generated_at"]])
    for metric in HEADLINE:
        add(["headline", "all", metric, head.get(metric)])
    alerts, incidents = figures["alerts"], figures["incidents"]
    add(["alerts", "all", "suppressed", alerts["suppressed"]])
    for severity in SEVERITIES:
        add(["alerts_by_severity", severity, "alerts", alerts["by_severity"].get(severity, 0)])
    for row in alerts["by_source"]:
        add(["alerts_by_source", row["name"], "alerts", row["count"]])
    for row in alerts["by_category"]:
        add(["alerts_by_category", row["category"], "alerts", row["count"]])
    add(["incidents", "all", "open", incidents["open"]])
    add(["incidents", "all", "merged", incidents["merged"]])
    for severity in SEVERITIES:
        n = incidents["by_severity"].get(severity, 0)
        add(["incidents_by_severity", severity, "incidents", n])
    for row in incidents["by_category"]:
        add(["incidents_by_category", row["category"], "incidents", row["count"]])
    for field in incidents.get("by_field", []):
        for row in field["counts"]:
            add([f"incidents_by_field:{field['key']}", row["value"], "incidents", row["count"]])
    for status in IncidentStatus.values:
        add(["incidents_by_status", status, "incidents", incidents["by_status"].get(status, 0)])
    for resolution in Resolution.values:
        n = incidents["by_resolution"].get(resolution, 0)
        add(["incidents_by_resolution", resolution, "incidents", n])
    for section, summary in (
        ("sla", figures["sla"]["summary"]),
        ("sla_customer", figures["sla"]["customer"]),
    ):
        if not summary:
            continue
        for target, row in ordered_targets(summary):
            for metric in SLA_METRICS:
                add([section, target, metric, row[metric]])
    for point in figures["sla"]["trend"]:
        add(["sla_trend", point["period_start"], "compliance", point["compliance"]])
        add(["sla_trend", point["period_start"], "decided", point["decided"]])
    for row in figures["escalations"]["by_direction"]:
        for metric in ["total", *Escalation.Status.values, "mean_answer_seconds"]:
            add(["escalations", row["direction"], metric, row.get(metric)])
    for rank, d in enumerate(figures["top_detections"], start=1):
        key = d["detection"]
        add(["top_detections", key, "rank", rank])
        add(["top_detections", key, "alerts", d["alerts"]])
        add(["top_detections", key, "incidents", d["incidents"]])
        add(["top_detections", key, "severity", d["severity"]])
    remediation = figures.get("remediation")
    if remediation:
        for severity in SEVERITIES:
            for section, counts in (
                ("remediation_open", remediation["open_by_severity"]),
                ("remediation_overdue", remediation["overdue_by_severity"]),
            ):
                add([section, severity, "findings", counts.get(severity, 0)])
        for metric in (
            "open_total",
            "overdue",
            "new_in_period",
            "remediated_in_period",
            "mean_time_to_remediate_days",
            "breached_in_period",
            "risk_accepted",
        ):
            add(["remediation", "all", metric, remediation[metric]])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows([[_cell(c) for c in row] for row in rows])
    return out.getvalue().encode("utf-8")
