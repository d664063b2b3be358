"""Incidents: lifecycle, owner, comments and timeline visibility, containment, merge, bulk
actions, and the multi-tenant queue."""

from __future__ import annotations

import pytest
from django.utils import timezone

from alerts.models import Incident, IncidentEvent
from tenants.rls import rls_bypass
from tests.factories import ingest_alerts

pytestmark = pytest.mark.django_db


def incidents_of(tenant):
    with rls_bypass("test"):
        return list(Incident.objects.for_tenant(tenant).order_by("created_at"))


@pytest.fixture
def incident(two_tenants):
    ingest_alerts(two_tenants["a_source"], 1)
    return incidents_of(two_tenants["a"])[0]


def url(incident, action=""):
    return f"/api/v1/incidents/{incident.pk}/" + (f"{action}/" if action else "")


def test_analyst_walks_the_lifecycle(api, two_tenants, incident):
    client = api(two_tenants["analyst_a"])
    acked = client.post(url(incident, "acknowledge"))
    assert acked.status_code == 200, acked.json()
    assert acked.json()["status"] == "acknowledged"
    assert acked.json()["owner"] == two_tenants["analyst_a"].username
    assert acked.json()["acknowledged_at"]
    for status in ("investigating", "contained"):
        response = client.post(url(incident, "transition"), {"status": status}, format="json")
        assert response.json()["status"] == status
    done = client.post(
        url(incident, "transition"),
        {"status": "resolved", "resolution": "true_positive"},
        format="json",
    )
    assert done.json()["resolution"] == "true_positive" and done.json()["resolved_at"]
    closed = client.post(url(incident, "transition"), {"status": "closed"}, format="json")
    assert closed.json()["status"] == "closed"
    kinds = [e["kind"] for e in client.get(url(incident, "timeline")).json()]
    assert kinds == ["created"] + ["status_changed"] * 5


@pytest.mark.parametrize(
    "body,message",
    [
        ({"status": "closed"}, "can move to"),
        ({"status": "new"}, "already new"),
        ({"status": "flying"}, "not a status"),
        ({"status": "awaiting_customer"}, "needs a reason"),
        ({"status": "resolved"}, "needs a resolution"),
        ({"status": "resolved", "resolution": "maybe"}, "needs a resolution"),
        ({"status": "investigating", "resolution": "benign"}, "only given when resolving"),
    ],
)
def test_illegal_transitions_are_refused_with_a_reason(api, two_tenants, incident, body, message):
    response = api(two_tenants["analyst_a"]).post(url(incident, "transition"), body, format="json")
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert incidents_of(two_tenants["a"])[0].status == "new"


def test_awaiting_customer_keeps_its_reason(api, two_tenants, incident):
    client = api(two_tenants["analyst_a"])
    response = client.post(
        url(incident, "transition"),
        {"status": "awaiting_customer", "reason": "Is host ws-7 yours?"},
        format="json",
    )
    assert response.json()["awaiting_reason"] == "Is host ws-7 yours?"
    back = client.post(url(incident, "transition"), {"status": "investigating"}, format="json")
    assert back.json()["awaiting_reason"] == ""


def test_reopening_when_a_new_incident_has_the_fingerprint_asks_to_merge(
    api, two_tenants, incident
):
    client = api(two_tenants["analyst_a"])
    client.post(
        url(incident, "transition"), {"status": "resolved", "resolution": "benign"}, format="json"
    )
    ingest_alerts(two_tenants["a_source"], 1)  # the same problem again: a new incident
    response = client.post(url(incident, "transition"), {"status": "investigating"}, format="json")
    assert response.status_code == 400 and "merge" in response.json()["detail"]


