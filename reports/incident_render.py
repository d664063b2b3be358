"""A post-incident report as its page and its PDF show it. Both read only the report's
sections and its `facts` snapshot (reports.incident_reports), so they show the same thing, and
nothing the customer may not see. Every piece of tenant text in the PDF goes through
reports.fonts.markup (escaped, and set in a font that has its script)."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.dateparse import parse_datetime
from reportlab.lib.colors import HexColor, black
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from alerts import tlp
from alerts.models import Tlp
from tenants.format import duration

from .fonts import fonts, markup
from .incident_reports import marking
from .models import IncidentReport
from .render import GRID, HEAD, pdf_styles

SECTION_TITLES = {
    "summary": "Summary",
    "root_cause": "Root cause",
    "lessons_learned": "Lessons learned",
    "recommendations": "Recommendations",
}
OWNERS = {"mssp": "MSSP", "customer": "Your in-house team"}


def _zone(facts: dict[str, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(facts.get("timezone") or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def local(value: str | None, zone: ZoneInfo) -> str:
    """An ISO moment of the facts in the customer's time zone, to the minute ('—' if none)."""
    moment: datetime | None = parse_datetime(value) if value else None
    if moment is None:
        return "—"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def view(report: IncidentReport) -> dict[str, Any]:
    """The report's facts with their times in the customer's zone and SLA rows in words: what
    the page and the PDF lay out."""
    facts = report.facts or {}
    zone = _zone(facts)

    def at(rows: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
        return [{**row, **{f"{n}_local": local(row.get(n), zone) for n in names}} for row in rows]

    sla = []
    for row in facts.get("sla", []):
        if row.get("met_at"):
            outcome = "Breached, then met" if row.get("breached") else "Met"
        elif row.get("breached"):
            outcome = "Breached"
        else:
            outcome = "Not met yet"
        sla.append(
            {
                **row,
                "owner_label": OWNERS.get(row.get("owner", ""), row.get("owner", "")),
                "due_local": local(row.get("due_at"), zone),
                "met_local": local(row.get("met_at"), zone),
                "outcome": outcome,
                "taken": duration(row.get("taken_seconds")),
                "allowed": duration((row.get("target_minutes") or 0) * 60),
            }
        )
    level = marking(report)
    return {
        "facts": facts,
        "tlp": level,
        "tlp_label": tlp.marking_label(level),
        "tlp_meaning": tlp.MEANINGS.get(level, tlp.MEANINGS[Tlp.RED]),  # type: ignore[call-overload]
        "zone": str(zone),
        "times": [
            ("Opened", local(facts.get("opened_at"), zone)),
            ("Acknowledged", local(facts.get("acknowledged_at"), zone)),
            ("Contained", local(facts.get("contained_at"), zone)),
            ("Resolved", local(facts.get("resolved_at"), zone)),
        ],
        "timeline": at(facts.get("timeline", []), "at"),
        "containment": at(facts.get("containment", []), "at"),
        "tasks_done": at(facts.get("tasks_done", []), "completed_at"),
        "observables": facts.get("observables", []),
        "fields": facts.get("fields", []),
        "evidence": at(facts.get("evidence", []), "added_at"),
        "sla": sla,
        "sections": [
            (name, SECTION_TITLES[name], getattr(report, name)) for name in IncidentReport.SECTIONS
        ],
    }


def _table(rows: list[list[str]], widths: list[float]) -> Table:
    """Every cell is tenant text or derived from it: a Paragraph of markup()."""
    chosen = fonts()
    cell = ParagraphStyle("pir-cell", fontName=chosen.regular, fontSize=8.5, leading=10.5)
    head = ParagraphStyle("pir-head", parent=cell, fontName=chosen.bold)
    body = [
        [Paragraph(markup(value), head if i == 0 else cell) for value in row]
        for i, row in enumerate(rows)
    ]
    table = Table(body, colWidths=widths, hAlign="LEFT", repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, -1), 0.5, GRID),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, 0), HEAD),
            ]
        )
    )
    return table


