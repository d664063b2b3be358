"""The notifications settings page (/settings/notifications/): channels, subscriptions and the
delivery log of one tenant, through the real views and the API's own actions.

A channel's secret never reaches a page (not even back into the form after an error); a
signed webhook's signing secret is shown once; tenant A's admin can neither see nor touch
tenant B's rows (each attempt is the same 404 as a missing id, and nothing changes); only
the tenant's admins open the page, and only MSSP staff retry a failed delivery.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notifications.models import Channel, Delivery, Subscription
from tenants.models import AuditEvent
from tenants.rls import rls_bypass
from tests.notifications.test_senders import Receiver

pytestmark = pytest.mark.django_db

PAGE = reverse("settings-notifications")
SECRET_PATH = "very-secret-path"
SLACK_URL = f"http://127.0.0.1:9/services/T000/B000/{SECRET_PATH}"


# --- helpers -----------------------------------------------------------------------------------
def rows(model, **filters) -> list:
    with rls_bypass("test assertion"):
        return list(model.objects.dangerously_unscoped("test assertion").filter(**filters))


def state(model, pk) -> dict | None:
    with rls_bypass("test assertion"):
        return model.objects.dangerously_unscoped("test").filter(pk=pk).values().first()


def audit_actions(tenant) -> list[str]:
    """The tenant's audit trail of changes (not its sign-ins)."""
    events = sorted(rows(AuditEvent, tenant=tenant), key=lambda e: e.at)
    return [e.action for e in events if not e.action.startswith("auth.")]


def page_text(response) -> bytes:
    """The page without its per-request CSRF token and CSP nonce."""
    content = re.sub(rb'"X-CSRFToken": "[^"]*"', b"", response.content)
    content = re.sub(rb'nonce="[^"]*"', b"", content)
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", content)


def make_channel(tenant, **fields) -> Channel:
    fields = {
        "name": f"{tenant.name} mailbox",
        "kind": "email",
        "target": "soc@x.example",
        **fields,
    }
    with rls_bypass("test fixture"):
        return Channel.objects.create(tenant=tenant, **fields)


def make_delivery(channel, **fields) -> Delivery:
    fields = {
        "kind": channel.kind,
        "key": f"k-{uuid.uuid4()}",
        "event_type": "incident.opened",
        "title": f"{channel.tenant.name} incident opened",
        "message": {},
        "status": "failed",
        "attempts": 8,
        "last_error": "connection refused",
        **fields,
    }
    with rls_bypass("test fixture"):
        return Delivery.objects.create(tenant_id=channel.tenant_id, channel=channel, **fields)


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def private_ok(settings):
    """Loopback destinations allowed (the test's own receivers)."""
    settings.WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def world(two_tenants):
    w = two_tenants
    w["b_channel"] = make_channel(w["b"], name="B's secret channel", target="soc@b.example")
    with rls_bypass("test fixture"):
        w["b_subscription"] = Subscription.objects.create(tenant=w["b"], channel=w["b_channel"])
    w["b_delivery"] = make_delivery(w["b_channel"], title="B's secret delivery")
    return w


# --- channels and subscriptions ----------------------------------------------------------------
def test_customer_admin_adds_channels_and_a_subscription_and_sees_them(world, as_user, private_ok):
    client = as_user(world["a_admin"])
    bodies = []

    made = client.post(PAGE, {"name": "SOC mailbox", "kind": "email", "target": "soc@a.example"})
    assert made.status_code == 302 and made["Location"] == PAGE
    made = client.post(PAGE, {"name": "Slack #soc", "kind": "slack", "url": SLACK_URL})
    assert made.status_code == 302
    bodies.append(client.get(made["Location"]).content)  # with the "added" message
    mailbox, slack = sorted(rows(Channel, tenant=world["a"]), key=lambda c: c.name)
    assert (mailbox.kind, mailbox.target, slack.kind, slack.hint) == (
        "email",
        "soc@a.example",
        "slack",
        "…path",
    )
    assert slack.sealed_secrets and SECRET_PATH not in slack.sealed_secrets

    made = client.post(
        reverse("settings-subscription-add"),
        {
            "channel": str(slack.pk),
            "events": ["sla.breached", "incident.opened"],
            "min_severity": "high",
            "categories": "Phishing, account compromise",
            "sources": ["wazuh", "suricata"],
        },
    )
    assert made.status_code == 302 and made["Location"] == PAGE
    (subscription,) = rows(Subscription, tenant=world["a"])
    assert subscription.channel_id == slack.pk and subscription.is_active
    assert mailbox.is_active and slack.is_active
    assert (subscription.events, subscription.min_severity) == (
        ["incident.opened", "sla.breached"],
        "high",
    )
    assert subscription.categories == ["account compromise", "phishing"]
    assert subscription.sources == ["suricata", "wazuh"]

    page = client.get(PAGE)
    bodies += [page.content, client.get(reverse("settings-channel-edit", args=[slack.pk])).content]
    text = page.content.decode()
    assert page.status_code == 200
    for shown in ("SOC mailbox", "soc@a.example", "Slack #soc", "…path", "Incident opened"):
        assert shown in text, shown
    assert "SLA breached" in text and f'id="subscription-{subscription.pk}"' in text
    assert "of account compromise, phishing; from Suricata, Wazuh" in text
    assert "No message sent yet: add a channel and send a test." in text
    assert "B&#x27;s secret channel" not in text and "B&#x27;s secret delivery" not in text
    for body in bodies:
        assert SECRET_PATH.encode() not in body
    assert audit_actions(world["a"]) == [
        "channel.created",
        "channel.created",
        "subscription.created",
    ]