def test_comments_internal_and_shared(api, two_tenants, incident):
    analyst = api(two_tenants["analyst_a"])
    analyst.post(url(incident, "comments"), {"body": "looks like a pentest"}, format="json")
    analyst.post(
        url(incident, "comments"),
        {"body": "We blocked the IP", "visibility": "shared"},
        format="json",
    )
    customer = api(two_tenants["a_admin"])
    seen = customer.get(url(incident, "comments")).json()
    assert [c["body"] for c in seen] == ["We blocked the IP"]
    assert len(analyst.get(url(incident, "comments")).json()) == 2
    timeline = customer.get(url(incident, "timeline")).json()
    assert all(entry["visibility"] == "shared" for entry in timeline)
    assert "pentest" not in str(timeline)
    reply = customer.post(url(incident, "comments"), {"body": "Thanks"}, format="json")
    assert reply.status_code == 201 and reply.json()["visibility"] == "shared"
    sneaky = customer.post(
        url(incident, "comments"), {"body": "x", "visibility": "internal"}, format="json"
    )
    assert sneaky.status_code == 400
    viewer = api(two_tenants["a_viewer"])
    assert viewer.post(url(incident, "comments"), {"body": "hi"}, format="json").status_code == 403


def test_customer_of_an_outsourced_tenant_reads_but_does_not_work(api, two_tenants, incident):
    two_tenants["a"].service_model = "outsourced"
    two_tenants["a"].save()
    customer = api(two_tenants["a_admin"])
    assert customer.get(url(incident)).status_code == 200
    assert customer.post(url(incident, "acknowledge")).status_code == 403


def test_in_house_responder_works_their_own_incident(api, two_tenants, incident):
    two_tenants["a"].service_model = "in_house"
    two_tenants["a"].save()
    responder = api(two_tenants["a_responder"])
    assert responder.post(url(incident, "acknowledge")).json()["status"] == "acknowledged"


def test_containment_actions_are_recorded(api, two_tenants, incident):
    client = api(two_tenants["analyst_a"])
    created = client.post(
        url(incident, "containment"),
        {"action": "isolate host", "target": "ws-7", "result": "succeeded"},
        format="json",
    )
    assert created.status_code == 201
    assert client.get(url(incident, "containment")).json()[0]["target"] == "ws-7"
    assert "containment" in [e["kind"] for e in client.get(url(incident, "timeline")).json()]


def test_assign_only_to_someone_who_may_work_the_tenant(api, two_tenants, incident):
    client = api(two_tenants["analyst_a"])
    ok = client.post(
        url(incident, "assign"), {"owner": two_tenants["a_responder"].username}, format="json"
    )
    assert ok.json()["owner"] == two_tenants["a_responder"].username
    for outsider in ("analyst_b", "b_responder"):
        response = client.post(
            url(incident, "assign"), {"owner": two_tenants[outsider].username}, format="json"
        )
        assert response.status_code == 400
        assert "No such user" in response.json()["detail"]
    claimed = client.post(url(incident, "claim"))
    assert claimed.json()["owner"] == two_tenants["analyst_a"].username


def test_merge_within_a_tenant(api, two_tenants):
    ingest_alerts(two_tenants["a_source"], 2)
    first, second = incidents_of(two_tenants["a"])
    client = api(two_tenants["analyst_a"])
    response = client.post(url(second, "merge"), {"into": str(first.pk)}, format="json")
    assert response.status_code == 200 and response.json()["alert_count"] == 2
    second_now = client.get(url(second)).json()
    assert second_now["status"] == "resolved" and second_now["resolution"] == "duplicate"
    assert second_now["merged_into"] == str(first.pk)


def test_merge_into_another_tenants_incident_reads_as_missing(api, two_tenants, incident):
    ingest_alerts(two_tenants["b_source"], 1)
    (b_incident,) = incidents_of(two_tenants["b"])
    client = api(two_tenants["mssp_admin"])  # sees both tenants, still cannot cross them
    response = client.post(url(incident, "merge"), {"into": str(b_incident.pk)}, format="json")
    assert response.status_code == 400
    assert "No such incident" in response.json()["detail"]
    assert incidents_of(two_tenants["b"])[0].alert_count == 1


def test_bulk_acknowledge_reports_each_and_never_reaches_other_tenants(api, two_tenants):
    ingest_alerts(two_tenants["a_source"], 3)
    ingest_alerts(two_tenants["b_source"], 1)
    mine = [str(i.pk) for i in incidents_of(two_tenants["a"])]
    (theirs,) = [str(i.pk) for i in incidents_of(two_tenants["b"])]
    response = api(two_tenants["analyst_a"]).post(
        "/api/v1/incidents/bulk/", {"ids": [*mine, theirs], "action": "acknowledge"}, format="json"
    )
    results = {r["id"]: r for r in response.json()["results"]}
    assert all(results[i]["ok"] for i in mine)
    assert results[theirs] == {"id": theirs, "ok": False, "error": "Not found."}
    assert incidents_of(two_tenants["b"])[0].status == "new"


