"""The channels, subscriptions and delivery log API: secrets write-only and sealed, every input
checked, every other tenant's rows out of reach."""

from __future__ import annotations

import pytest

from notifications.models import Channel, Delivery
from tenants.models import AuditEvent
from tenants.rls import rls_bypass

pytestmark = pytest.mark.django_db

A = "/api/v1/tenants/tenant-a"
B = "/api/v1/tenants/tenant-b"
SLACK_URL = "http://127.0.0.1:9/services/T000/B000/very-secret-path"


@pytest.fixture
def private_ok(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True


def make_channel(client, base=A, **body):
    body = {"name": "SOC mailbox", "kind": "email", "target": "soc@a.example", **body}
    reply = client.post(f"{base}/channels/", body, format="json")
    assert reply.status_code == 201, reply.content
    return reply.json()


def test_a_channels_secret_is_sealed_never_shown_and_never_audited(api, two_tenants, private_ok):
    admin = api(two_tenants["a_admin"])
    made = make_channel(admin, name="Slack #soc", kind="slack", target="", url=SLACK_URL)
    assert made["hint"] == "…path" and "url" not in made and made["signing_secret"] == ""
    listed = admin.get(f"{A}/channels/").content.decode()
    assert "very-secret-path" not in listed and made["id"] in listed
    assert "very-secret-path" not in admin.get(f"{A}/channels/{made['id']}/").content.decode()
    with rls_bypass("test"):
        row = Channel.objects.for_tenant(two_tenants["a"]).get(pk=made["id"])
        audit = list(
            AuditEvent.objects.for_tenant(two_tenants["a"])
            .filter(action="channel.created")
            .values_list("data")
        )
    assert row.sealed_secrets and "very-secret-path" not in row.sealed_secrets
    assert audit and "very-secret-path" not in str(audit)


def test_a_signed_webhooks_signing_secret_is_shown_once(api, two_tenants, private_ok):
    admin = api(two_tenants["a_admin"])
    made = make_channel(
        admin, name="SOAR", kind="webhook", target="", url="http://127.0.0.1:9/soar"
    )
    assert made["signing_secret"].startswith("whsec_")
    again = admin.get(f"{A}/channels/{made['id']}/").json()
    assert "signing_secret" not in again
    assert made["signing_secret"] not in admin.get(f"{A}/channels/").content.decode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "email", "target": "not an address"}, "target"),
        ({"kind": "sms", "target": "0612345678"}, "target"),
        ({"kind": "slack"}, "url"),
        ({"kind": "slack", "url": "http://127.0.0.1/hook"}, "url"),  # private: refused (SSRF)
        ({"kind": "slack", "url": "file:///etc/passwd"}, "url"),
        ({"kind": "pagerduty"}, "routing_key"),
        ({"kind": "email", "target": "a@a.example", "api_key": "x"}, "api_key"),
        ({"kind": "telegram"}, "kind"),
        ({"kind": "email", "target": "a@a.example", "name": "x" * 101}, "name"),
    ],
)
def test_bad_channels_are_refused_with_the_field_at_fault(api, two_tenants, body, field):
    reply = api(two_tenants["a_admin"]).post(f"{A}/channels/", {"name": "n", **body}, format="json")
    assert reply.status_code == 400, reply.content
    assert field in reply.json()["fields"], reply.json()


@pytest.mark.parametrize("body", [[], "x", None, 3])
def test_a_body_that_is_not_an_object_is_a_400(api, two_tenants, body):
    reply = api(two_tenants["a_admin"]).post(f"{A}/channels/", body, format="json")
    assert reply.status_code == 400


def test_a_channels_kind_cannot_change_and_a_blank_secret_keeps_the_old_one(
    api, two_tenants, private_ok
):
    admin = api(two_tenants["a_admin"])
    made = make_channel(admin, kind="slack", target="", url=SLACK_URL)
    url = f"{A}/channels/{made['id']}/"
    assert admin.patch(url, {"kind": "teams"}, format="json").status_code == 400
    renamed = admin.patch(url, {"name": "Slack #incidents", "is_active": False}, format="json")
    assert renamed.status_code == 200 and renamed.json()["hint"] == "…path"
    swapped = admin.patch(url, {"url": "http://127.0.0.1:9/new-path-abcd"}, format="json")
    assert swapped.json()["hint"] == "…abcd"


def test_who_reads_and_who_changes_channels(api, two_tenants):
    made = make_channel(api(two_tenants["a_admin"]))
    for who in ("a_viewer", "a_responder"):
        assert api(two_tenants[who]).get(f"{A}/channels/").status_code == 403
        assert api(two_tenants[who]).get(f"{A}/deliveries/").status_code == 200  # evidence
    analyst = api(two_tenants["analyst_a"])
    assert analyst.get(f"{A}/channels/").status_code == 200
    assert analyst.delete(f"{A}/channels/{made['id']}/").status_code == 403
    assert api(two_tenants["mssp_admin"]).get(f"{A}/channels/").status_code == 200
    read_only = api(two_tenants["a_admin"], scopes=["read"])
    reply = read_only.post(f"{A}/channels/", {"name": "x", "kind": "email"}, format="json")
    assert reply.status_code == 403