@pytest.mark.parametrize(
    ("body", "field", "secret"),
    [
        ({"kind": "slack", "url": SLACK_URL, "target": "soc@a.example"}, "target", SECRET_PATH),
        ({"kind": "slack", "url": SLACK_URL, "name": "x" * 101}, "name", SECRET_PATH),
        ({"kind": "email", "target": "soc@a.example", "url": SLACK_URL}, "url", SECRET_PATH),
        ({"kind": "pagerduty", "routing_key": "rk-secret-1234", "target": "+1"}, "target", "rk-"),
        ({"kind": "opsgenie"}, "api_key", None),
        ({"kind": "teams", "url": "file:///etc/passwd-secret"}, "url", "passwd-secret"),
    ],
)
def test_a_form_error_never_renders_a_secret_back(world, as_user, private_ok, body, field, secret):
    response = as_user(world["a_admin"]).post(PAGE, {"name": "Mine", **body})
    assert response.status_code == 400
    assert f'id="id_{field}_error"'.encode() in response.content
    if secret:
        assert secret.encode() not in response.content
    secrets = re.findall(rb'<input[^>]*name="(?:url|routing_key|api_key)"[^>]*>', response.content)
    assert len(secrets) == 3  # drawn again, empty
    assert all(b'type="password"' in i and b"value=" not in i for i in secrets), secrets
    assert rows(Channel, tenant=world["a"]) == []