def render_incident_pdf(report: IncidentReport) -> bytes:
    shown = view(report)
    facts = shown["facts"]
    styles = pdf_styles()
    body, small, h1, h2 = (
        styles["BodyText"],
        styles["small"],
        styles["Title"],
        styles["Heading2"],
    )

    def para(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(markup(text), style)

    def section(title: str, text: str) -> list[Any]:
        parts: list[Any] = [para(title, h2)]
        paragraphs = [p for p in (text or "").split("\n\n") if p.strip()]
        if not paragraphs:
            return [*parts, para("Not written.", small)]
        for chunk in paragraphs:
            # line breaks inside a paragraph stay line breaks; the text itself stays text
            parts.append(Paragraph("<br/>".join(markup(line) for line in chunk.split("\n")), body))
        return parts

    def empty(text: str) -> list[Any]:
        return [para(text, small)]

    sections = {name: text for name, _, text in shown["sections"]}
    story: list[Any] = [
        para(f"{shown['tlp_label']}: {shown['tlp_meaning']}.", small),
        para(f"Post-incident report: {facts.get('title', '')}", h1),
        para(
            f"Prepared for {facts.get('customer', '')}. Severity {facts.get('severity', '')}"
            + (f", category {facts['category']}" if facts.get("category") else "")
            + f", {facts.get('origin', '')}. Status: {facts.get('status', '')}"
            + (f" ({facts['resolution']})" if facts.get("resolution") else "")
            + f". Times in {shown['zone']}.",
        ),
        Spacer(1, 3 * mm),
        _table(
            [[label for label, _ in shown["times"]], [v for _, v in shown["times"]]], [42 * mm] * 4
        ),
        *(
            [_table([["Field", "Value"]] + fields, [60 * mm, 114 * mm])]
            if (fields := [[f["label"], f["value"]] for f in shown["fields"]])
            else []
        ),
        *section("Summary", sections["summary"]),
        para("Timeline", h2),
    ]
    if shown["timeline"]:
        story.append(
            _table(
                [["When", "Who", "What"]]
                + [[r["at_local"], r["who"], r["text"]] for r in shown["timeline"]],
                [30 * mm, 30 * mm, 114 * mm],
            )
        )
    else:
        story += empty("No shared timeline entries.")
    story.append(para("Containment", h2))
    if shown["containment"]:
        story.append(
            _table(
                [["When", "Action", "Target", "Result"]]
                + [
                    [r["at_local"], r["action"], r["target"], r["result"]]
                    for r in shown["containment"]
                ],
                [30 * mm, 56 * mm, 60 * mm, 28 * mm],
            )
        )
    else:
        story += empty("No containment actions were recorded.")
    story.append(para("Tasks done", h2))
    if shown["tasks_done"]:
        story.append(
            _table(
                [["Task", "Phase", "Done"]]
                + [[r["title"], r["phase"], r["completed_at_local"]] for r in shown["tasks_done"]],
                [104 * mm, 40 * mm, 30 * mm],
            )
        )
    else:
        story += empty("No shared task was done.")
    story.append(para("Observables", h2))
    if shown["observables"]:
        story.append(
            _table(
                [["Type", "Value", "Tag"]]
                + [[r["type"], r["value"], r["tag"]] for r in shown["observables"]],
                [24 * mm, 120 * mm, 30 * mm],
            )
        )
    else:
        story += empty("No observables.")
    story.append(para("Evidence", h2))
    if shown["evidence"]:
        story.append(
            _table(
                [["File", "SHA-256", "Added"]]
                + [[r["name"], r["sha256"], r["added_at_local"]] for r in shown["evidence"]],
                [50 * mm, 94 * mm, 30 * mm],
            )
        )
    else:
        story += empty("No shared evidence files.")
    story += section("Root cause", sections["root_cause"])
    story += section("Lessons learned", sections["lessons_learned"])
    story += section("Recommendations", sections["recommendations"])
    story.append(para("SLA figures for this incident", h2))
    if shown["sla"]:
        story.append(
            _table(
                [["Target", "Whose", "Allowed", "Due", "Outcome", "Time taken"]]
                + [
                    [
                        r["label"],
                        r["owner_label"],
                        r["allowed"],
                        r["due_local"],
                        r["outcome"],
                        r["taken"],
                    ]
                    for r in shown["sla"]
                ],
                [30 * mm, 32 * mm, 22 * mm, 30 * mm, 32 * mm, 28 * mm],
            )
        )
    else:
        story += empty("No SLA clock ran for this incident.")

    buffer = io.BytesIO()
    label = shown["tlp_label"]
    colour = tlp.COLOURS.get(shown["tlp"], tlp.COLOURS[Tlp.RED])  # type: ignore[call-overload]

    def mark(canvas: Any, doc: Any) -> None:
        """TLP 2.0: the label, in its colour on black, at the top and foot of every page."""
        canvas.saveState()
        canvas.setFont(fonts().bold, 9)
        width = canvas.stringWidth(label, fonts().bold, 9) + 6
        for y in (A4[1] - 10 * mm, 6 * mm):
            x = A4[0] - 18 * mm - width
            canvas.setFillColor(black)
            canvas.rect(x, y - 2, width, 12, fill=1, stroke=0)
            canvas.setFillColor(HexColor(colour))
            canvas.drawString(x + 3, y + 1, label)
        canvas.restoreState()

    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"Post-incident report: {facts.get('title', '')}",
        author=str(facts.get("customer", "")),
        subject=f"Post-incident report for {facts.get('customer', '')}",
    )
    document.build(story, onFirstPage=mark, onLaterPages=mark)
    return buffer.getvalue()