def test_another_tenants_channels_subscriptions_and_deliveries_are_out_of_reach(api, two_tenants):
    mine = make_channel(api(two_tenants["a_admin"]))
    theirs = make_channel(api(two_tenants["b_admin"]), base=B, target="soc@b.example")
    b_admin = api(two_tenants["b_admin"])
    for path in ("channels/", f"channels/{mine['id']}/", "subscriptions/", "deliveries/"):
        assert b_admin.get(f"{A}/{path}").status_code == 404
    assert b_admin.post(f"{A}/channels/{mine['id']}/test/").status_code == 404
    assert b_admin.delete(f"{A}/channels/{mine['id']}/").status_code == 404
    # A's own tenant, B's channel id: it does not exist there
    reply = api(two_tenants["a_admin"]).post(
        f"{A}/subscriptions/", {"channel": theirs["id"]}, format="json"
    )
    assert reply.status_code == 400 and "No such channel" in reply.content.decode()
    analyst_a = api(two_tenants["analyst_a"])
    assert analyst_a.get(f"{B}/deliveries/").status_code == 404
    with rls_bypass("test"):
        assert Channel.objects.for_tenant(two_tenants["a"]).filter(pk=mine["id"]).exists()


def test_subscriptions_and_deliveries_filter_by_channel_and_incident_ids(api, two_tenants):
    """By id, within the tenant: another tenant's channel id or any unknown id finds nothing
    (it was a 500: django-filter's choice filter read every tenant's channels)."""
    import uuid

    admin = api(two_tenants["a_admin"])
    mine = make_channel(admin)
    theirs = make_channel(api(two_tenants["b_admin"]), base=B, target="soc@b.example")
    made = admin.post(f"{A}/subscriptions/", {"channel": mine["id"]}, format="json")
    assert made.status_code == 201
    listed = admin.get(f"{A}/subscriptions/", {"channel": mine["id"]}).json()["results"]
    assert [s["id"] for s in listed] == [made.json()["id"]]
    for other in (theirs["id"], str(uuid.uuid4())):
        assert admin.get(f"{A}/subscriptions/", {"channel": other}).json()["results"] == []
        for field in ("channel", "incident"):
            answer = admin.get(f"{A}/deliveries/", {field: other})
            assert answer.status_code == 200 and answer.json()["results"] == []
    assert admin.get(f"{A}/deliveries/", {"incident": "not-an-id"}).status_code == 400


def test_subscriptions_name_known_events_and_severities(api, two_tenants):
    admin = api(two_tenants["a_admin"])
    channel = make_channel(admin)
    url = f"{A}/subscriptions/"
    bad = admin.post(url, {"channel": channel["id"], "events": ["alert.created"]}, format="json")
    assert bad.status_code == 400
    bad = admin.post(url, {"channel": channel["id"], "min_severity": "urgent"}, format="json")
    assert bad.status_code == 400
    good = admin.post(
        url,
        {
            "channel": channel["id"],
            "events": ["sla.breached", "incident.opened"],
            "min_severity": "high",
        },
        format="json",
    )
    assert good.status_code == 201, good.content
    assert good.json()["events"] == ["incident.opened", "sla.breached"]


def test_send_a_test_then_retry_a_failed_delivery_as_staff_only(api, two_tenants, settings):
    from notifications import delivery

    settings.WEBHOOK_ALLOW_PRIVATE = True
    admin = api(two_tenants["a_admin"])
    made = make_channel(admin, kind="slack", target="", url="http://127.0.0.1:9/closed")
    reply = admin.post(f"{A}/channels/{made['id']}/test/")
    assert reply.status_code == 202 and reply.json()["is_test"] is True
    test_id = reply.json()["id"]
    with rls_bypass("test"):
        Delivery.objects.for_tenant(two_tenants["a"]).filter(pk=test_id).update(
            status="failed", last_error="connection refused"
        )
    url = f"{A}/deliveries/{test_id}/retry/"
    assert admin.post(url).status_code == 403  # the customer fixes the channel; the SOC re-sends
    retried = api(two_tenants["analyst_a"]).post(url)
    assert retried.status_code == 200, retried.content
    assert retried.json()["status"] in ("pending", "failed")  # sent again at once (eager)
    delivery.deliver_batch()
    with rls_bypass("test"):
        Delivery.objects.for_tenant(two_tenants["a"]).filter(pk=test_id).update(status="sent")
    assert api(two_tenants["analyst_a"]).post(url).status_code == 409
