"""Charts of SLA and volume figures, drawn once with reportlab and shown twice: inline in the
pages (`to_svg`) and in the PDF reports (a `Drawing` is a platypus flowable). Each chart
carries an accessible title and a text description of its data, so a screen reader gets the
numbers the picture shows.

    drawing = compliance_chart(get_sla_trend(tenant_ids, start, end))
    svg = to_svg(drawing)          # in a template: {{ svg|safe }} inside <figure class="chart">
    story.append(drawing)          # in a reportlab platypus document

Labels come from tenant data (categories, source names): they are written as XML text nodes
by the SVG renderer, never pasted into markup, so `to_svg`'s output is safe to inline.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from reportlab.graphics import renderSVG
from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.attrmap import AttrMap, AttrMapValue
from reportlab.lib.validators import isString

from tenants.format import percent

INK = colors.HexColor("#16191d")
MUTED = colors.HexColor("#5b6470")
GRID = colors.HexColor("#d9dde3")
ACCENT = colors.HexColor("#1d4ed8")
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
SEVERITY_COLORS = {
    "critical": colors.HexColor("#7a271a"),
    "high": colors.HexColor("#b42318"),
    "medium": colors.HexColor("#dc8a00"),
    "low": colors.HexColor("#2e90fa"),
    "info": colors.HexColor("#98a2b3"),
}
FONT = "Helvetica"
LABEL_CHARS = 24


class Chart(Drawing):
    """A reportlab Drawing with the accessible title and description of what it shows."""

    _attrMap = AttrMap(BASE=Drawing, title=AttrMapValue(isString), desc=AttrMapValue(isString))

    def __init__(self, width: float, height: float, *, title: str, desc: str) -> None:
        super().__init__(width, height)
        self.title = title
        self.desc = desc


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _short(label: Any) -> str:
    text = str(label) if label not in (None, "") else "(none)"
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _empty(chart: Chart, message: str) -> Chart:
    chart.add(
        String(
            chart.width / 2,
            chart.height / 2,
            message,
            fontName=FONT,
            fontSize=11,
            fillColor=MUTED,
            textAnchor="middle",
        )
    )
    return chart


def compliance_chart(
    series: Sequence[Mapping[str, Any]],
    *,
    title: str = "SLA compliance over time",
    width: float = 480,
    height: float = 200,
) -> Chart:
    """A line of compliance (0-100 %) per bucket of `sla.selectors.get_sla_trend`'s series
    (dicts with `period_start`, a date or ISO string, and `compliance`, a share or None).
    Buckets with no decided clock are gaps, not zeros."""
    points = [(_day(row.get("period_start")), row.get("compliance")) for row in series]
    decided = [(day, value) for day, value in points if value is not None]
    if decided:
        low = min(decided, key=lambda p: p[1])
        desc = (
            f"Share of SLA clocks met per period, {len(points)} periods from "
            f"{points[0][0]} to {points[-1][0]}. Lowest {percent(low[1])} ({low[0]}), "
            f"highest {percent(max(v for _, v in decided))}, latest "
            f"{percent(decided[-1][1])} ({decided[-1][0]}); "
            f"{len(points) - len(decided)} periods without decided clocks."
        )
    else:
        desc = "No SLA clock was met or breached in this period."
    chart = Chart(width, height, title=title, desc=desc)
    if not decided:
        return _empty(chart, "No SLA clocks decided in this period")

    line = HorizontalLineChart()
    line.x, line.y = 44, 30
    line.width, line.height = width - 60, height - 50
    line.data = [tuple(None if v is None else round(v * 100, 2) for _, v in points)]
    line.joinedLines = 1
    line.lines[0].strokeColor = ACCENT
    line.lines[0].strokeWidth = 2
    line.lines[0].symbol = makeMarker("FilledCircle", size=3, fillColor=ACCENT)
    line.valueAxis.valueMin = 0
    line.valueAxis.valueMax = 100
    line.valueAxis.valueStep = 25
    line.valueAxis.labelTextFormat = "%d %%"
    line.valueAxis.labels.fontName = FONT
    line.valueAxis.labels.fontSize = 8
    line.valueAxis.labels.fillColor = MUTED
    line.valueAxis.visibleGrid = 1
    line.valueAxis.gridStrokeColor = GRID
    line.valueAxis.strokeColor = GRID
    # At most ~10 date labels, whatever the number of buckets.
    every = max(1, -(-len(points) // 10))
    line.categoryAxis.categoryNames = [
        (day.strftime("%d %b") if day else "") if i % every == 0 else ""
        for i, (day, _) in enumerate(points)
    ]
    line.categoryAxis.labels.fontName = FONT
    line.categoryAxis.labels.fontSize = 8
    line.categoryAxis.labels.fillColor = MUTED
    line.categoryAxis.strokeColor = GRID
    chart.add(line)
    return chart


def counts_chart(
    counts: Mapping[str, int] | Iterable[tuple[str, int]],
    *,
    title: str,
    width: float = 480,
    bar_colors: Mapping[str, Any] | None = None,
    limit: int = 12,
) -> Chart:
    """Horizontal bars, one per label, largest first unless given as ordered pairs (a dict
    keeps its order too). At most `limit` bars; the rest are summed into "other"."""
    items = list(counts.items() if isinstance(counts, Mapping) else counts)
    if len(items) > limit:
        rest = sum(n for _, n in items[limit - 1 :])
        items = [*items[: limit - 1], ("other", rest)]
    total = sum(n for _, n in items)
    desc = (
        f"{title}: " + ", ".join(f"{label or '(none)'} {n}" for label, n in items) + "."
        if items
        else f"{title}: none in this period."
    )
    height = 30 + 22 * max(len(items), 1)
    chart = Chart(width, height, title=title, desc=desc)
    if not items or total == 0:
        return _empty(chart, "None in this period")

    bars = HorizontalBarChart()
    bars.x, bars.y = 160, 20
    bars.width, bars.height = width - 200, height - 30
    # reportlab draws the first category at the bottom: reverse, so the list reads top-down.
    ordered = list(reversed(items))
    bars.data = [tuple(n for _, n in ordered)]
    bars.categoryAxis.categoryNames = [_short(label) for label, _ in ordered]
    bars.categoryAxis.labels.fontName = FONT
    bars.categoryAxis.labels.fontSize = 9
    bars.categoryAxis.labels.fillColor = INK
    bars.categoryAxis.strokeColor = GRID
    bars.valueAxis.valueMin = 0
    bars.valueAxis.forceZero = 1
    bars.valueAxis.labels.fontName = FONT
    bars.valueAxis.labels.fontSize = 8
    bars.valueAxis.labels.fillColor = MUTED
    bars.valueAxis.strokeColor = GRID
    bars.valueAxis.visibleGrid = 1
    bars.valueAxis.gridStrokeColor = GRID
    top = max(n for _, n in items)
    if top < 5:  # whole numbers on the axis of small counts
        bars.valueAxis.valueMax = 5
        bars.valueAxis.valueStep = 1
    bars.barLabelFormat = "%d"
    bars.barLabels.fontName = FONT
    bars.barLabels.fontSize = 8
    bars.barLabels.boxAnchor = "w"
    bars.barLabels.dx = 3
    bars.bars.strokeColor = None
    bars.bars[0].fillColor = ACCENT
    if bar_colors:
        for index, (label, _) in enumerate(ordered):
            if label in bar_colors:
                bars.bars[(0, index)].fillColor = bar_colors[label]
    chart.add(bars)
    return chart


def severity_chart(counts: Mapping[str, int], *, title: str = "By severity", **kwargs) -> Chart:
    """`counts_chart` in severity order (critical first), each bar in its severity's colour;
    every severity is shown, zero or not."""
    ordered = [(severity, int(counts.get(severity, 0))) for severity in SEVERITY_ORDER]
    return counts_chart(ordered, title=title, bar_colors=SEVERITY_COLORS, **kwargs)


def to_svg(drawing: Drawing) -> str:
    """The drawing as an inline <svg> element (no XML prologue), with role="img", its title
    and description, and ids unique to this call (several charts share one page)."""
    canvas = renderSVG.SVGCanvas((drawing.width, drawing.height), useClip=True)
    renderSVG.draw(drawing, canvas)
    svg = canvas.svg
    prefix = "chart-" + uuid.uuid4().hex[:10]
    for element in svg.getElementsByTagName("*"):
        if element.hasAttribute("id"):
            element.setAttribute("id", f"{prefix}-{element.getAttribute('id')}")
        if element.hasAttribute("style"):
            # The renderer's style="stroke: ...; fill: ..." as SVG presentation attributes
            # (stroke="...", fill="..."): the same look, and no inline style for the pages'
            # Content-Security-Policy to refuse (style-src has no 'unsafe-inline').
            for declaration in element.getAttribute("style").split(";"):
                name, _, value = declaration.partition(":")
                if name.strip() and value.strip():
                    element.setAttribute(name.strip(), value.strip())
            element.removeAttribute("style")
    for tag, text in (
        ("title", getattr(drawing, "title", "") or "Chart"),
        ("desc", getattr(drawing, "desc", "") or ""),
    ):
        node = svg.getElementsByTagName(tag)[0]
        node.firstChild.data = text
        node.setAttribute("id", f"{prefix}-{tag}")
    svg.setAttribute("role", "img")
    svg.setAttribute("aria-labelledby", f"{prefix}-title")
    svg.setAttribute("aria-describedby", f"{prefix}-desc")
    svg.setAttribute("focusable", "false")
    return svg.toxml()
