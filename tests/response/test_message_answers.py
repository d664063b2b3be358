"""Approving or rejecting a response action from the message that asks for it
(notifications.links, notifications.answers, a Slack app's button): the portal's own
response.actions APPROVE / REJECT for the signed-in user, with every check it makes, once."""

from __future__ import annotations

import pytest
from django.core import mail

from notifications import delivery
from notifications.links import links_for
from notifications.message import Message
from notifications.models import Channel, ContactMethod, Delivery, Subscription
from notifications.senders import slack_app
from response import services
from tenants.models import AuditEvent
from tenants.rls import rls_bypass, tenant_scope
from tenants.sealed import seal
from tests.notifications.slack_receiver import SIGNING_SECRET, form_body, signed_headers
from tests.notifications.test_answers import LINK

from .conftest import rows

pytestmark = pytest.mark.django_db
HOST = "ws-042.contoso.local"
EVENT = "action.approval_requested"


@pytest.fixture
def asked(world, api, django_capture_on_commit_callbacks):
    """An isolation through A's Defender awaits A's approval; A's SOC mailbox was asked."""
    w = world
    with rls_bypass("test fixture"):
        channel = Channel.objects.create(
            tenant=w["a"], name="SOC", kind="email", target="soc@a.example"
        )
        Subscription.objects.create(tenant=w["a"], channel=channel, events=[EVENT])
    answer = api(w["analyst_a"]).post(
        f"/api/v1/incidents/{w['a_incident'].pk}/actions/",
        {
            "connector": str(w["a_defender"].pk),
            "action": "isolate_host",
            "target": HOST,
            "reason": "ransomware on the host",
        },
        format="json",
    )
    assert answer.status_code == 201 and answer.json()["status"] == "awaiting_approval"
    delivery.deliver_batch()
    (message,) = [m for m in mail.outbox if m.to == ["soc@a.example"]]
    found = {m["label"]: m["path"] for m in LINK.finditer(message.body)}
    assert set(found) == {"Approve the action", "Reject…"}, message.body
    (row,) = rows(tenant=w["a"])
    return {"approve": found["Approve the action"], "reject": found["Reject…"], "row": row}


def the_delivery(w) -> Delivery:
    with rls_bypass("test assertion"):
        return Delivery.objects.for_tenant(w["a"]).get(event_type=EVENT, kind="email")


def status(row) -> str:
    (found,) = [r for r in rows() if r.pk == row.pk]
    return found.status


def test_approving_from_the_message_runs_the_action_once(
    client, world, asked, django_capture_on_commit_callbacks
):
    w = world
    assert client.get(asked["approve"]).status_code == 302  # the login page first
    client.force_login(w["a_responder"])
    page = client.get(asked["approve"])
    assert page.status_code == 200 and b"Isolate host ws-042.contoso.local" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(asked["approve"]).status_code == 302
    (row,) = rows(tenant=w["a"])
    assert row.status == "succeeded" and row.decided_by == w["a_responder"]
    assert any(s.path.endswith("/isolate") for s in w["defender"].seen)
    sent = the_delivery(w)
    assert sent.acted == "approve" and sent.acted_by == w["a_responder"]
    with rls_bypass("test assertion"):
        (audited,) = AuditEvent.objects.for_tenant(w["a"]).filter(action="delivery.approve")
    assert audited.data["via"] == "link" and audited.data["channel"] == "email"
    again = client.post(asked["approve"])
    assert again.status_code == 409 and b"Already answered" in again.content
    assert client.get(asked["reject"]).status_code == 409  # the same question: answered
    assert len([s for s in w["defender"].seen if s.path.endswith("/isolate")]) == 1


def test_rejecting_needs_the_reason_the_portals_reject_needs(client, world, asked):
    w = world
    client.force_login(w["a_admin"])
    assert b'name="reason"' in client.get(asked["reject"]).content
    assert client.post(asked["reject"], {"reason": ""}).status_code == 400
    assert status(asked["row"]) == "awaiting_approval" and the_delivery(w).acted == ""
    assert client.post(asked["reject"], {"reason": "our CFO's laptop"}).status_code == 302
    (row,) = rows(tenant=w["a"])
    assert row.status == "rejected" and row.decision_note == "our CFO's laptop"
    assert the_delivery(w).acted == "reject"
    assert not any(s.path.endswith("/isolate") for s in w["defender"].seen)


@pytest.mark.parametrize(
    ("who", "code"),
    [("b_admin", 404), ("a_viewer", 403), ("analyst_a", 403), ("analyst_b", 404)],
)
def test_only_the_customers_responders_and_admins_answer(client, world, asked, who, code):
    client.force_login(world[who])  # another tenant's, a viewer, the MSSP's own analysts
    assert client.post(asked["approve"]).status_code == code
    assert client.post(asked["reject"], {"reason": "no"}).status_code == code
    assert status(asked["row"]) == "awaiting_approval"
    assert the_delivery(world).acted == ""  # unused: the customer's on-call can still answer