def test_queue_spans_the_analysts_tenants_most_urgent_first(api, two_tenants, make_user):
    from tests.factories import StaffFactory

    ingest_alerts(two_tenants["a_source"], 3)
    ingest_alerts(two_tenants["b_source"], 2)
    both = StaffFactory(staff_role="analyst_l2", tenants=[two_tenants["a"], two_tenants["b"]])
    with rls_bypass("test"):
        target = Incident.objects.for_tenant(two_tenants["b"]).first()
        Incident.objects.for_tenant(two_tenants["b"]).filter(pk=target.pk).update(
            severity="critical", severity_rank=4, respond_by=timezone.now()
        )
    queue = api(both).get("/api/v1/queue/?page_size=2").json()
    assert queue["count"] == 5 and queue["count_is_capped"] is False
    assert queue["results"][0]["id"] == str(target.pk)
    rows = queue["results"]
    while queue["next"]:
        queue = api(both).get(queue["next"]).json()
        rows += queue["results"]
    assert len(rows) == 5 and len({r["id"] for r in rows}) == 5
    only_a = api(two_tenants["analyst_a"]).get("/api/v1/queue/").json()
    assert {r["tenant"] for r in only_a["results"]} == {"tenant-a"} and only_a["count"] == 3
    filtered = api(both).get("/api/v1/queue/?tenant=tenant-b&severity=critical").json()
    assert [r["id"] for r in filtered["results"]] == [str(target.pk)]


def test_queue_count_is_capped(api, two_tenants):
    from alerts.api.views import QueueViewSet

    ingest_alerts(two_tenants["a_source"], 4)
    QueueViewSet.count_cap, cap = 3, QueueViewSet.count_cap
    try:
        body = api(two_tenants["analyst_a"]).get("/api/v1/queue/").json()
    finally:
        QueueViewSet.count_cap = cap
    assert body["count"] == 3 and body["count_is_capped"] is True


def test_incident_filters(api, two_tenants):
    ingest_alerts(two_tenants["a_source"], 3)
    client = api(two_tenants["analyst_a"])
    first = incidents_of(two_tenants["a"])[0]
    client.post(url(first, "acknowledge"))
    mine = client.get("/api/v1/incidents/?owner=me").json()["results"]
    assert [r["id"] for r in mine] == [str(first.pk)]
    assert len(client.get("/api/v1/incidents/?owner=none").json()["results"]) == 2
    assert len(client.get("/api/v1/incidents/?status=new").json()["results"]) == 2
    assert len(client.get("/api/v1/incidents/?status=open").json()["results"]) == 3
    assert client.get("/api/v1/incidents/?status=bogus").status_code == 400
    assert len(client.get("/api/v1/incidents/?q=login%201").json()["results"]) == 1
    assert client.get("/api/v1/incidents/?cursor=garbage").status_code == 400


def test_alert_list_and_detail_for_the_customer(api, two_tenants):
    ids = ingest_alerts(two_tenants["a_source"], 2)
    ingest_alerts(two_tenants["b_source"], 1)
    customer = api(two_tenants["a_viewer"])
    listed = customer.get("/api/v1/alerts/").json()["results"]
    assert {r["id"] for r in listed} == set(ids)
    detail = customer.get(f"/api/v1/alerts/{ids[0]}/").json()
    assert detail["raw"]["title"].startswith("Suspicious login")
    assert customer.get("/api/v1/alerts/?severity=low").json()["results"] == []
    assert len(customer.get("/api/v1/alerts/?severity=high,critical").json()["results"]) == 2


def test_every_change_is_on_the_timeline_with_who(api, two_tenants, incident):
    client = api(two_tenants["analyst_a"])
    client.post(url(incident, "acknowledge"))
    with rls_bypass("test"):
        entry = (
            IncidentEvent.objects.for_tenant(two_tenants["a"]).filter(kind="status_changed").get()
        )
    assert entry.actor_id == two_tenants["analyst_a"].pk and entry.summary == "new → acknowledged"
