"""The post-incident report: drafted from what the customer sees of an incident, edited by an
analyst, approved by a supervisor who did not last change it (four eyes), shared, reopened.
Internal material (a comment, a task, an evidence file, an observable) is in neither its
snapshot, its page, its PDF nor its API answer, and no other tenant reaches any of it."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pypdf import PdfReader

from alerts.intake.base import Observable
from alerts.models import Incident
from alerts.observables import observable_add
from alerts.services import incident_comment, incident_contain
from cases.services import attachment_add, task_create, task_set_status
from reports.models import IncidentReport
from tenants.models import AuditEvent
from tenants.rls import rls_bypass
from tests.cases.conftest import rows
from tests.factories import StaffFactory, ingest_alerts

pytestmark = pytest.mark.django_db

BAITS = (
    "BAIT internal comment",
    "BAIT internal task",
    "bait-internal-evidence.eml",
    "bait-internal-observable",
)
SHARED = ("Shared update: the mailbox is clean", "Reset the password", "phish.eml", "isolate host")


@pytest.fixture
def pir(two_tenants, settings, tmp_path):
    """Tenant A's phishing incident worked with shared and internal material alike; a lead
    of A besides its analyst; tenant B with an incident of its own."""
    settings.MEDIA_ROOT = tmp_path
    w = dict(two_tenants)
    w["lead_a"] = StaffFactory(staff_role="lead", tenants=[w["a"]])
    for name in ("a", "b"):
        ingest_alerts(w[f"{name}_source"], 1, title=f"{name.upper()}'s phishing")
        w[f"{name}_incident"] = rows(Incident, tenant=w[name])[0]
    incident, analyst = w["a_incident"], w["analyst_a"]
    with rls_bypass("test fixture"):
        incident = Incident.objects.dangerously_unscoped("test").select_related("tenant")
        incident = incident.get(pk=w["a_incident"].pk)
        incident_comment(incident, author=analyst, body=BAITS[0], visibility="internal")
        incident_comment(incident, author=analyst, body=SHARED[0], visibility="shared")
        for title, visibility in ((BAITS[1], "internal"), (SHARED[1], "shared")):
            task = task_create(
                incident, actor=analyst, title=title, phase="containment", visibility=visibility
            )
            task_set_status(task, "done", actor=analyst)
        for name, visibility in ((BAITS[2], "internal"), (SHARED[2], "shared")):
            attachment_add(
                incident,
                SimpleUploadedFile(name, f"{name} body".encode()),
                actor=analyst,
                visibility=visibility,
            )
        observable_add(
            incident,
            actor=analyst,
            observable=Observable("user", BAITS[3]),
            source="analyst",
            visibility="internal",
        )
        observable_add(
            incident,
            actor=analyst,
            observable=Observable("domain", "evil-login.example"),
            source="analyst",
            visibility="shared",
        )
        incident_contain(incident, actor=analyst, action=SHARED[3], target="ws-7")
    w["url"] = f"/api/v1/incidents/{incident.pk}/report/"
    return w


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_the_workflow_with_four_eyes(pir, api):
    url, analyst, lead, admin = pir["url"], pir["analyst_a"], pir["lead_a"], pir["mssp_admin"]
    assert api(analyst).get(url).status_code == 404  # nothing drafted yet
    drafted = api(analyst).post(url, {"summary": "A user was phished."}, format="json")
    assert drafted.status_code == 201, drafted.json()
    assert drafted.json()["status"] == "draft" and drafted.json()["drafted_by"] == analyst.username
    assert api(analyst).post(url, {}, format="json").status_code == 409  # one per incident
    assert api(pir["a_admin"]).get(url).status_code == 404  # the customer: not before sharing
    assert api(pir["a_admin"]).get(url + "pdf/").status_code == 404
    assert api(analyst).post(url + "approve/").status_code == 403  # analysts do not approve
    assert api(lead).post(url + "share/").status_code == 400  # not approved yet
    edited = api(lead).patch(url, {"root_cause": "No MFA on webmail."}, format="json")
    assert edited.status_code == 200 and edited.json()["edited_by"] == lead.username
    refused = api(lead).post(url + "approve/")
    assert refused.status_code == 400 and "four eyes" in refused.json()["detail"]
    approved = api(admin).post(url + "approve/")
    assert approved.status_code == 200 and approved.json()["approved_by"] == admin.username
    late = api(analyst).patch(url, {"summary": "changed after approval"}, format="json")
    assert late.status_code == 400 and "reopen" in late.json()["detail"]
    assert api(analyst).post(url + "share/").status_code == 403  # supervisors share
    shared = api(lead).post(url + "share/")
    assert shared.status_code == 200 and shared.json()["status"] == "shared"
    seen = api(pir["a_viewer"]).get(url)
    assert seen.status_code == 200 and seen.json()["summary"] == "A user was phished."
    assert api(pir["a_admin"]).patch(url, {"summary": "x"}, format="json").status_code == 403
    assert api(pir["a_admin"]).post(url + "reopen/").status_code == 403
    pdf = api(pir["a_viewer"]).get(url + "pdf/")
    assert pdf.status_code == 200 and pdf["Content-Disposition"].startswith("attachment;")
    assert "No MFA on webmail." in pdf_text(pdf.content)
    reopened = api(lead).post(url + "reopen/")
    assert reopened.status_code == 200 and reopened.json()["status"] == "draft"
    assert reopened.json()["approved_by"] is None and reopened.json()["shared_at"] is None
    assert api(pir["a_viewer"]).get(url).status_code == 404  # withdrawn
    actions = [e.action for e in rows(AuditEvent, tenant=pir["a"]) if "incident_report" in e.action]
    assert sorted(actions) == sorted(
        [
            "incident_report.drafted",
            "incident_report.edited",
            "incident_report.approved",
            "incident_report.shared",
            "incident_report.reopened",
        ]
    )


def test_internal_material_is_in_neither_snapshot_page_pdf_nor_api(pir, api, client):
    url, lead = pir["url"], pir["lead_a"]
    assert api(pir["analyst_a"]).post(url, {"summary": "S"}, format="json").status_code == 201
    assert api(pir["mssp_admin"]).post(url + "approve/").status_code == 200
    assert api(lead).post(url + "share/").status_code == 200
    (report,) = rows(IncidentReport, incident=pir["a_incident"])
    snapshot = json.dumps(report.facts)
    for shown in (*SHARED, "evil-login.example", "A's phishing"):
        assert shown in snapshot  # what the customer sees is there: the check below means it
    assert report.facts["evidence"][0]["sha256"] and report.facts["sla"]
    answer = api(pir["a_viewer"]).get(url).content.decode()
    client.force_login(pir["a_viewer"])
    page = client.get(reverse("incident-report", args=[pir["a_incident"].pk]))
    assert page.status_code == 200 and "Draft" not in page.content.decode()
    download = client.get(reverse("incident-report-pdf", args=[pir["a_incident"].pk]))
    assert download["Content-Disposition"].startswith("attachment;")
    text = pdf_text(download.content)
    assert "Shared update: the mailbox is clean" in text and "phish.eml" in text
    incident_page = client.get(reverse("incident", args=[pir["a_incident"].pk])).content.decode()
    assert reverse("incident-report", args=[pir["a_incident"].pk]) in incident_page
    for bait in BAITS:
        for where, body in (
            ("snapshot", snapshot),
            ("api", answer),
            ("page", page.content.decode()),
            ("pdf", text),
        ):
            assert bait not in body, f"{bait} leaked into the {where}"


def test_bad_input_is_a_400_and_nothing_changes(pir, api):
    url, analyst = pir["url"], pir["analyst_a"]
    too_long = "x" * (IncidentReport.SECTION_MAX + 1)
    assert api(analyst).post(url, {"summary": too_long}, format="json").status_code == 400
    assert not rows(IncidentReport, incident=pir["a_incident"])
    assert api(analyst).post(url, {"summary": "ok"}, format="json").status_code == 201
    response = api(analyst).patch(url, {"lessons_learned": too_long}, format="json")
    assert response.status_code == 400 and "lessons_learned" in response.json()["fields"]
    assert api(analyst).patch(url, ["not", "an", "object"], format="json").status_code == 400
    assert api(pir["lead_a"]).post(url + "reopen/").status_code == 400  # already a draft
    (report,) = rows(IncidentReport, incident=pir["a_incident"])
    assert report.summary == "ok" and report.lessons_learned == ""


def test_another_tenant_reaches_nothing_of_a_report(pir, api, client):
    url = pir["url"]
    assert (
        api(pir["analyst_a"]).post(url, {"summary": "A's secret"}, format="json").status_code == 201
    )
    assert api(pir["mssp_admin"]).post(url + "approve/").status_code == 200
    assert api(pir["lead_a"]).post(url + "share/").status_code == 200
    for attacker in ("analyst_b", "b_admin", "b_viewer", "outsider"):
        caller = api(pir[attacker])
        assert caller.get(url).status_code == 404
        assert caller.get(url + "pdf/").status_code == 404
        if attacker != "b_viewer":  # a viewer's token never writes: 403 for every object
            assert caller.patch(url, {"summary": "B was here"}, format="json").status_code == 404
            for step in ("approve", "share", "reopen"):
                assert caller.post(url + f"{step}/").status_code == 404
        client.force_login(pir[attacker])
        incident = pir["a_incident"].pk
        assert client.get(reverse("incident-report", args=[incident])).status_code == 404
        assert client.get(reverse("incident-report-pdf", args=[incident])).status_code == 404
        step = reverse("incident-report-step", args=[incident, "reopen"])
        assert client.post(step).status_code == 404
    # B's own incident: B's analyst drafts there, and A's report is untouched
    b_url = f"/api/v1/incidents/{pir['b_incident'].pk}/report/"
    assert api(pir["analyst_a"]).post(b_url, {}, format="json").status_code == 404
    (report,) = rows(IncidentReport, incident=pir["a_incident"])
    assert report.status == "shared" and report.summary == "A's secret"


def test_the_pages_draft_edit_approve_and_share(pir, client):
    incident = pir["a_incident"].pk
    client.force_login(pir["analyst_a"])
    page = client.get(reverse("incident", args=[incident])).content.decode()
    assert "Draft the post-incident report" in page
    client.post(reverse("incident-report-step", args=[incident, "draft"]))
    shown = client.get(reverse("incident-report", args=[incident])).content.decode()
    assert 'data-banner="draft"' in shown and "Edit the draft" in shown
    edit = reverse("incident-report-step", args=[incident, "edit"])
    client.post(edit, {"summary": "From the page", "refresh_facts": "true"})
    (report,) = rows(IncidentReport, incident=pir["a_incident"])
    assert report.summary == "From the page" and report.edited_by_id == pir["analyst_a"].pk
    client.force_login(pir["a_admin"])
    assert client.get(reverse("incident-report", args=[incident])).status_code == 404
    assert (
        "Post-incident report"
        not in client.get(reverse("incident", args=[incident])).content.decode()
    )
    client.force_login(pir["lead_a"])
    client.post(reverse("incident-report-step", args=[incident, "approve"]))
    client.post(reverse("incident-report-step", args=[incident, "share"]))
    (report,) = rows(IncidentReport, incident=pir["a_incident"])
    assert report.status == "shared" and report.shared_by_id == pir["lead_a"].pk
    client.force_login(pir["a_admin"])
    shown = client.get(reverse("incident-report", args=[incident])).content.decode()
    assert "From the page" in shown and "data-banner" not in shown


def test_only_sharing_reaches_the_customers_stream_and_only_on_its_tenant(pir, api, monkeypatch):
    from tenants import events

    sent = []
    monkeypatch.setattr(events, "tenant_event", lambda *a, **k: sent.append((a, k)))
    url = pir["url"]
    api(pir["analyst_a"]).post(url, {}, format="json")
    api(pir["mssp_admin"]).post(url + "approve/")
    api(pir["lead_a"]).post(url + "share/")
    api(pir["analyst_b"]).post(url + "reopen/")  # B's analyst: 404, and nothing published
    mine = [
        (a[4]["change"], k["audience"]) for a, k in sent if a[4].get("change", "")[:6] == "report"
    ]
    assert mine == [
        ("report", ("staff",)),
        ("report", ("staff",)),
        ("report_shared", events.EVERYONE),
    ]
    assert all(a[0] == pir["a"].pk and a[3] == str(pir["a_incident"].pk) for a, _ in sent)