def test_an_action_answered_elsewhere_or_expired_is_said_plainly(client, world, asked, api):
    w = world
    assert api(w["a_admin"]).post(f"/api/v1/actions/{asked['row'].pk}/approve/").status_code in (
        200,
        201,
    )
    client.force_login(w["a_responder"])
    for link in (asked["approve"], asked["reject"]):
        page = client.get(link)
        assert page.status_code == 409 and b"approved by" in page.content
        assert client.post(link, {"reason": "late"}).status_code == 409
    assert status(asked["row"]) == "approved" and the_delivery(w).acted == ""
    with rls_bypass("test fixture"):
        type(asked["row"]).objects.dangerously_unscoped("t").filter(pk=asked["row"].pk).update(
            status="expired"
        )
    page = client.get(asked["approve"])
    assert page.status_code == 409 and b"expired" in page.content


@pytest.mark.parametrize("tamper", [lambda t: t[:-2] + "xx", lambda t: t[5:]])
def test_a_tampered_link_is_refused(client, world, asked, tamper):
    token = asked["approve"].split("/")[2]
    client.force_login(world["a_responder"])
    assert client.post(f"/answer/{tamper(token)}/").status_code == 400
    assert status(asked["row"]) == "awaiting_approval"


def test_slack_approves_in_slack_and_rejects_through_the_portals_page(client, world, settings):
    w = world
    settings.SLACK_RESPONSE_URL_HOSTS = ["127.0.0.1"]
    with rls_bypass("test fixture"):
        channel = Channel.objects.create(
            tenant=w["a"],
            name="Slack app",
            kind="slack_app",
            target="C0ACME001",
            sealed_secrets=seal({"bot_token": "xoxb-test", "signing_secret": SIGNING_SECRET}),
        )
        Subscription.objects.create(tenant=w["a"], channel=channel, events=[EVENT])
    ContactMethod.objects.create(
        user=w["a_responder"], label="Slack", kind="slack_app", target="T0ACME001/U0ARESP01"
    )
    with tenant_scope([w["a"].pk]):
        row = services.action_request(
            w["a_incident"],
            actor=w["analyst_a"],
            by_customer=False,
            connector=w["a_defender"],
            action="isolate_host",
            target=HOST,
        )
    with rls_bypass("test fixture"):
        sent = Delivery.objects.for_tenant(w["a"]).get(event_type=EVENT, kind="slack_app")
    message = Message(**{**sent.message, "links": links_for(sent)})  # what the sender posts
    buttons = {b["action_id"]: b for b in slack_app.buttons(message)}
    assert "url" not in buttons["approve"]  # answered in Slack
    assert buttons["reject"]["url"].endswith(f"/answer/{buttons['reject']['value']}/")
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ARESP01", "team_id": "T0ACME001"},
        "team": {"id": "T0ACME001"},
        "actions": [{"action_id": "approve", "value": buttons["approve"]["value"]}],
        "response_url": "http://127.0.0.1:9/hooks/reply",
        "message": {"text": sent.title, "blocks": []},
    }
    body = form_body(payload)
    headers = {
        f"HTTP_{k.upper().replace('-', '_')}": v
        for k, v in signed_headers(body, SIGNING_SECRET).items()
        if k != "Content-Type"
    }
    answer = client.post(
        "/integrations/slack/interactions/",
        body,
        content_type="application/x-www-form-urlencoded",
        **headers,
    )
    assert answer.status_code == 200, answer.content
    assert status(row) == "approved"
    with rls_bypass("test assertion"):
        sent.refresh_from_db()
        (audited,) = AuditEvent.objects.for_tenant(w["a"]).filter(action="delivery.approve")
    assert sent.acted == "approve" and sent.acted_by == w["a_responder"]
    assert audited.data["via"] == "slack" and audited.actor == w["a_responder"]


def test_an_approvers_page_offers_the_answers_and_an_mssp_teams_channel_none(world):
    incident, action_id = world["a_incident"], "01a253e5-bfc0-7294-a4fd-3dfd95cf55c5"

    def offered(**fields):
        return [label for label, _ in links_for(Delivery(incident=incident, **fields))]

    page = {"data": {"event": "page", "escalation": action_id, "direction": "approval"}}
    assert offered(event_type="page", message=page) == ["Approve the action", "Reject…"]
    asked = {"data": {"event": EVENT, "response_action": action_id}}
    assert offered(event_type=EVENT, message=asked) == ["Approve the action", "Reject…"]
    assert offered(event_type=EVENT, message=asked, staff_only=True) == []
