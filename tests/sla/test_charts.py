"""sla/charts.py: the drawings behind the dashboard's and the reports' charts."""

from __future__ import annotations

from datetime import date, timedelta
from xml.dom import minidom

from reportlab.graphics import renderPDF

from sla.charts import compliance_chart, counts_chart, severity_chart, to_svg


def parse(svg: str):
    return minidom.parseString(svg)  # noqa: S318 (our own renderer's output)


def trend(values):
    start = date(2026, 11, 1)
    return [
        {"period_start": start + timedelta(days=i), "compliance": value}
        for i, value in enumerate(values)
    ]


def test_compliance_chart_is_accessible_inline_svg():
    svg = to_svg(compliance_chart(trend([0.5, None, 1.0])))
    root = parse(svg).documentElement
    assert root.tagName == "svg" and root.getAttribute("role") == "img"
    title = root.getElementsByTagName("title")[0]
    desc = root.getElementsByTagName("desc")[0]
    assert root.getAttribute("aria-labelledby") == title.getAttribute("id")
    assert root.getAttribute("aria-describedby") == desc.getAttribute("id")
    assert title.firstChild.data == "SLA compliance over time"
    # The description carries the numbers the picture shows.
    assert "Lowest 50 %" in desc.firstChild.data and "latest 100 %" in desc.firstChild.data
    assert "1 periods without decided clocks" in desc.firstChild.data
    assert not svg.startswith("<?xml")


def test_two_charts_on_one_page_have_distinct_ids():
    first = parse(to_svg(severity_chart({"high": 2})))
    second = parse(to_svg(severity_chart({"high": 2})))

    def ids(doc):
        return {e.getAttribute("id") for e in doc.getElementsByTagName("*") if e.hasAttribute("id")}

    assert ids(first) and not ids(first) & ids(second)


def test_labels_from_tenant_data_are_escaped():
    svg = to_svg(counts_chart({"<script>alert(1)</script>": 3}, title="By category"))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


def test_severity_chart_lists_every_severity_in_order():
    chart = severity_chart({"low": 1, "critical": 4})
    assert chart.desc == "By severity: critical 4, high 0, medium 0, low 1, info 0."


def test_many_labels_are_folded_into_other():
    chart = counts_chart({f"c{i}": 20 - i for i in range(20)}, title="By category", limit=5)
    assert chart.desc.endswith("c3 17, other " + str(sum(20 - i for i in range(4, 20))) + ".")


def test_empty_data_draws_a_message_not_an_error():
    charts = [compliance_chart([]), compliance_chart(trend([None])), counts_chart({}, title="x")]
    for chart in charts:
        assert "None" in to_svg(chart) or "No SLA" in to_svg(chart)
        assert renderPDF.drawToString(chart).startswith(b"%PDF")


def test_the_same_drawing_renders_into_a_pdf():
    chart = compliance_chart(trend([0.9, 0.95]))
    assert renderPDF.drawToString(chart).startswith(b"%PDF")
