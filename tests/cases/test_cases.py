"""Customer-raised and manual incidents, tasks by phase, case templates: services, API and
pages, and what never crosses a tenant or reaches a customer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from alerts.models import Alert, Incident, IncidentEvent
from cases.models import CaseTemplate, Task
from sla.models import SlaClock
from tenants.models import AuditEvent
from tests.cases.conftest import incident_of, rows

pytestmark = pytest.mark.django_db

REPORT = {
    "title": "We think we were phished",
    "description": "Anna clicked a link <script>alert(1)</script>",
    "category": "Phishing",
    "urgency": "urgent",
    "occurred_at": "2020-01-02T03:04:05Z",
    "affected_assets": ["ws-042", "10.0.0.5"],
    "affected_people": ["anna@a.example"],
}


def raise_incident(api, user, **extra):
    response = api(user).post("/api/v1/incidents/", {**REPORT, **extra}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


# --- customer-raised and manual incidents ------------------------------------------------------


def test_a_customer_raises_an_incident_on_the_sla_clock_with_its_template(world, api):
    body = raise_incident(api, world["a_responder"])
    assert body["origin"] == "customer" and body["tenant"] == "tenant-a"
    assert body["severity"] == "high" and body["category"] == "phishing"
    assert body["opened_by"] == world["a_responder"].username
    assert body["affected_assets"] == ["ws-042", "10.0.0.5"]
    incident = incident_of(world["a"], pk=body["id"])
    assert incident.first_seen.year == 2020
    # the same path as intake: clocks started, the template's tasks added
    assert rows(SlaClock, incident=incident)
    tasks = rows(Task, incident=incident)
    assert [t.phase for t in sorted(tasks, key=lambda t: t.position)] == [
        "identification",
        "containment",
        "eradication",
    ]
    customer_task = next(t for t in tasks if t.title == "Reset the user's password")
    assert (
        customer_task.owner_team_id == world["a_team"].pk and customer_task.visibility == "shared"
    )
    assert customer_task.due_at is not None
    kinds = [e.kind for e in rows(IncidentEvent, incident=incident)]
    assert "opened_by_customer" in kinds and "template_applied" in kinds
    assert rows(AuditEvent, action="incident.opened", object_id=str(incident.pk))


def test_the_customer_sees_only_shared_tasks_everywhere(world, api, client):
    body = raise_incident(api, world["a_responder"])
    listed = api(world["a_viewer"]).get(f"/api/v1/incidents/{body['id']}/tasks/").json()
    assert [t["title"] for t in listed] == ["Reset the user's password"]
    everything = api(world["a_admin"]).get("/api/v1/tasks/").json()
    assert [t["title"] for t in everything["results"]] == ["Reset the user's password"]
    timeline = api(world["a_admin"]).get(f"/api/v1/incidents/{body['id']}/timeline/").json()
    assert not any("Pull the e-mail" in e["summary"] for e in timeline)
    internal = rows(Task, incident_id=body["id"], visibility="internal")[0]
    assert api(world["a_admin"]).get(f"/api/v1/tasks/{internal.pk}/").status_code == 404
    client.force_login(world["a_admin"])
    page = client.get(reverse("incident", args=[body["id"]])).content.decode()
    assert "Reset the user&#x27;s password" in page and "Pull the e-mail" not in page
    assert "<script>alert(1)</script>" not in page  # the report's text is escaped
    staff = api(world["analyst_a"]).get(f"/api/v1/incidents/{body['id']}/tasks/").json()
    assert len(staff) == 3
    # the tenant's audit log, which its admins read, names no internal task either
    audit = api(world["a_admin"]).get("/api/v1/audit/?page_size=100").json()
    assert "Pull the e-mail" not in str(audit) and "mail gateway" not in str(audit)
    assert any(e["summary"] == "an internal task was added" for e in audit["results"])


def test_internal_task_events_reach_staff_only(world, api, monkeypatch):
    from tenants import events

    sent = []
    monkeypatch.setattr(events, "tenant_event", lambda *args, **kwargs: sent.append((args, kwargs)))
    body = raise_incident(api, world["a_responder"])
    created = [a for a, _ in sent if a[2] == "incident.created"]
    assert [(a[1], a[3], a[4]) for a in created] == [("tenant-a", body["id"], {"from": "customer"})]
    task_events = [(a, k) for a, k in sent if a[2] == "incident.updated" and "task" in a[4]]
    assert task_events
    internal = {str(t.pk) for t in rows(Task, incident_id=body["id"], visibility="internal")}
    for args, kwargs in task_events:
        if args[4]["task"] in internal:
            assert kwargs["audience"] == ("staff",)
        else:
            assert kwargs["audience"] == events.EVERYONE


def test_a_task_handed_to_the_customer_is_done_in_their_inbox(world, api, client):
    body = raise_incident(api, world["a_responder"], category="other")
    staff = api(world["analyst_a"])
    created = staff.post(
        f"/api/v1/incidents/{body['id']}/tasks/",
        {
            "title": "Disable the VPN account",
            "phase": "containment",
            "owner": world["a_responder"].username,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    task = created.json()
    assert task["visibility"] == "shared" and task["customer_side"] is True
    client.force_login(world["a_responder"])
    inbox = client.get(reverse("inbox")).content.decode()
    assert "Disable the VPN account" in inbox and f'id="inbox-task-{task["id"]}"' in inbox
    done = client.post(reverse("case-task-status", args=[task["id"]]), {"status": "done"})
    assert done.status_code == 302, done.content[:500]
    assert rows(Task, pk=task["id"])[0].status == "done"
    assert f'id="inbox-task-{task["id"]}"' not in client.get(reverse("inbox")).content.decode()
    event = [e for e in rows(IncidentEvent, incident_id=body["id"]) if e.kind == "task_status"]
    assert event and event[0].visibility == "shared"
    assert rows(AuditEvent, action="task.status", object_id=task["id"])


def test_customers_cannot_assign_to_another_tenants_user_or_see_internal(world, api):
    body = raise_incident(api, world["a_responder"], category="other")
    staff = api(world["analyst_a"])
    url = f"/api/v1/incidents/{body['id']}/tasks/"
    for owner in (world["b_responder"].username, world["analyst_b"].username, "nobody-at-all"):
        response = staff.post(
            url, {"title": "t", "phase": "recovery", "owner": owner}, format="json"
        )
        assert response.status_code == 400 and response.json()["fields"]["owner"]
    response = staff.post(
        url, {"title": "t", "phase": "recovery", "team": str(world["b_team"].pk)}, format="json"
    )
    assert response.status_code == 400
    viewer = staff.post(
        url, {"title": "t", "phase": "recovery", "owner": world["a_viewer"].username}, format="json"
    )
    assert viewer.status_code == 400
    internal = staff.post(
        url, {"title": "Secret", "phase": "recovery", "visibility": "internal"}, format="json"
    ).json()
    # a hybrid tenant's responder works its incident, but never an internal task
    customer = api(world["a_responder"])
    assert (
        customer.post(
            f"/api/v1/tasks/{internal['id']}/status/", {"status": "done"}, format="json"
        ).status_code
        == 404
    )
    assert (
        customer.patch(
            f"/api/v1/tasks/{internal['id']}/", {"title": "mine"}, format="json"
        ).status_code
        == 404
    )
    asked = customer.post(
        url, {"title": "t", "phase": "recovery", "visibility": "internal"}, format="json"
    )
    assert asked.status_code == 400
    other = api(world["b_admin"])
    assert other.get(f"/api/v1/tasks/{internal['id']}/").status_code == 404
    assert other.get(f"/api/v1/incidents/{body['id']}/tasks/").status_code == 404


def test_bad_task_input_is_400(world, api):
    body = raise_incident(api, world["a_responder"], category="other")
    url = f"/api/v1/incidents/{body['id']}/tasks/"
    staff = api(world["analyst_a"])
    for bad in (
        {},
        {"title": "x", "phase": "panic"},
        {"title": "x", "phase": "recovery", "due_at": "tomorrow"},
        {"title": "\n", "phase": "recovery"},
    ):
        response = staff.post(url, bad, format="json")
        assert response.status_code == 400, (bad, response.json())
    assert staff.post(url, ["not", "an", "object"], format="json").status_code == 400


# --- templates ---------------------------------------------------------------------------------


def test_a_tenant_variant_replaces_the_library_and_leads_manage_them(world, api):
    from tests.factories import StaffFactory

    lead = StaffFactory(staff_role="admin")
    variant = {
        "tenant": "tenant-a",
        "category": "phishing",
        "name": "A's phishing",
        "default_severity": "critical",
        "tasks": [{"title": "Call A's CISO", "phase": "identification", "due_minutes": 15}],
    }
    assert (
        api(world["analyst_a"]).post("/api/v1/case-templates/", variant, format="json").status_code
        == 403
    )
    created = api(lead).post("/api/v1/case-templates/", variant, format="json")
    assert created.status_code == 201, created.json()
    again = api(lead).post("/api/v1/case-templates/", variant, format="json")
    assert again.status_code == 400
    body = raise_incident(api, world["a_responder"])
    titles = [t.title for t in rows(Task, incident_id=body["id"])]
    assert titles == ["Call A's CISO"]
    b_body = raise_incident(api, world["b_responder"])
    assert len(rows(Task, incident_id=b_body["id"])) == 3  # B keeps the library's
    listed = api(world["analyst_b"]).get("/api/v1/case-templates/").json()["results"]
    assert {t["name"] for t in listed} == {"Phishing"}  # A's variant is not B's analyst's
    assert api(world["a_admin"]).get("/api/v1/case-templates/").json()["results"] == []
    bad = api(lead).post(
        "/api/v1/case-templates/",
        {**variant, "tenant": None, "category": "x", "tasks": [{"title": "t", "phase": "later"}]},
        format="json",
    )
    assert bad.status_code == 400


def test_an_analyst_applies_a_template_once(world, api, client):
    body = raise_incident(api, world["a_responder"], category="other")
    url = f"/api/v1/incidents/{body['id']}/apply-template/"
    template = {"template": str(world["phishing"].pk)}
    assert api(world["a_admin"]).post(url, template, format="json").status_code == 403
    applied = api(world["analyst_a"]).post(url, template, format="json")
    assert applied.status_code == 201 and len(applied.json()) == 3
    assert api(world["analyst_a"]).post(url, template, format="json").status_code == 400
    with pytest.raises(AssertionError):
        assert not rows(CaseTemplate, pk=world["phishing"].pk)
    client.force_login(world["analyst_a"])
    page = client.get(reverse("incident", args=[body["id"]]))
    assert b"Apply template" in page.content and b"Pull the e-mail" in page.content


def test_template_pages_for_leads(world, client):
    from tests.factories import StaffFactory

    client.force_login(world["analyst_a"])
    assert client.get(reverse("case-templates")).status_code == 403
    lead = StaffFactory(staff_role="admin")
    client.force_login(lead)
    assert b"Phishing" in client.get(reverse("case-templates")).content
    response = client.post(
        reverse("case-template-new"),
        {
            "name": "DDoS",
            "category": "ddos",
            "default_severity": "high",
            "is_active": "1",
            "task_rows": "2",
            "task-0-title": "Call the ISP",
            "task-0-phase": "containment",
            "task-0-visibility": "internal",
            "task-0-due_minutes": "30",
        },
    )
    assert response.status_code == 302
    made = rows(CaseTemplate, category="ddos")[0]
    assert made.tasks == [
        {
            "title": "Call the ISP",
            "phase": "containment",
            "visibility": "internal",
            "due_minutes": 30,
            "customer_side": False,
        }
    ]
    bad = client.post(reverse("case-template-new"), {"name": "", "category": "<b>"})
    assert bad.status_code == 400


# --- every way an incident opens gets its template ------------------------------------------


def test_intake_and_hunt_incidents_get_the_template_and_their_origin(world):
    from alerts.services import incident_open_for_alert
    from tenants.rls import tenant_scope
    from tests.factories import ingest_alerts

    with tenant_scope([world["a"].pk]):
        from alerts.ingest import ingest
        from alerts.intake.generic import parse
        from alerts.models import IntakeSource

        source = (
            IntakeSource.objects.for_tenant(world["a"])
            .select_related("tenant")
            .get(pk=world["a_source"].pk)
        )
        ingest(
            source,
            [parse({"title": "Credential phish", "severity": "low", "category": "phishing"})],
        )
    intake = incident_of(world["a"], title="Credential phish")
    assert intake.origin == "intake" and intake.severity == "low"  # alerts set the severity
    assert len(rows(Task, incident=intake)) == 3

    (alert_id,) = ingest_alerts(world["a_source"], 1, title="Plain alert")
    alert = rows(Alert, pk=alert_id)[0]
    incident_of(world["a"], pk=alert.incident_id)
    with tenant_scope([world["a"].pk], user_id=world["analyst_a"].pk, staff=True):
        Alert.objects.for_tenant(world["a"]).filter(pk=alert.pk).update(incident=None)
        hunted, created = incident_open_for_alert(alert, actor=world["analyst_a"])
    assert created and rows(Incident, pk=hunted.pk)[0].origin == "hunt"


def test_an_inactive_variant_switches_the_library_off_for_its_tenant(world, api):
    from tenants.rls import rls_bypass

    with rls_bypass("test fixture"):
        CaseTemplate.objects.create(
            tenant=world["a"], category="phishing", name="off", tasks=[], is_active=False
        )
    body = raise_incident(api, world["a_responder"])
    assert rows(Task, incident_id=body["id"]) == []
    assert body["severity"] == "high"  # the urgency's, not a template's


# --- pages --------------------------------------------------------------------------------------


def test_pages_add_hand_over_and_promote(world, api, client):
    from tests.factories import ingest_alerts

    body = raise_incident(api, world["a_responder"], category="other")
    client.force_login(world["analyst_a"])
    added = client.post(
        reverse("case-task-add", args=[body["id"]]),
        {"title": "Call the CISO", "phase": "identification", "visibility": ""},
    )
    assert added.status_code == 302
    task = rows(Task, incident_id=body["id"], title="Call the CISO")[0]
    assert task.visibility == "internal"
    handed = client.post(
        reverse("case-task-edit", args=[task.pk]),
        {"owner": f"team:{world['a_team'].pk}", "visibility": "internal"},
    )
    assert handed.status_code == 302
    task = rows(Task, pk=task.pk)[0]
    assert task.owner_team_id == world["a_team"].pk and task.visibility == "shared"
    bad = client.post(
        reverse("case-task-add", args=[body["id"]]), {"title": "x", "phase": "soon"}, follow=True
    )
    assert b"phase" in bad.content and not rows(Task, incident_id=body["id"], title="x")

    (alert_id,) = ingest_alerts(world["a_source"], 1, title="Related alert")
    page = client.get(reverse("incident", args=[body["id"]])).content.decode()
    assert "Related alert" in page  # offered for promotion
    moved = client.post(
        reverse("incident-promote-alerts", args=[body["id"]]), {"alerts": [alert_id]}
    )
    assert moved.status_code == 302
    assert str(rows(Alert, pk=alert_id)[0].incident_id) == body["id"]
    assert rows(AuditEvent, action="incident.alerts_promoted", object_id=body["id"])

    other = raise_incident(api, world["b_responder"], category="other")
    assert (
        client.post(
            reverse("case-task-add", args=[other["id"]]), {"title": "x", "phase": "recovery"}
        ).status_code
        == 404
    )
    assert (
        client.post(
            reverse("incident-promote-alerts", args=[other["id"]]), {"alerts": [alert_id]}
        ).status_code
        == 404
    )


def test_an_outsourced_customer_moves_its_own_tasks_only(world, api):
    from tenants.models import Tenant
    from tenants.rls import rls_bypass

    with rls_bypass("test fixture"):
        Tenant.objects.filter(pk=world["b"].pk).update(service_model="outsourced")
    body = raise_incident(api, world["b_responder"], category="other")
    staff = api(world["analyst_b"])
    url = f"/api/v1/incidents/{body['id']}/tasks/"
    theirs = staff.post(
        url,
        {"title": "Reset it", "phase": "eradication", "owner": world["b_admin"].username},
        format="json",
    ).json()
    ours = staff.post(
        url,
        {"title": "Look at it", "phase": "identification", "visibility": "shared"},
        format="json",
    ).json()
    customer = api(world["b_responder"])
    assert customer.post(url, {"title": "x", "phase": "recovery"}, format="json").status_code == 403
    assert (
        customer.post(
            f"/api/v1/tasks/{ours['id']}/status/", {"status": "done"}, format="json"
        ).status_code
        == 403
    )
    done = customer.post(f"/api/v1/tasks/{theirs['id']}/status/", {"status": "done"}, format="json")
    assert done.status_code == 200 and done.json()["completed_by"] == world["b_responder"].username
    mine = api(world["b_admin"]).get("/api/v1/tasks/?mine=1").json()["results"]
    assert [t["title"] for t in mine] == ["Reset it"]
    assert api(world["b_admin"]).get("/api/v1/tasks/?status=never").status_code == 400
    assert api(world["b_admin"]).get("/api/v1/tasks/?incident=nope").status_code == 400


def test_staff_edit_a_task_and_deleting_a_template_keeps_its_tasks(world, api):
    from tests.factories import StaffFactory

    body = raise_incident(api, world["a_responder"])
    task = rows(Task, incident_id=body["id"], title="Check the mail gateway logs")[0]
    staff = api(world["analyst_a"])
    changed = staff.patch(
        f"/api/v1/tasks/{task.pk}/",
        {"phase": "containment", "due_at": "2030-01-01T00:00:00Z"},
        format="json",
    )
    assert changed.status_code == 200 and changed.json()["phase"] == "containment"
    assert changed.json()["title"] == "Check the mail gateway logs"
    assert (
        staff.patch(f"/api/v1/tasks/{task.pk}/", {"due_at": "soon"}, format="json").status_code
        == 400
    )
    admin = api(StaffFactory(staff_role="admin"))
    assert admin.delete(f"/api/v1/case-templates/{world['phishing'].pk}/").status_code == 204
    assert len(rows(Task, incident_id=body["id"])) == 3
    assert rows(Task, pk=task.pk)[0].template_id is None
    assert rows(AuditEvent, action="template.deleted")
