"""One path for every incident action (issue 11): the incident page's and the queue's forms and
the API run the same Action (alerts.actions), so a rule changed in one place, alerts.policy,
changes both; and neither reaches another tenant's incident."""

from __future__ import annotations

import pytest

from alerts import policy
from alerts.models import Comment, Incident, IncidentStatus
from tenants.rls import rls_bypass
from tests.factories import ingest_alerts

pytestmark = pytest.mark.django_db


def an_incident(source, title: str) -> Incident:
    ingest_alerts(source, 1, title=title)
    with rls_bypass("test: the incident just opened"):
        return (
            Incident.objects.dangerously_unscoped("test")
            .filter(tenant=source.tenant, title__startswith=title)
            .latest("created_at")
        )


def fresh(incident: Incident) -> Incident:
    with rls_bypass("test: re-read"):
        return Incident.objects.dangerously_unscoped("test").get(pk=incident.pk)


def comments_of(incident: Incident) -> list[Comment]:
    with rls_bypass("test"):
        return list(
            Comment.objects.dangerously_unscoped("test").filter(incident=incident).order_by("id")
        )


def page_post(client, user, incident, path: str, **fields):
    client.force_login(user)
    return client.post(f"/incidents/{incident.pk}/{path}/", fields)


def api_post(api, user, incident, path: str, **fields):
    return api(user).post(f"/api/v1/incidents/{incident.pk}/{path}/", fields, format="json")


@pytest.fixture
def world(two_tenants):
    two_tenants["inc_a"] = an_incident(two_tenants["a_source"], "Brute force on VPN")
    two_tenants["inc_b"] = an_incident(two_tenants["b_source"], "Ransomware note on FS01")
    return two_tenants


def test_who_works_an_incident_is_decided_once_for_page_and_api(client, api, world, monkeypatch):
    """A freeze on all incident work, made in alerts.policy.can_work and nowhere else, refuses
    the analyst on the page (403) and in the API (403) alike, one incident or many."""
    monkeypatch.setattr(policy, "can_work", lambda access, incident: False)
    analyst, incident = world["analyst_a"], world["inc_a"]

    assert page_post(client, analyst, incident, "act", action="acknowledge").status_code == 403
    response = api_post(api, analyst, incident, "acknowledge")
    assert (response.status_code, response.json()["detail"]) == (403, policy.READ_ONLY)
    contain = {"action": "isolate host", "target": "ws-7"}
    assert page_post(client, analyst, incident, "contain", **contain).status_code == 403
    assert api_post(api, analyst, incident, "containment", **contain).status_code == 403

    client.force_login(analyst)
    page = client.post(
        "/console/bulk/", {"ids": [incident.pk], "action": "acknowledge"}, follow=True
    )
    assert policy.READ_ONLY in " ".join(str(m) for m in page.context["messages"])
    response = api(analyst).post(
        "/api/v1/incidents/bulk/", {"ids": [str(incident.pk)], "action": "claim"}, format="json"
    )
    assert response.json()["results"] == [
        {"id": str(incident.pk), "ok": False, "error": policy.READ_ONLY}
    ]
    assert fresh(incident).status == IncidentStatus.NEW and fresh(incident).owner is None

    monkeypatch.undo()
    assert page_post(client, analyst, incident, "act", action="acknowledge").status_code == 302
    assert fresh(incident).status == IncidentStatus.ACKNOWLEDGED


def test_a_comment_visibility_rule_changed_in_policy_reaches_both_paths(
    client, api, world, monkeypatch
):
    """Staff comments shared unless said otherwise: one change to policy.comment_visibility,
    and the page's comment and the API's comment both come out shared."""
    staff_default = policy.comment_visibility

    def shared_by_default(access, requested):
        return staff_default(access, requested or "shared")

    monkeypatch.setattr(policy, "comment_visibility", shared_by_default)
    analyst, incident = world["analyst_a"], world["inc_a"]
    assert page_post(client, analyst, incident, "comment", body="from the page").status_code == 302
    assert api_post(api, analyst, incident, "comments", body="from the API").status_code == 201
    assert [(c.body, c.visibility) for c in comments_of(incident)] == [
        ("from the page", "shared"),
        ("from the API", "shared"),
    ]


def test_neither_path_reaches_another_tenants_incident(client, api, world):
    analyst, theirs = world["analyst_a"], world["inc_b"]
    for path, fields in (
        ("act", {"action": "claim"}),
        ("comment", {"body": "x"}),
        ("contain", {"action": "isolate host", "target": "ws-7"}),
    ):
        assert page_post(client, analyst, theirs, path, **fields).status_code == 404, path
    for path, fields in (
        ("claim", {}),
        ("transition", {"status": "investigating"}),
        ("assign", {"owner": analyst.username}),
        ("comments", {"body": "x"}),
        ("containment", {"action": "isolate host", "target": "ws-7"}),
        ("merge", {"into": str(world["inc_a"].pk)}),
    ):
        response = api_post(api, analyst, theirs, path, **fields)
        assert response.status_code == 404, path

    client.force_login(analyst)
    page = client.post("/console/bulk/", {"ids": [theirs.pk], "action": "claim"}, follow=True)
    assert "not found" in " ".join(str(m) for m in page.context["messages"])
    response = api(analyst).post(
        "/api/v1/incidents/bulk/", {"ids": [str(theirs.pk)], "action": "claim"}, format="json"
    )
    assert response.json()["results"] == [
        {"id": str(theirs.pk), "ok": False, "error": "Not found."}
    ]
    assert fresh(theirs).owner is None and fresh(theirs).status == IncidentStatus.NEW
    assert comments_of(theirs) == []
