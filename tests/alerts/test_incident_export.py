"""The incident export (issue 14): the incident list as CSV or JSON, from the pages and the API
(alerts.exports), with the list's filters, the TLP rules for files, the customer's view of
custom fields, the tenant boundary, step-up, the audit log, the formula guard and the cap."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import Incident
from cases.models import CustomField
from tenants.models import AuditEvent
from tenants.rls import rls_bypass
from tests.mfa import enrol, log_in

pytestmark = pytest.mark.django_db

API = "/api/v1/incidents/export/"
PAGE = "/incidents/export/"
HOSTILE = ['=HYPERLINK("http://evil")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def make_incident(tenant, title: str, **fields) -> Incident:
    now = timezone.now()
    rank = {"low": 1, "medium": 2, "high": 3, "critical": 4}[fields.get("severity", "medium")]
    with rls_bypass("test fixture"):
        return Incident.objects.create(
            tenant=tenant,
            title=title,
            severity=fields.pop("severity", "medium"),
            severity_rank=rank,
            fingerprint=f"fp-{title}",
            first_seen=now,
            last_seen=now,
            **fields,
        )


@pytest.fixture
def ex(two_tenants):
    """A's incidents at every TLP level, with a customer-visible, an internal and an archived
    field; B's incident with B's own field."""
    w = dict(two_tenants)
    a, b = w["a"], w["b"]
    with rls_bypass("test fixture"):
        CustomField.objects.create(tenant=a, key="impact", label="Impact", type="text")
        CustomField.objects.create(
            tenant=a, key="suspect", label="Suspect", type="text", customer_visible=False
        )
        CustomField.objects.create(
            tenant=a, key="old", label="Old", type="number", is_archived=True, position=9
        )
        CustomField.objects.create(tenant=b, key="b_only", label="B only", type="text")
    values = {"impact": "high", "suspect": "the CFO", "old": 3}
    for level in ("clear", "green", "amber", "amber+strict", "red"):
        w[level] = make_incident(a, f"A {level}", tlp=level, custom_fields=values)
    w["hostile"] = make_incident(
        a, HOSTILE[0], severity="high", origin="customer", custom_fields={"impact": "=1+1"}
    )
    w["b_incident"] = make_incident(b, "B secret", custom_fields={"b_only": "b-value"})
    return w


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def csv_rows(response) -> list[dict]:
    text = body(response).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def titles(rows) -> set[str]:
    return {row["title"] for row in rows}


def exports_audited() -> list[AuditEvent]:
    with rls_bypass("test"):
        return list(
            AuditEvent.objects.dangerously_unscoped("test")
            .filter(action="incident.exported")
            .order_by("id")
        )


# --- who gets which rows -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reader, levels, withheld",
    [
        ("a_viewer", {"clear", "green"}, "0"),  # AMBER is not the viewer's to know of
        ("a_responder", {"clear", "green", "amber"}, "1"),  # AMBER+STRICT stays in the portal
        ("analyst_a", {"clear", "green", "amber"}, "2"),  # staff too: RED and AMBER+STRICT
    ],
)
def test_files_carry_only_the_levels_a_file_may_carry_for_the_reader(
    ex, api, reader, levels, withheld
):
    response = api(ex[reader]).get(API)
    assert response.status_code == 200
    assert response["X-Export-Withheld"] == withheld
    rows = csv_rows(response)
    got = {row["tlp"] for row in rows if row["title"].startswith("A ")}
    assert got == levels
    assert "B secret" not in titles(rows)


def test_a_customer_never_gets_internal_field_columns_nor_values(ex, api):
    response = api(ex["a_admin"]).get(API)
    text = body(response).decode()
    assert "cf.suspect" not in text and "the CFO" not in text
    header = text.splitlines()[0].lstrip("\ufeff").split(",")
    assert "cf.impact" in header and "cf.old" in header  # archived: its values stay readable
    assert "cf.b_only" not in header
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    green = next(r for r in rows if r["title"] == "A green")
    assert (green["cf.impact"], green["cf.old"], green["tenant"]) == ("high", "3", "tenant-a")
    staff = body(api(ex["analyst_a"]).get(API)).decode()
    assert "cf.suspect" in staff and "the CFO" in staff


def test_json_carries_the_same_rows_with_custom_fields_by_key(ex, api):
    response = api(ex["a_admin"]).get(API + "?format=json&severity=medium&ordering=-cf.old")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    rows = json.loads(body(response))
    assert {r["title"] for r in rows} == {"A clear", "A green", "A amber"}
    assert rows[0]["custom_fields"] == {"impact": "high", "old": 3}
    assert {"sla_state", "sla_next_due", "customer_raised", "tlp", "pap"} <= set(rows[0])


def test_the_lists_filters_apply(ex, api):
    client = api(ex["analyst_a"])
    assert titles(csv_rows(client.get(API + "?q=green"))) == {"A green"}
    assert titles(csv_rows(client.get(API + "?severity=high"))) == {"'" + HOSTILE[0]}
    assert len(csv_rows(client.get(API + "?cf.impact=high&tlp=green,amber"))) == 2
    row = csv_rows(client.get(API + "?cf.impact==1%2B1"))
    assert [r["customer_raised"] for r in row] == ["true"]


# --- the tenant boundary ---------------------------------------------------------------------


def test_a_tenant_filter_of_another_tenant_is_a_404_like_one_that_does_not_exist(ex, api):
    for reader in ("a_admin", "analyst_a"):
        client = api(ex[reader])
        other = client.get(API + f"?tenant={ex['b'].slug}")
        missing = client.get(API + "?tenant=no-such-tenant")
        assert other.status_code == missing.status_code == 404
        assert other.json() == missing.json()
    # a token of A's admin, read scope: its own tenant only
    own = api(ex["a_admin"], scopes=["read"]).get(API + f"?tenant={ex['a'].slug}")
    assert own.status_code == 200 and "B secret" not in titles(csv_rows(own))


def test_staff_export_only_the_tenants_they_work(ex, api):
    rows = csv_rows(api(ex["analyst_b"]).get(API))
    assert titles(rows) == {"B secret"}
    assert rows[0]["cf.b_only"] == "b-value" and "cf.impact" not in rows[0]
    everyone = csv_rows(api(ex["mssp_admin"]).get(API))
    assert {"B secret", "A green"} <= titles(everyone)
    assert api(ex["outsider"]).get(API).status_code == 403


# --- the file --------------------------------------------------------------------------------


def test_cells_a_spreadsheet_would_run_are_neutralised(ex, api):
    for value in HOSTILE[1:]:
        make_incident(ex["a"], value, custom_fields={"impact": value})
    rows = csv_rows(api(ex["analyst_a"]).get(API))
    hostile = [r for r in rows if not r["title"].startswith("A ")]
    assert len(hostile) == len(HOSTILE)
    for row in hostile:
        assert row["title"].startswith("'") and row["title"][1:] in HOSTILE
        assert row["cf.impact"].startswith("'")
    # JSON is data, not a spreadsheet: the values as they are
    rows = json.loads(body(api(ex["analyst_a"]).get(API + "?format=json")))
    assert HOSTILE[0] in {r["title"] for r in rows}


def test_the_download_is_an_attachment_named_after_the_tenant_and_day(ex, api):
    response = api(ex["a_admin"]).get(API)
    day = timezone.now().strftime("%Y-%m-%d")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="incidents-tenant-a-{day}.csv"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Export-Rows"] == "4"
    staff = api(ex["mssp_admin"]).get(API + "?format=json")
    assert f'"incidents-all-tenants-{day}.json"' in staff["Content-Disposition"]


@pytest.mark.parametrize(
    "query",
    [
        "?format=xml",
        "?status=nonsense",
        "?severity=bad",
        "?since=yesterday",
        "?cf.no_such=1",
        "?cf.suspect=x",  # internal: unknown to a customer
        "?ordering=title",
        "?q=" + "x" * 300,
        "?tlp=ultraviolet",
    ],
)
def test_bad_input_is_a_4xx_with_a_sentence(ex, api, query):
    response = api(ex["a_admin"]).get(API + query)
    assert response.status_code == 400, (query, response)
    assert isinstance(response.json()["detail"], str)


def test_more_rows_than_the_cap_is_refused_and_nothing_is_audited(ex, api, settings):
    settings.INCIDENT_EXPORT_MAX_ROWS = 3
    response = api(ex["analyst_a"]).get(API)
    assert response.status_code == 400
    assert "more than the 3" in response.json()["detail"]
    assert exports_audited() == []


def test_queries_grow_with_chunks_not_rows(ex, api, settings):
    settings.INCIDENT_EXPORT_CHUNK = 50
    client = api(ex["analyst_a"])
    client.get(API)  # the token's first use records last_used_at

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(API)
            assert len(csv_rows(response)) > 0
        return len(captured)

    few = queries()
    for i in range(40):
        make_incident(ex["a"], f"more {i}", custom_fields={"impact": str(i)})
    assert queries() == few


# --- audit and step-up ------------------------------------------------------------------------


def test_every_export_is_audited_in_each_exported_tenants_log(ex, api):
    api(ex["mssp_admin"]).get(API + "?format=json&severity=medium,high&cf.suspect=the%20CFO")
    entries = exports_audited()
    assert {e.tenant_id for e in entries} == {ex["a"].pk}  # B had no row
    (entry,) = entries
    assert entry.actor == ex["mssp_admin"]
    assert entry.data["format"] == "json" and entry.data["rows"] == 3
    # a filter on the MSSP's internal field is left out of the customer's log
    assert entry.data["filters"] == {"severity": "medium,high"}
    api(ex["mssp_admin"]).get(API + "?ordering=-cf.suspect")
    assert {e.tenant_id for e in exports_audited()[1:]} == {ex["a"].pk, ex["b"].pk}
    assert all(e.data["filters"] == {} for e in exports_audited()[1:])
    api(ex["mssp_admin"]).get(API + f"?cf.impact=high&tenant={ex['a'].slug}")
    assert exports_audited()[-1].data["filters"] == {"cf.impact": "high", "tenant": "tenant-a"}


def test_the_page_asks_for_the_second_factor_then_downloads(ex, settings):
    admin = ex["a_admin"]
    enrol(admin)
    client = Client()
    assert log_in(client, admin).status_code == 302
    fresh = client.get(PAGE + "?status=&format=csv")
    assert fresh.status_code == 200 and "A green" in body(fresh).decode()
    later = timezone.now() + timedelta(minutes=settings.STEP_UP_MINUTES + 1)
    with time_machine.travel(later):
        asked = client.get(PAGE + "?format=csv")
        assert asked.status_code == 302
        assert asked["Location"].startswith("/accounts/2fa/reauthenticate/")
        # the API in that session: 403 naming the page
        refused = client.get(API)
        assert refused.status_code == 403 and refused.json()["error"] == "step_up_required"
    assert len(exports_audited()) == 1
    listed = client.get("/incidents/")
    assert b"/incidents/export/?" in listed.content
    bad = client.get(PAGE + "?format=xml")
    assert bad.status_code == 400 and b"Not exported" in bad.content


# --- the schema --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def export_schema(django_db_blocker):
    import schemathesis
    from django.urls import path, resolve
    from drf_spectacular.generators import SchemaGenerator

    # The schema of this one route (as the whole API's describes it), not of every route: seconds.
    route = path(API.lstrip("/"), resolve(API).func)
    with django_db_blocker.unblock():
        raw = SchemaGenerator(patterns=[route]).get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(raw, config=schemathesis.Config())


@pytest.mark.parametrize("query", ["", "?format=json", "?format=xml", "?tenant=tenant-b"])
def test_answers_are_as_documented(ex, api, export_schema, query):
    """tests/test_openapi_truth.py's check, on the streamed body (that module pulls in the
    whole isolation matrix)."""
    import requests
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    response = api(ex["a_admin"]).get(API + query)
    headers: dict[str, list[str]] = {}
    for name, value in response.items():
        headers.setdefault(name.lower(), []).append(value)
    path = API + query
    answer = schemathesis.Response(
        status_code=response.status_code,
        headers=headers,
        content=body(response),
        request=requests.Request("GET", f"http://testserver{path}").prepare(),
        elapsed=0.0,
        verify=False,
    )
    operation = export_schema["/api/v1/incidents/export/"]["GET"]
    case = export_schema.make_case(operation=operation, path=API)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    case.validate_response(answer, checks=checks)


# --- streaming -------------------------------------------------------------------------------


def test_the_body_is_sent_a_chunk_at_a_time(ex, api, settings):
    settings.INCIDENT_EXPORT_CHUNK = 2
    response = api(ex["analyst_a"]).get(API)
    parts = list(response.streaming_content)
    assert len(parts) == 1 + 2  # the header, then 4 rows two by two
    assert parts[0].startswith(b"\xef\xbb\xbfid,title,tenant,")


def test_under_asgi_the_body_is_read_lazily_and_closed(ex):
    """Under daphne a synchronous body would be read whole first: the ASGI body asks for one
    chunk at a time, and closing it early closes the reader (its transaction ends)."""
    from asgiref.sync import async_to_sync

    from alerts import exports

    closed = []

    def body():
        try:
            for n in range(3):
                yield str(n).encode()
        finally:
            closed.append(True)

    async def first_then_close() -> bytes:
        stream = exports._async_body(body())
        first = await stream.__anext__()
        await stream.aclose()
        return first

    assert async_to_sync(first_then_close)() == b"0"
    assert closed == [True]
