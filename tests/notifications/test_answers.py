"""One-click answers from a message: a signed, expiring, single-use link to a confirmation
page that needs the recipient's own session and runs the portal's own action."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from alerts.models import Incident
from notifications import delivery, links
from notifications.models import Channel, Delivery, Subscription
from sla.escalation import escalation_request
from sla.models import Escalation
from tenants.models import AuditEvent, Team
from tenants.rls import rls_bypass
from tests.factories import ingest_alerts

pytestmark = pytest.mark.django_db
LINK = re.compile(r"^(?P<label>[^:\n]+): https?://[^/\s]+(?P<path>/answer/[^/\s]+/)$", re.M)


@pytest.fixture
def hand_off(two_tenants):
    """Tenant A's in-house team is offered an incident; A's SOC mailbox hears of hand-offs."""
    a = two_tenants["a"]
    with rls_bypass("test fixture"):
        Team.objects.create(tenant=a, name="A in-house", kind="in_house")
        channel = Channel.objects.create(tenant=a, name="SOC", kind="email", target="soc@a.example")
        Subscription.objects.create(
            tenant=a, channel=channel, events=["escalation.requested", "incident.opened"]
        )
    ingest_alerts(two_tenants["a_source"], title="Ransom note on file server")
    with rls_bypass("test fixture"):
        incident = Incident.objects.for_tenant(a).get()
        esc = escalation_request(incident, direction="to_customer", actor=two_tenants["analyst_a"])
    delivery.deliver_batch()
    return incident, esc


def answers_in_mail(to="soc@a.example"):
    """{label: path} of the one-click answers in the last message to `to`."""
    (*_, message) = [m for m in mail.outbox if m.to == [to]]
    return {m["label"]: m["path"] for m in LINK.finditer(message.body)}


def hand_off_links():
    offered = [msg for msg in mail.outbox if "Hand-off offered" in msg.subject]
    assert all("Answer by" in msg.body and "next step" in msg.body for msg in offered)
    found = [
        {m["label"]: m["path"] for m in LINK.finditer(msg.body)}
        for msg in mail.outbox
        if "Hand-off offered" in msg.subject
    ]
    assert found, [m.subject for m in mail.outbox]
    return found[-1]


def test_accepting_from_the_message_accepts_the_hand_off_once(client, two_tenants, hand_off):
    _, esc = hand_off
    found = hand_off_links()
    assert set(found) == {"Accept the hand-off", "Decline…"}
    accept = found["Accept the hand-off"]
    assert client.get(accept).status_code == 302  # the login page first: a session is needed
    client.force_login(two_tenants["a_responder"])
    page = client.get(accept)
    assert page.status_code == 200 and b"Ransom note on file server" in page.content
    assert client.post(accept).status_code == 302
    with rls_bypass("test"):
        esc.refresh_from_db()
        row = Delivery.objects.for_tenant(two_tenants["a"]).get(event_type="escalation.requested")
        audited = list(
            AuditEvent.objects.for_tenant(two_tenants["a"]).filter(action="delivery.accept")
        )
    assert esc.status == Escalation.Status.ACCEPTED
    assert row.acted == "accept" and row.acted_by == two_tenants["a_responder"]
    assert [entry.data["channel"] for entry in audited] == ["email"]
    again = client.post(accept)
    assert again.status_code == 409 and b"Already answered" in again.content
    # the other answer of the same message was for the same question: used too
    assert client.get(found["Decline…"]).status_code == 409


def test_declining_needs_a_reason_and_a_refused_answer_leaves_the_link_usable(
    client, two_tenants, hand_off
):
    _, esc = hand_off
    decline = hand_off_links()["Decline…"]
    client.force_login(two_tenants["a_responder"])
    assert client.post(decline, {"reason": ""}).status_code == 400
    assert client.post(decline, {"reason": "Our team is at an offsite"}).status_code == 302
    with rls_bypass("test"):
        esc.refresh_from_db()
    assert esc.status == Escalation.Status.DECLINED
    assert esc.reason == "Our team is at an offsite"


def test_a_link_answers_only_within_the_clickers_own_rights(client, two_tenants, hand_off):
    accept = hand_off_links()["Accept the hand-off"]
    client.force_login(two_tenants["b_admin"])  # another tenant: nothing there
    assert client.get(accept).status_code == 404
    client.force_login(two_tenants["a_viewer"])  # a viewer may not answer a hand-off
    assert client.post(accept).status_code == 403
    with rls_bypass("test"):
        row = Delivery.objects.for_tenant(two_tenants["a"]).get(event_type="escalation.requested")
    assert row.acted == ""  # unused: the responder can still answer


def test_an_opened_incident_is_acknowledged_from_the_message_by_the_soc(
    client, two_tenants, hand_off
):
    incident, _ = hand_off
    (acknowledge,) = [
        {m["label"]: m["path"] for m in LINK.finditer(msg.body)}["Acknowledge"]
        for msg in mail.outbox
        if "incident opened" in msg.subject
    ]
    client.force_login(two_tenants["analyst_a"])
    assert client.post(acknowledge).status_code == 302
    with rls_bypass("test"):
        incident.refresh_from_db()
    assert incident.status == "acknowledged"


@pytest.mark.parametrize("tamper", [lambda t: t[:-2] + "xx", lambda t: "nonsense", lambda t: t[5:]])
def test_a_tampered_link_is_refused(client, two_tenants, hand_off, tamper):
    token = hand_off_links()["Accept the hand-off"].split("/")[2]
    client.force_login(two_tenants["a_responder"])
    assert client.get(f"/answer/{tamper(token)}/").status_code == 400


def test_an_expired_link_is_refused(client, two_tenants, hand_off, settings):
    accept = hand_off_links()["Accept the hand-off"]
    client.force_login(two_tenants["a_responder"])
    assert client.get(accept).status_code == 200
    settings.NOTIFICATION_LINK_MAX_AGE = -1  # every link is older than that
    expired = client.get(accept)
    assert expired.status_code == 410 and b"expired" in expired.content


def test_links_are_signed_when_sent_and_never_stored(two_tenants, hand_off):
    with rls_bypass("test"):
        rows = list(Delivery.objects.for_tenant(two_tenants["a"]))
    assert all("/answer/" not in str(row.message) for row in rows)
    assert links.read(links.token("00000000-0000-0000-0000-000000000000", "accept"))[1].verb == (
        "accept"
    )
