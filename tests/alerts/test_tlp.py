"""TLP is enforced everywhere a customer reads (alerts.tlp): for each item kind (incident,
comment, task, evidence file, observable, timeline entry) at GREEN, AMBER and RED, each
customer role (viewer, responder, admin, all through API tokens and through the pages) and MSSP
staff: the API's lists and details, the pages, the audit log, the post-incident report, the
notification messages. A RED item's text is nowhere a customer can read, an AMBER one's nowhere
a viewer can, and both are where they may be read (or "absent" would prove nothing). The live
stream has its own module (test_tlp_stream)."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from alerts import tlp
from alerts.ingest import ingest
from alerts.intake.generic import parse
from alerts.models import Comment, Incident, IncidentEvent, IntakeSource
from notifications.models import Channel, Delivery, Subscription
from tenants.models import AuditEvent
from tenants.rls import rls_bypass, tenant_scope
from tests.factories import StaffFactory, ingest_alerts

pytestmark = pytest.mark.django_db

LEVELS = ("green", "amber", "red")
KINDS = ("comment-{}-body", "task-{}-title", "obs-{}.example", "file-{}-name", "incident-{}-title")
# What each reader may read, by level.
READS = {
    "a_viewer": {"green"},
    "a_responder": {"green", "amber"},
    "a_admin": {"green", "amber"},
    "analyst_a": {"green", "amber", "red"},
}


def ingest_one(source, title: str, ip: str) -> None:
    record = parse(
        {"title": title, "severity": "high", "observables": [{"type": "ip", "value": ip}]}
    )
    with tenant_scope([source.tenant_id]):
        rows = IntakeSource.objects.for_tenant(source.tenant_id).select_related("tenant")
        ingest(rows.get(pk=source.pk), [record])


def markers(level: str) -> list[str]:
    found = [kind.format(level) for kind in KINDS]
    # a GREEN comment on an AMBER or RED incident is capped by its incident
    if level != "green":
        found.append(f"comment-green-in-{level}-incident")
    return found


@pytest.fixture
def tw(two_tenants, settings, tmp_path, api):
    """Tenant A (hybrid) with an incident at each level; on the GREEN one a comment, task,
    observable and evidence file at each level, all shared; on the others a GREEN comment."""
    settings.MEDIA_ROOT = tmp_path
    w = dict(two_tenants)
    with rls_bypass("test fixture"):
        w["a"].service_model = "hybrid"
        w["a"].save(update_fields=["service_model"])
    staff = api(w["analyst_a"])
    incidents = {}
    for level in LEVELS:
        made = staff.post(
            "/api/v1/incidents/",
            {"tenant": "tenant-a", "title": f"incident-{level}-title", "tlp": level},
            format="json",
        )
        assert made.status_code == 201, made.content
        assert made.json()["tlp"] == level
        incidents[level] = made.json()["id"]
    base = f"/api/v1/incidents/{incidents['green']}"
    for level in LEVELS:
        for path, body, form in (
            ("comments", {"body": f"comment-{level}-body"}, "json"),
            ("tasks", {"title": f"task-{level}-title", "phase": "identification"}, "json"),
            ("observables", {"type": "domain", "value": f"obs-{level}.example"}, "json"),
            ("attachments", {"file": SimpleUploadedFile(f"file-{level}-name", b"x")}, "multipart"),
        ):
            made = staff.post(
                f"{base}/{path}/", {**body, "visibility": "shared", "tlp": level}, format=form
            )
            assert made.status_code == 201, (path, made.content)
            assert made.json()["tlp"] == level
    for level in ("amber", "red"):
        made = staff.post(
            f"/api/v1/incidents/{incidents[level]}/comments/",
            {"body": f"comment-green-in-{level}-incident", "visibility": "shared", "tlp": "green"},
            format="json",
        )
        assert made.status_code == 201, made.content
    w["incidents"] = incidents
    return w


def api_text(client, incidents: dict) -> str:
    """Every API answer about tenant A's incidents a caller gets (their bodies, whatever the
    status)."""
    paths = ["/api/v1/incidents/", "/api/v1/tasks/", "/api/v1/queue/", "/api/v1/alerts/"]
    for pk in incidents.values():
        paths += [
            f"/api/v1/incidents/{pk}/",
            *(
                f"/api/v1/incidents/{pk}/{part}/"
                for part in ("comments", "timeline", "tasks", "observables", "attachments")
            ),
            f"/api/v1/incidents/{pk}/similar/",
        ]
    return "\n".join(client.get(path).content.decode() for path in paths)


def page_text(user, incidents: dict) -> str:
    client = Client()
    client.force_login(user)
    paths = ["/incidents/", "/dashboard/", "/inbox/"]
    paths += [f"/incidents/{pk}/" for pk in incidents.values()]
    return "\n".join(client.get(path).content.decode() for path in paths)


@pytest.mark.parametrize("reader", sorted(READS))
def test_each_reader_reads_exactly_the_levels_tlp_allows(tw, api, reader):
    client = api(tw[reader])
    for surface, text in (
        ("api", api_text(client, tw["incidents"])),
        ("pages", page_text(tw[reader], tw["incidents"])),
    ):
        for level in LEVELS:
            for marker in markers(level):
                if surface == "pages" and marker.startswith("file-"):
                    continue  # the evidence panel is its own page part (tested below)
                shown = marker in text
                assert shown == (level in READS[reader]), (surface, reader, marker)
    for level, pk in tw["incidents"].items():
        status = client.get(f"/api/v1/incidents/{pk}/").status_code
        assert status == (200 if level in READS[reader] else 404), (reader, level)
        assert Client().get(f"/incidents/{pk}/").status_code in (302, 200, 404)


def test_evidence_downloads_follow_tlp(tw, api):
    with rls_bypass("test"):
        files = {
            a.name: a.pk
            for a in Incident.objects.for_tenant(tw["a"])
            .get(pk=tw["incidents"]["green"])
            .attachments.all()
        }
    base = f"/api/v1/incidents/{tw['incidents']['green']}/attachments"
    for reader, levels in READS.items():
        client = api(tw[reader])
        for level in LEVELS:
            status = client.get(f"{base}/{files[f'file-{level}-name']}/download/").status_code
            assert status == (200 if level in levels else 404), (reader, level)


def test_a_red_items_audit_entries_stay_out_of_the_customers_audit_log(tw, api):
    text = api(tw["a_admin"]).get("/api/v1/audit/?limit=500").content.decode()
    assert "obs-amber.example" in text  # the admin reads AMBER: the log is not just empty
    for marker in ("obs-red.example", "task-red-title", "incident-red-title"):
        assert marker not in text
    with rls_bypass("test"):
        mssp_own = AuditEvent.objects.dangerously_unscoped("test").filter(tenant__isnull=True)
        assert mssp_own.filter(summary__contains="task-red-title").exists()


def test_customers_never_set_red_and_never_reclassify_the_mssps_items(tw, api):
    green = tw["incidents"]["green"]
    responder = api(tw["a_responder"])
    refused = responder.post(
        f"/api/v1/incidents/{green}/comments/", {"body": "mine", "tlp": "red"}, format="json"
    )
    assert refused.status_code == 400
    assert "TLP:RED is for MSSP staff only" in refused.content.decode()
    raised = responder.post("/api/v1/incidents/", {"title": "ours", "tlp": "red"}, format="json")
    assert raised.status_code == 400 and "TLP:RED" in raised.content.decode()
    with rls_bypass("test"):
        staffs = Comment.objects.dangerously_unscoped("t").get(body="comment-green-body")
    lowered = responder.post(
        f"/api/v1/incidents/{green}/classify/",
        {"comment": str(staffs.pk), "tlp": "amber"},
        format="json",
    )
    assert lowered.status_code == 403, lowered.content
    assert tlp.NOT_YOURS in lowered.content.decode()
    assert api(tw["a_viewer"]).post(
        f"/api/v1/incidents/{green}/classify/", {"tlp": "amber"}, format="json"
    ).status_code in (403, 404)
    # their own: any level but RED, and back
    mine = responder.post(
        f"/api/v1/incidents/{green}/comments/", {"body": "our note", "tlp": "amber"}, format="json"
    ).json()
    assert mine["tlp"] == "amber"
    for level, status in (("green", 200), ("amber+strict", 200), ("red", 400)):
        answer = responder.post(
            f"/api/v1/incidents/{green}/classify/",
            {"comment": mine["id"], "tlp": level},
            format="json",
        )
        assert answer.status_code == status, (level, answer.content)
    bad = responder.post(f"/api/v1/incidents/{green}/classify/", {"tlp": "purple"}, format="json")
    assert bad.status_code == 400 and "purple" in bad.content.decode()


def test_staff_reclassify_on_the_timeline_with_the_stricter_level(tw, api):
    green = tw["incidents"]["green"]
    with rls_bypass("test"):
        comment = Comment.objects.dangerously_unscoped("t").get(body="comment-green-body")
    staff = api(tw["analyst_a"])
    answer = staff.post(
        f"/api/v1/incidents/{green}/classify/",
        {"comment": str(comment.pk), "tlp": "red"},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"item": "comment", "id": str(comment.pk), "tlp": "red", "pap": None}
    with rls_bypass("test"):
        entry = IncidentEvent.objects.dangerously_unscoped("t").get(kind="classified")
    assert entry.tlp == "red" and entry.visibility == "internal"
    assert "comment-green-body" not in api_text(api(tw["a_responder"]), {"g": green})
    # and the incident itself, with its PAP
    answer = staff.post(
        f"/api/v1/incidents/{green}/classify/", {"tlp": "amber", "pap": "red"}, format="json"
    )
    assert answer.json()["tlp"] == "amber" and answer.json()["pap"] == "red"
    assert api(tw["a_viewer"]).get(f"/api/v1/incidents/{green}/").status_code == 404
    listed = staff.get("/api/v1/incidents/?pap=red").json()["results"]
    assert [row["id"] for row in listed] == [green]


def test_the_report_carries_its_incidents_marking_and_nothing_stricter(tw, api):
    staff, approver = api(tw["analyst_a"]), api(tw["mssp_admin"])
    for level in ("green", "amber"):
        pk = tw["incidents"][level]
        assert staff.post(f"/api/v1/incidents/{pk}/report/", {}, format="json").status_code == 201
        for step in ("approve", "share"):
            done = approver.post(f"/api/v1/incidents/{pk}/report/{step}/")
            assert done.status_code == 200, done.content
    green_report = api(tw["a_responder"]).get(
        f"/api/v1/incidents/{tw['incidents']['green']}/report/"
    )
    text = green_report.content.decode()
    assert green_report.json()["facts"]["tlp"] == "green"
    assert "comment-green-body" in text and "task-green-title" in text  # its timeline
    for marker in ("comment-amber-body", "task-amber-title", "comment-red-body", "obs-red.example"):
        assert marker not in text
    amber = f"/api/v1/incidents/{tw['incidents']['amber']}/report/"
    assert api(tw["a_viewer"]).get(amber).status_code == 404
    shown = api(tw["a_responder"]).get(amber)
    assert shown.status_code == 200 and shown.json()["facts"]["tlp"] == "amber"
    pdf = api(tw["a_responder"]).get(amber + "pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert api(tw["a_viewer"]).get(amber + "pdf/").status_code == 404


def test_shared_channels_get_the_neutral_form_of_amber_and_nothing_of_red(tw, api):
    with rls_bypass("test fixture: channels"):
        channel = Channel.objects.create(
            tenant=tw["a"], name="SOC list", kind="email", target="soc@a.example"
        )
        Subscription.objects.create(tenant=tw["a"], channel=channel, events=["incident.comment"])
    staff = api(tw["analyst_a"])
    for level, body_tlp in (("green", "green"), ("amber", "green"), ("green", "red")):
        staff.post(
            f"/api/v1/incidents/{tw['incidents'][level]}/comments/",
            {"body": f"said-{level}-{body_tlp}", "visibility": "shared", "tlp": body_tlp},
            format="json",
        )
    with rls_bypass("test"):
        made = list(Delivery.objects.for_tenant(tw["a"]).order_by("created_at"))
    assert len(made) == 2  # the RED comment told no channel
    plain, neutral = made
    assert "incident-green-title" in plain.title
    assert neutral.title == "An incident needs attention"
    text = str(neutral.message)
    assert "incident-amber-title" not in text and "/incidents/" in text
    assert all("said-" not in str(d.message) for d in made)


def test_pap_red_observables_are_never_compared_across_customers(two_tenants, api):
    w = two_tenants
    admin = api(w["mssp_admin"])
    made = {}
    for tenant, pap in (("tenant-a", "red"), ("tenant-b", "green")):
        pk = admin.post(
            "/api/v1/incidents/", {"tenant": tenant, "title": f"seen at {tenant}"}, format="json"
        ).json()["id"]
        row = admin.post(
            f"/api/v1/incidents/{pk}/observables/",
            {"type": "ip", "value": "203.0.113.9", "pap": pap},
            format="json",
        )
        assert row.status_code == 201 and row.json()["pap"] == pap
        made[tenant] = pk
    a_rows = admin.get(f"/api/v1/incidents/{made['tenant-a']}/observables/").json()
    assert not a_rows[0]["other_tenants"]  # PAP:RED: not compared with tenant B's
    b_rows = admin.get(f"/api/v1/incidents/{made['tenant-b']}/observables/").json()
    assert not b_rows[0]["other_tenants"]  # nor counted among B's sightings elsewhere
    similar = admin.get(f"/api/v1/incidents/{made['tenant-b']}/similar/").json()
    assert similar["other_tenants"] == []
    only_red = admin.get(f"/api/v1/incidents/{made['tenant-a']}/observables/?pap=red").json()
    assert len(only_red) == 1
    assert admin.get(f"/api/v1/incidents/{made['tenant-a']}/observables/?pap=x").status_code == 400


def _select(page: str, field_id: str) -> str:
    """The options of one select of a page ("" when there is none)."""
    found = re.search(rf'<select id="{field_id}" name="\w+">(.*?)</select>', page, re.S)
    return found.group(1) if found else ""


def test_pages_badge_every_item_and_offer_only_the_levels_the_caller_may_set(tw):
    green = tw["incidents"]["green"]
    pages = {}
    for who in ("analyst_a", "a_responder", "a_viewer"):
        client = Client()
        client.force_login(tw[who])
        pages[who] = (client, client.get(f"/incidents/{green}/").content.decode())
    staff_page = pages["analyst_a"][1]
    assert staff_page.count('class="tlp tlp-red"') >= 4  # comment, task, file, observable
    assert 'title="TLP:AMBER: ' in staff_page  # said in words, not colour alone
    assert 'value="red"' in _select(staff_page, "cm-tlp")
    assert 'value="red"' in _select(staff_page, "cl-tlp")
    responder_page = pages["a_responder"][1]
    offered = _select(responder_page, "cm-tlp")
    assert 'value="amber+strict"' in offered and 'value="red"' not in offered
    assert _select(pages["a_viewer"][1], "cm-tlp") == ""
    assert "tlp-red" not in responder_page and "tlp-amber" not in pages["a_viewer"][1]
    # the classification card, through the page
    client = pages["analyst_a"][0]
    done = client.post(f"/incidents/{green}/classify/", {"item": "", "tlp": "red"})
    assert done.status_code == 302
    with rls_bypass("test"):
        assert Incident.objects.for_tenant(tw["a"]).get(pk=green).tlp == "red"
    assert pages["a_responder"][0].get(f"/incidents/{green}/").status_code == 404


def test_the_alerts_of_a_red_incident_are_the_mssps_too(two_tenants, api):
    w = two_tenants
    ingest_alerts(w["a_source"], 1, title="alert-of-a-soon-red-incident")
    with rls_bypass("test"):
        incident = Incident.objects.for_tenant(w["a"]).get()
    viewer = api(w["a_viewer"])
    assert "alert-of-a-soon-red-incident" in viewer.get("/api/v1/alerts/").content.decode()
    answer = api(w["analyst_a"]).post(
        f"/api/v1/incidents/{incident.pk}/classify/", {"tlp": "red"}, format="json"
    )
    assert answer.status_code == 200
    for who in ("a_viewer", "a_admin"):
        assert (
            "alert-of-a-soon-red-incident"
            not in api(w[who]).get("/api/v1/alerts/").content.decode()
        )
        client = Client()
        client.force_login(w[who])
        page = client.get("/alerts/")
        assert page.status_code == 200
        assert "alert-of-a-soon-red-incident" not in page.content.decode()
    assert (
        "alert-of-a-soon-red-incident"
        in api(w["analyst_a"]).get("/api/v1/alerts/").content.decode()
    )


def test_a_hunt_across_customers_leaves_out_what_pap_red_keeps_with_its_customer(two_tenants, api):
    w = two_tenants
    hunter = StaffFactory(staff_role="analyst_l2", tenants=[w["a"], w["b"]])
    for name in ("a", "b"):
        ingest_one(w[f"{name}_source"], f"VPN login from Tor at {name}", "198.51.100.77")
    with rls_bypass("test"):
        a_incident = Incident.objects.for_tenant(w["a"]).get()
    staff = api(hunter)

    def hits(query) -> int:
        hunt = staff.post(
            "/api/v1/hunts/", {"name": "h", "query": query, "lookback_days": 7}, format="json"
        ).json()
        return staff.post(f"/api/v1/hunts/{hunt['id']}/run/").json()["hits"]

    by_value = {"observable_type": "ip", "observable_value": "198.51.100.77"}
    assert hits(by_value) == 2
    rows = staff.get(f"/api/v1/incidents/{a_incident.pk}/observables/").json()
    staff.post(
        f"/api/v1/incidents/{a_incident.pk}/classify/",
        {"observable": rows[0]["id"], "pap": "red"},
        format="json",
    )
    assert hits(by_value) == 1  # A's is PAP:RED there: not compared with B's
    assert hits({**by_value, "tenants": ["tenant-a"]}) == 1  # A alone: its own data
    staff.post(f"/api/v1/incidents/{a_incident.pk}/classify/", {"pap": "red"}, format="json")
    assert hits({"q": "VPN login"}) == 1
