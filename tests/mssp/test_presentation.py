"""The portal's one presentation kit: figures formatted the same on the SLA pages, in the
reports and in the charts' descriptions; one pager; one severity badge."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from django.template import Context, Template

from reports import render as report_render
from sla import charts
from sla.views import dashboard as sla_dashboard
from sla.views import health as sla_health

SHARES = [None, 0.0, 0.5, 0.95, 0.955, 1.0]
SECONDS = [None, 0, 12.4, 59.5, 840, 7500, 3 * 86400 + 4 * 3600]


@pytest.mark.parametrize("share", SHARES)
def test_the_sla_pages_and_the_reports_print_the_same_compliance(share):
    # They once differed: the SLA pages printed 0.95 as "95.0 %", the reports as "95 %".
    assert sla_dashboard.percent(share) == report_render.percent(share)
    assert sla_health.percent(share) == report_render.percent(share)


@pytest.mark.parametrize("seconds", SECONDS)
def test_the_sla_pages_and_the_reports_print_the_same_mean_times(seconds):
    assert sla_dashboard.duration(seconds) == report_render.duration(seconds)


def test_a_percentage_has_one_decimal_and_none_when_whole():
    assert [report_render.percent(s) for s in SHARES] == [
        "—",
        "0 %",
        "50 %",
        "95 %",
        "95.5 %",
        "100 %",
    ]


def test_a_chart_describes_compliance_as_the_report_prints_it():
    series = [
        {"period_start": "2026-01-05", "compliance": 0.955},
        {"period_start": "2026-01-12", "compliance": 1.0},
    ]
    desc = charts.compliance_chart(series).desc
    assert f"Lowest {sla_dashboard.percent(0.955)} (2026-01-05)" in desc
    assert f"latest {report_render.percent(1.0)} (2026-01-12)" in desc


def _render(source: str, **context) -> str:
    return Template("{% load portal %}" + source).render(Context(context))


def test_the_pager_links_the_next_page_and_the_first_with_the_filters_but_no_cursor():
    params = QueryDict("status=open&cursor=abc&tenant=a")
    html = _render("{% pager next_url params %}", next_url="?cursor=def", params=params)
    assert html == (
        '<nav class="pager" aria-label="Pages"><a href="?status=open&amp;tenant=a">First page</a>'
        '<a href="?cursor=def" rel="next">Next page →</a></nav>'
    )


def test_the_pager_is_named_for_its_list_and_absent_on_the_last_page():
    html = _render('{% pager next_url label="Pages of hits" %}', next_url="?cursor=x")
    assert 'aria-label="Pages of hits"' in html and 'href="?"' in html
    assert _render("{% pager next_url params %}", next_url=None, params=QueryDict()) == ""


def test_the_severity_badge_of_a_row_a_value_and_a_labelled_value():
    class Row:
        severity = "high"

        def get_severity_display(self):
            return "High"

    high = '<span class="sev sev-high">High</span>'
    assert _render("{% severity_badge row %}", row=Row()) == high
    assert _render("{% severity_badge s %}", s="critical") == (
        '<span class="sev sev-critical">Critical</span>'
    )
    escaped = '<span class="sev sev-low">&lt;b&gt;</span>'
    assert _render("{% severity_badge 'low' label %}", label="<b>") == escaped


def test_a_list_page_refuses_a_cursor_it_did_not_give_out(client, two_tenants):
    client.force_login(two_tenants["a_admin"])
    assert client.get("/findings/imports/?cursor=x").status_code == 400
    listing = client.get("/findings/?cursor=x")
    assert "Not a cursor this list gave out" in listing.content.decode()
