"""A post-incident report shared with the customer reaches the customer's subscribed channels,
through the real pipeline (the share's stream event, the outbox, a signed webhook to a receiver
on loopback), with a link to the report; a draft, an approval and a withdrawal tell nobody at
the customer, and no other tenant hears of any of it."""

from __future__ import annotations

import pytest
from standardwebhooks import Webhook

from alerts.models import Incident
from notifications import delivery
from notifications.models import Channel, Delivery
from tenants.rls import rls_bypass
from tenants.sealed import seal
from tests.factories import StaffFactory, ingest_alerts
from tests.notifications.test_routing import add_channel, deliveries
from tests.notifications.test_senders import Receiver

pytestmark = pytest.mark.django_db

HOOK_PATH = "/hooks/portal"
SIGNING_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receiver = Receiver()
    yield receiver
    receiver.stop.set()
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def worked(two_tenants, receiver):
    """Tenant A's resolved incident with a webhook channel for the report and a mailbox that
    hears everything; tenant B's mailbox hears everything too; a lead of A."""
    w = dict(two_tenants)
    w["lead_a"] = StaffFactory(staff_role="lead", tenants=[w["a"]])
    for name in ("a", "b"):
        ingest_alerts(w[f"{name}_source"], 1, title=f"{name.upper()}'s phishing")
        with rls_bypass("test fixture"):
            w[f"{name}_incident"] = Incident.objects.for_tenant(w[name]).get()
    w["hook"] = add_channel(
        w["a"],
        kind="webhook",
        target="",
        events=["incident.report_shared"],
        sealed_secrets=seal({"url": receiver.base + HOOK_PATH, "signing_secret": SIGNING_SECRET}),
    )
    w["a_mailbox"] = add_channel(w["a"], target="soc@a.example")  # no events named: all
    w["b_mailbox"] = add_channel(w["b"], target="soc@b.example")
    with rls_bypass("test fixture: only what follows counts"):
        Delivery.objects.dangerously_unscoped("test").all().delete()
    return w


def report_deliveries(tenant) -> list[Delivery]:
    return [d for d in deliveries(tenant) if d.event_type == "incident.report_shared"]


def test_sharing_tells_the_customers_subscribers_once_with_a_link_to_the_report(
    worked, api, receiver, mailoutbox
):
    url = f"/api/v1/incidents/{worked['a_incident'].pk}/report/"
    drafted = api(worked["analyst_a"]).post(url, {"summary": "Phished."}, format="json")
    assert drafted.status_code == 201, drafted.json()
    assert api(worked["mssp_admin"]).post(url + "approve/").status_code == 200
    assert deliveries(worked["a"]) == []  # a draft and an approval are the MSSP's business
    delivery.deliver_batch()
    assert receiver.requests == [] and mailoutbox == []

    assert api(worked["lead_a"]).post(url + "share/").status_code == 200
    made = report_deliveries(worked["a"])
    assert sorted(d.channel_id for d in made) == sorted([worked["hook"].pk, worked["a_mailbox"].pk])
    assert deliveries(worked["b"]) == []
    delivery.deliver_batch()
    assert {d.status for d in report_deliveries(worked["a"])} == {"sent"}

    (request,) = receiver.requests
    assert request.path == HOOK_PATH
    body = Webhook(SIGNING_SECRET).verify(request.body, request.headers)
    report_url = f"/incidents/{worked['a_incident'].pk}/report/"
    assert body["type"] == "incident.report_shared"
    assert body["data"]["incident"] == str(worked["a_incident"].pk)
    assert body["data"]["url"].endswith(report_url)
    (mail,) = mailoutbox
    assert mail.to == ["soc@a.example"]
    assert "Post-incident report shared: A's phishing" in mail.subject
    assert report_url in mail.body and "B's phishing" not in mail.body

    # Withdrawn (reopened as a draft): the customer's portal refreshes, nobody is messaged.
    assert api(worked["lead_a"]).post(url + "reopen/").status_code == 200
    assert [d.event_type for d in deliveries(worked["a"])] == ["incident.report_shared"] * 2
    assert deliveries(worked["b"]) == []


def test_another_tenants_report_tells_only_that_tenant(worked, api, receiver):
    worked["lead_b"] = StaffFactory(staff_role="lead", tenants=[worked["b"]])
    url = f"/api/v1/incidents/{worked['b_incident'].pk}/report/"
    assert api(worked["analyst_b"]).post(url, {}, format="json").status_code == 201
    assert api(worked["lead_a"]).post(url + "approve/").status_code == 404  # not A's lead's
    assert api(worked["lead_b"]).post(url + "approve/").status_code == 200
    assert api(worked["lead_b"]).post(url + "share/").status_code == 200
    assert deliveries(worked["a"]) == []
    (told,) = deliveries(worked["b"])
    assert told.event_type == "incident.report_shared"
    assert told.message["url"].endswith(f"/incidents/{worked['b_incident'].pk}/report/")
    delivery.deliver_batch()
    assert receiver.requests == []  # A's webhook heard nothing of B


def test_the_event_is_a_subscription_choice_of_the_api(worked, api):
    channel = worked["hook"]
    slug = worked["a"].slug
    made = api(worked["a_admin"]).post(
        f"/api/v1/tenants/{slug}/subscriptions/",
        {"channel": str(channel.pk), "events": ["incident.report_shared"]},
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert made.json()["events"] == ["incident.report_shared"]
    with rls_bypass("test assertion"):
        assert Channel.objects.for_tenant(worked["a"]).filter(pk=channel.pk).exists()