def test_a_loopback_url_is_refused_unless_private_destinations_are_allowed(
    world, as_user, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = as_user(world["a_admin"]).post(
        PAGE, {"name": "Slack", "kind": "slack", "url": SLACK_URL}
    )
    assert response.status_code == 400
    assert b"Not a URL the portal may send to: 127.0.0.1 is not a public address." in (
        response.content
    )
    assert SECRET_PATH.encode() not in response.content
    assert rows(Channel, tenant=world["a"]) == []


def test_a_signed_webhooks_signing_secret_is_shown_once(world, as_user, private_ok):
    client = as_user(world["a_admin"])
    response = client.post(
        PAGE, {"name": "SOAR", "kind": "webhook", "url": "http://127.0.0.1:9/soar-hook"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    found = re.findall(rb"whsec_[A-Za-z0-9+/=]+", response.content)
    assert len(found) == 1, found  # once, in the shown-once box
    assert re.search(rb'id="secret-value"[^>]*value="whsec_', response.content)
    (channel,) = rows(Channel, tenant=world["a"])
    assert channel.sealed_secrets and found[0].decode() not in channel.sealed_secrets
    for url in (PAGE, reverse("settings-channel-edit", args=[channel.pk])):
        again = client.get(url)
        assert again.status_code == 200 and b"whsec_" not in again.content
        assert b"soar-hook" not in again.content
    # other kinds have no signing secret to show
    response = client.post(PAGE, {"name": "Mail", "kind": "email", "target": "m@a.example"})
    assert response.status_code == 302


def test_send_a_test_queues_a_test_delivery_that_reaches_the_receiver(
    world, as_user, private_ok, django_capture_on_commit_callbacks
):
    receiver = Receiver()
    try:
        client = as_user(world["a_admin"])
        url = f"{receiver.base}/services/T000/B000/{SECRET_PATH}"
        made = client.post(PAGE, {"name": "Slack #soc", "kind": "slack", "url": url})
        assert made.status_code == 302
        (channel,) = rows(Channel, tenant=world["a"])
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("settings-channel-test", args=[channel.pk]))
        assert response.status_code == 302 and response["Location"] == PAGE
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
    (delivery,) = rows(Delivery, tenant=world["a"])
    assert delivery.is_test and delivery.channel_id == channel.pk
    assert delivery.event_type == "channel.test"
    assert (delivery.status, delivery.attempts) == ("sent", 1), delivery.last_error
    assert [r.path for r in receiver.requests] == [f"/services/T000/B000/{SECRET_PATH}"]
    assert "Test message" in receiver.last.body.decode()
    page = client.get(PAGE).content.decode()
    assert f'id="delivery-{delivery.pk}"' in page and "Sent" in page
    assert "No message sent yet" not in page and SECRET_PATH not in page
    assert "channel.tested" in audit_actions(world["a"])


def test_disable_rename_and_replace_a_secret(world, as_user, private_ok):
    channel = make_channel(world["a"], name="Pager", kind="pagerduty", target="")
    client = as_user(world["a_admin"])
    edit = reverse("settings-channel-edit", args=[channel.pk])
    test_url = reverse("settings-channel-test", args=[channel.pk])
    assert test_url.encode() in client.get(PAGE).content

    # the list's button posts is_active alone
    assert client.post(edit, {"is_active": "false"}).status_code == 302
    assert state(Channel, channel.pk)["is_active"] is False
    page = client.get(PAGE).content
    assert test_url.encode() not in page and b"Disabled" in page
    refused = client.post(test_url, follow=True)
    assert b"The channel is disabled: enable it to send a test." in refused.content
    assert rows(Delivery, tenant=world["a"]) == []

    form = client.get(edit)
    assert form.status_code == 200 and b'name="routing_key"' in form.content
    assert b'name="url"' not in form.content and b'name="target"' not in form.content
    saved = client.post(
        edit, {"name": "PagerDuty", "is_active": "true", "routing_key": "R0utingKeyABCD"}
    )
    assert saved.status_code == 302
    assert state(Channel, channel.pk)["hint"] == "…ABCD"
    # blank keeps the secret
    assert client.post(edit, {"name": "PagerDuty SOC", "routing_key": ""}).status_code == 302
    after = state(Channel, channel.pk)
    assert (after["name"], after["is_active"], after["hint"]) == ("PagerDuty SOC", True, "…ABCD")
    bad = client.post(edit, {"name": "", "routing_key": "R0utingKeyWXYZ"})
    assert bad.status_code == 400 and b"R0utingKey" not in bad.content
    assert state(Channel, channel.pk)["hint"] == "…ABCD"
    assert b"R0utingKey" not in client.get(PAGE).content


def test_removing_a_subscription_then_its_channel(world, as_user):
    channel = make_channel(world["a"])
    with rls_bypass("test fixture"):
        subscription = Subscription.objects.create(tenant=world["a"], channel=channel)
    delivery = make_delivery(channel, status="sent", last_error="")
    client = as_user(world["a_admin"])
    url = reverse("settings-subscription-delete", args=[subscription.pk])
    assert client.get(url).status_code == 405  # a POST, from the confirmation
    assert client.post(url).status_code == 302
    assert state(Subscription, subscription.pk) is None
    assert client.post(reverse("settings-channel-delete", args=[channel.pk])).status_code == 302
    assert state(Channel, channel.pk) is None
    assert state(Delivery, delivery.pk)["channel_id"] is None  # the log keeps it
    assert "removed channel" in client.get(PAGE).content.decode()
    assert audit_actions(world["a"]) == ["subscription.deleted", "channel.deleted"]


# --- who may do what ---------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["a_viewer", "a_responder", "analyst_a", "outsider"])
def test_others_than_admins_are_refused(world, as_user, who):
    client = as_user(world[who])
    assert client.get(PAGE).status_code == 403
    body = {"name": "x", "kind": "email", "target": "x@a.example"}
    assert client.post(PAGE, body).status_code == 403
    assert rows(Channel, tenant=world["a"]) == []


def test_anonymous_callers_are_sent_to_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_mssp_admin_chooses_a_tenant_then_administers_it(world, as_user):
    client = as_user(world["mssp_admin"])
    chooser = client.get(PAGE)
    assert chooser.status_code == 200 and f"{PAGE}?tenant=tenant-b".encode() in chooser.content
    page = client.get(PAGE + "?tenant=tenant-b")
    assert page.status_code == 200
    assert (
        b"B&#x27;s secret channel" in page.content and b"B&#x27;s secret delivery" in page.content
    )
    assert b"?tenant=tenant-b" in page.content  # its forms stay on tenant B
    made = client.post(
        PAGE + "?tenant=tenant-b", {"name": "NOC", "kind": "sms", "target": "+14155550100"}
    )
    assert made.status_code == 302 and made["Location"] == PAGE + "?tenant=tenant-b"
    assert [c.name for c in rows(Channel, tenant=world["b"], kind="sms")] == ["NOC"]
    assert client.get(PAGE + "?tenant=nope").status_code == 404


def test_customer_admin_cannot_reach_another_tenants_rows(world, as_user):
    b_channel, b_sub, b_delivery = world["b_channel"], world["b_subscription"], world["b_delivery"]
    # B's rows exist, so every 404 below is isolation, not absence
    before = [state(m, o.pk) for m, o in ((Channel, b_channel), (Subscription, b_sub))]
    before_delivery = state(Delivery, b_delivery.pk)
    assert all(before) and before_delivery
    before_audit = audit_actions(world["b"])
    client = as_user(world["a_admin"])
    attempts = [
        ("get", reverse("settings-channel-edit", args=[b_channel.pk]), None),
        ("post", reverse("settings-channel-edit", args=[b_channel.pk]), {"is_active": "false"}),
        ("post", reverse("settings-channel-edit", args=[b_channel.pk]), {"name": "mine"}),
        ("post", reverse("settings-channel-test", args=[b_channel.pk]), {}),
        ("post", reverse("settings-channel-delete", args=[b_channel.pk]), {}),
        ("post", reverse("settings-subscription-delete", args=[b_sub.pk]), {}),
        ("post", reverse("settings-delivery-retry", args=[b_delivery.pk]), {}),
    ]
    for method, url, data in attempts:
        named = getattr(client, method)(url + "?tenant=tenant-b", data)
        assert named.status_code == 404, url
        response = getattr(client, method)(url, data)
        assert response.status_code == 404, url
        missing = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", str(uuid.uuid4()), url)
        again = getattr(client, method)(missing, data)
        assert again.status_code == 404 and page_text(again) == page_text(response)
    assert client.get(PAGE + "?tenant=tenant-b").status_code == 404

    # B's channel in A's subscription form: no such channel
    response = client.post(reverse("settings-subscription-add"), {"channel": str(b_channel.pk)})
    assert response.status_code == 400
    assert f"No such channel: &#x27;{b_channel.pk}&#x27;.".encode() in response.content
    assert rows(Subscription, tenant=world["a"]) == []

    assert [state(m, o.pk) for m, o in ((Channel, b_channel), (Subscription, b_sub))] == before
    assert state(Delivery, b_delivery.pk) == before_delivery
    assert len(rows(Delivery, tenant=world["b"])) == 1
    assert audit_actions(world["b"]) == before_audit
    page = client.get(PAGE).content.decode()
    assert str(b_channel.pk) not in page and "B&#x27;s secret" not in page


def test_only_mssp_staff_see_and_use_retry(world, as_user):
    a_channel = make_channel(world["a"])
    failed = make_delivery(a_channel)
    sent = make_delivery(a_channel, status="sent", last_error="", title="Delivered one")
    retry = reverse("settings-delivery-retry", args=[failed.pk])

    customer = as_user(world["a_admin"])
    page = customer.get(PAGE).content.decode()
    assert f'id="delivery-{failed.pk}"' in page and "connection refused" in page
    assert retry not in page and "Retry" not in page
    assert customer.post(retry).status_code == 403
    assert state(Delivery, failed.pk)["status"] == "failed"

    staff = as_user(world["mssp_admin"])
    page = staff.get(PAGE + "?tenant=tenant-a").content.decode()
    assert f"{retry}?tenant=tenant-a" in page
    assert reverse("settings-delivery-retry", args=[sent.pk]) not in page  # failed rows only
    response = staff.post(retry + "?tenant=tenant-a")
    assert response.status_code == 302 and response["Location"] == PAGE + "?tenant=tenant-a"
    after = state(Delivery, failed.pk)
    assert (after["status"], after["attempts"]) == ("pending", 0)
    assert "delivery.retried" in audit_actions(world["a"])


# --- the delivery log --------------------------------------------------------------------------
def test_the_page_answers_in_a_fixed_number_of_queries(world, as_user):
    client = as_user(world["a_admin"])
    channel = make_channel(world["a"])
    make_delivery(channel)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(PAGE).status_code == 200
        return len(captured)

    few = queries()
    for n in range(4):
        more = make_channel(world["a"], name=f"Channel {n}")
        with rls_bypass("test fixture"):
            Subscription.objects.create(tenant=world["a"], channel=more, events=["sla.breached"])
        make_delivery(more)
    assert queries() == few


def test_the_delivery_log_pages_newest_first(world, as_user, monkeypatch):
    from notifications import views

    channel = make_channel(world["a"])
    for n in range(3):
        make_delivery(channel, title=f"Delivery {n}")
    monkeypatch.setattr(views, "DELIVERIES_PER_PAGE", 2)
    client = as_user(world["a_admin"])
    first = client.get(PAGE).content.decode()
    assert "Delivery 2" in first and "Delivery 1" in first and "Delivery 0" not in first
    older = re.search(r'<a href="([^"]+)" rel="next">', first).group(1).replace("&amp;", "&")
    second = client.get(older).content.decode()
    assert "Delivery 0" in second and "Delivery 2" not in second
    assert client.get(PAGE + "?cursor=garbage").status_code == 400
