"""A Slack app channel: chat.postMessage with interactive buttons, sent to a local Slack over
real HTTP; and the verified interaction callback, driven over real HTTP against the live test
server as Slack drives it (a signed, form-encoded block_actions payload): the click is verified
with the signing secret of the message's own channel, mapped to exactly one portal account
through that person's Slack contact method, and performed as the portal's own action, once.
Other tenants' users, secrets and tokens get nowhere."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from urllib.parse import quote

import httpx
import pytest
from django.urls import reverse

from alerts.models import Incident
from notifications import delivery, links, senders
from notifications.message import Message
from notifications.models import Channel, ContactMethod, Delivery, Subscription, TeamChannel
from notifications.senders import PermanentFailure, RetryLater, TemporaryFailure
from notifications.senders.slack_app import VALUE_MAX
from sla.escalation import escalation_request
from sla.models import Escalation
from tenants.models import AuditEvent, Team
from tenants.rls import rls_bypass
from tenants.sealed import seal
from tests.factories import ingest_alerts
from tests.notifications.slack_receiver import (
    BOT_TOKEN,
    SIGNING_SECRET,
    SlackApi,
    click,
    form_body,
    signed_headers,
)

pytestmark = pytest.mark.django_db(transaction=True)  # the live server sees what tests commit
GLOBEX_SECRET = "0123456789abcdef0123456789abcdef"
ACME_USER, GLOBEX_USER = ("T0ACME001", "U0ARESP01"), ("T0GLOBEX1", "U0BRESP01")


@pytest.fixture
def slack(settings):
    api = SlackApi(channels={"C0ACME001", "C0GLOBEX1", "C0SOC0001"}).start()
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the local Slack is on loopback
    settings.SLACK_API_URL = api.api_url
    settings.SLACK_RESPONSE_URL_HOSTS = ["127.0.0.1"]
    yield api
    api.stop()


# --- the sender ----------------------------------------------------------------------------------
def message_with_answers() -> Message:
    base = "https://portal.example"
    answers = [
        ["Accept the hand-off", f"{base}/answer/{links.token('0' * 32, 'accept')}/"],
        ["Decline…", f"{base}/answer/{links.token('0' * 32, 'decline')}/"],
    ]
    return Message(
        event_type="escalation.requested",
        subject_key="incident:1",
        tenant_name="Globex <!here>",
        title="Hand-off offered: ransomware on FS01",
        text="Answer by 10:15 UTC",
        severity="critical",
        url=f"{base}/incidents/1/",
        links=answers,
    )


def test_chat_post_message_carries_blocks_and_answer_buttons_with_signed_tokens(slack):
    answer = senders.send(
        "slack_app",
        "C0SOC0001",
        {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET},
        message_with_answers(),
    )
    assert answer.status == 200 and answer.detail.startswith("200 from 127.0.0.1: ok, ts ")
    (posted,) = slack.messages
    assert posted.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert posted.headers["content-type"].startswith("application/json")
    body = posted.json()
    assert body["channel"] == "C0SOC0001"
    assert "<!here>" not in posted.body.decode()  # escaped: no channel-wide ping
    assert body["text"].startswith("[Globex &lt;!here&gt;] Hand-off offered")
    buttons = slack.buttons()
    assert list(buttons) == ["open", "accept", "decline"]
    assert buttons["open"]["url"] == "https://portal.example/incidents/1/"
    accept, decline = buttons["accept"], buttons["decline"]
    assert "url" not in accept  # answered in Slack, through the callback
    assert links.read(accept["value"])[1].verb == "accept"
    assert len(accept["value"]) <= VALUE_MAX
    # declining needs a reason: the portal's page asks for it
    assert decline["url"].endswith(f"/answer/{decline['value']}/")


def test_a_token_too_long_for_slack_is_left_out_and_the_portal_link_remains(slack):
    long_url = f"https://portal.example/answer/{'x' * (VALUE_MAX + 1)}/"
    message = replace(message_with_answers(), links=[["Accept the hand-off", long_url]])
    senders.send("slack_app", "C0SOC0001", {"bot_token": BOT_TOKEN}, message)
    assert list(slack.buttons()) == ["open"]


@pytest.mark.parametrize(
    ("setup", "target", "secrets", "failure", "said"),
    [
        (
            lambda s: None,
            "C0SOC0001",
            {"bot_token": "xoxb-wrong-token"},
            PermanentFailure,
            "invalid_auth",
        ),
        (
            lambda s: None,
            "C0NOWHERE",
            {"bot_token": BOT_TOKEN},
            PermanentFailure,
            "channel_not_found",
        ),
        (
            lambda s: setattr(s, "error", "internal_error"),
            "C0SOC0001",
            {"bot_token": BOT_TOKEN},
            TemporaryFailure,
            "internal_error",
        ),
        (
            lambda s: setattr(s, "error", "ratelimited"),
            "C0SOC0001",
            {"bot_token": BOT_TOKEN},
            RetryLater,
            "ratelimited",
        ),
        (lambda s: None, "#soc", {"bot_token": BOT_TOKEN}, PermanentFailure, "channel id"),
        (lambda s: None, "C0SOC0001", {}, PermanentFailure, "bot_token is missing"),
    ],
)
def test_slacks_ok_false_answers_are_judged(slack, setup, target, secrets, failure, said):
    setup(slack)
    with pytest.raises(failure) as raised:
        senders.send("slack_app", target, secrets, message_with_answers())
    assert said in str(raised.value)
    assert BOT_TOKEN not in str(raised.value) and "xoxb-wrong" not in str(raised.value)


def test_a_429_is_retried_when_slack_says(slack):
    slack.rate_limited = "30"
    with pytest.raises(RetryLater) as raised:
        senders.send("slack_app", "C0SOC0001", {"bot_token": BOT_TOKEN}, message_with_answers())
    assert raised.value.retry_after_seconds == 30.0


# --- the callback ------------------------------------------------------------------------------
@pytest.fixture
def world(two_tenants, slack):
    """Acme (a) and Globex (b), both hybrid, each with an in-house team, a Slack app channel of
    its own (its own signing secret) subscribed to hand-offs, and a hand-off offered to it;
    each responder linked to their Slack user. The local Slack has both messages."""
    world = dict(two_tenants)
    secrets = {"a": SIGNING_SECRET, "b": GLOBEX_SECRET}
    slack_ids = {"a": "C0ACME001", "b": "C0GLOBEX1"}
    for key in ("a", "b"):
        tenant = world[key]
        with rls_bypass("test fixture"):
            Team.objects.create(tenant=tenant, name=f"{key} in-house", kind="in_house").members.add(
                world[f"{key}_responder"]
            )
            channel = Channel.objects.create(
                tenant=tenant,
                name="Slack app",
                kind="slack_app",
                target=slack_ids[key],
                sealed_secrets=seal({"bot_token": BOT_TOKEN, "signing_secret": secrets[key]}),
            )
            Subscription.objects.create(
                tenant=tenant, channel=channel, events=["escalation.requested"]
            )
        ingest_alerts(world[f"{key}_source"], title=f"Ransom note at {key}")
        with rls_bypass("test fixture"):
            incident = Incident.objects.for_tenant(tenant).get()
            world[f"{key}_esc"] = escalation_request(
                incident, direction="to_customer", actor=world[f"analyst_{key}"]
            )
        delivery.drain()
        world[f"{key}_message"] = len(slack.messages) - 1
        world[f"{key}_secret"] = secrets[key]
    for key, (team, user) in (("a", ACME_USER), ("b", GLOBEX_USER)):
        ContactMethod.objects.create(
            user=world[f"{key}_responder"], label="Slack", kind="slack_app", target=f"{team}/{user}"
        )
    assert [m.json()["channel"] for m in slack.messages] == ["C0ACME001", "C0GLOBEX1"]
    return world


def accept_payload(slack, world, key="a", as_user=ACME_USER, **overrides):
    button = slack.buttons(world[f"{key}_message"])["accept"]
    team, user = as_user
    payload = slack.payload(
        "accept", button["value"], user=user, team=team, index=world[f"{key}_message"]
    )
    payload.update(overrides)
    return payload


def state(world, key="a"):
    with rls_bypass("test"):
        esc = Escalation.objects.for_tenant(world[key]).get(pk=world[f"{key}_esc"].pk)
        row = Delivery.objects.for_tenant(world[key]).get(event_type="escalation.requested")
    return esc, row


def test_accept_from_slack_accepts_the_hand_off_once_and_updates_the_message(
    live_server, slack, world
):
    response = click(live_server.url, accept_payload(slack, world))
    assert response.status_code == 200, response.text
    esc, row = state(world)
    assert esc.status == Escalation.Status.ACCEPTED
    assert row.acted == "accept" and row.acted_by == world["a_responder"]
    with rls_bypass("test"):
        (audited,) = AuditEvent.objects.for_tenant(world["a"]).filter(action="delivery.accept")
    assert audited.data["via"] == "slack" and audited.data["channel"] == "slack_app"
    assert audited.actor == world["a_responder"]
    (reply,) = slack.replies
    updated = reply.json()
    assert updated["replace_original"] is True
    assert "Accepted" in json.dumps(updated["blocks"]) and "from Slack" in json.dumps(updated)
    assert all(block.get("block_id") != "answers" for block in updated["blocks"])
    # the second click (a new request, so a new signature): already answered, nothing more
    time.sleep(1)
    again = click(live_server.url, accept_payload(slack, world))
    assert again.status_code == 200
    assert slack.replies[-1].json()["response_type"] == "ephemeral"
    assert "Already answered: accepted by" in slack.replies[-1].json()["text"]
    # Globex's hand-off is untouched
    assert state(world, "b")[0].status == Escalation.Status.PENDING


def test_an_unlinked_slack_user_is_told_and_nothing_happens(live_server, slack, world):
    response = click(
        live_server.url, accept_payload(slack, world, as_user=("T0ACME001", "U0NOBODY"))
    )
    assert response.status_code == 200
    said = slack.replies[-1].json()
    assert said["response_type"] == "ephemeral" and "not linked" in said["text"]
    assert "T0ACME001/U0NOBODY" in said["text"]
    esc, row = state(world)
    assert esc.status == Escalation.Status.PENDING and row.acted == ""


def test_a_globex_slack_user_clicking_an_acme_button_gets_nowhere(live_server, slack, world):
    # signed by Acme's app (Slack would: the message is in Acme's workspace), clicked by a user
    # who is Globex's responder
    response = click(live_server.url, accept_payload(slack, world, as_user=GLOBEX_USER))
    assert response.status_code == 200
    said = slack.replies[-1].json()
    assert said["response_type"] == "ephemeral"
    assert "does not work for this customer" in said["text"]
    assert "Ransom note at a" not in said["text"]
    assert state(world)[0].status == Escalation.Status.PENDING
    assert state(world)[1].acted == ""


def test_a_signature_with_acmes_secret_on_a_globex_delivery_is_refused(live_server, slack, world):
    payload = accept_payload(slack, world, key="b", as_user=GLOBEX_USER)
    response = click(live_server.url, payload, SIGNING_SECRET)  # Acme's secret
    assert response.status_code == 401 and "signature" in response.text
    assert not slack.replies
    assert state(world, "b")[0].status == Escalation.Status.PENDING


def test_an_acme_token_signed_with_globexs_channel_secret_is_refused(live_server, slack, world):
    payload = accept_payload(slack, world, key="a", as_user=ACME_USER)
    assert click(live_server.url, payload, GLOBEX_SECRET).status_code == 401
    # and an Acme token placed in a message that Globex's app signs: still Acme's channel
    globex_payload = accept_payload(slack, world, key="b", as_user=GLOBEX_USER)
    globex_payload["actions"][0]["value"] = slack.buttons(world["a_message"])["accept"]["value"]
    assert click(live_server.url, globex_payload, GLOBEX_SECRET).status_code == 401
    assert state(world)[0].status == Escalation.Status.PENDING


def test_a_user_the_policy_refuses_is_told_why_and_the_button_stays_usable(
    live_server, slack, world
):
    ContactMethod.objects.create(
        user=world["a_viewer"], label="Slack", kind="slack_app", target="T0ACME001/U0VIEWER1"
    )
    response = click(
        live_server.url, accept_payload(slack, world, as_user=("T0ACME001", "U0VIEWER1"))
    )
    assert response.status_code == 200
    said = slack.replies[-1].json()
    assert said["response_type"] == "ephemeral" and said["text"].startswith("The portal said no")
    assert state(world)[1].acted == ""
    time.sleep(1)  # a new timestamp: a new request
    assert click(live_server.url, accept_payload(slack, world)).status_code == 200
    assert state(world)[0].status == Escalation.Status.ACCEPTED


def test_an_expired_button_and_a_decline_click(live_server, slack, world, settings):
    decline = slack.buttons(world["a_message"])["decline"]
    payload = slack.payload("decline", decline["value"], user=ACME_USER[1], team=ACME_USER[0])
    payload["message"] = accept_payload(slack, world)["message"]
    # decline is a link button: Slack tells the app of the click, the browser opens the page
    assert click(live_server.url, payload).status_code == 200
    assert not slack.replies and state(world)[0].status == Escalation.Status.PENDING
    settings.NOTIFICATION_LINK_MAX_AGE = -1  # every token is older than that
    assert click(live_server.url, accept_payload(slack, world)).status_code == 200
    said = slack.replies[-1].json()
    assert said["response_type"] == "ephemeral" and "expired" in said["text"]
    assert state(world)[0].status == Escalation.Status.PENDING


def test_bad_requests_are_4xx_with_a_reason_and_change_nothing(live_server, slack, world):
    url = live_server.url
    payload = accept_payload(slack, world)
    body = form_body(payload)
    old = int(time.time()) - 301
    cases = [
        # (status, what the answer says, response)
        (401, "too old", click(url, payload, timestamp=old)),
        (401, "too old", click(url, payload, timestamp=int(time.time()) + 400)),
        (401, "signature", click(url, payload, "f" * 32)),
        (
            401,
            "Not signed",
            click(url, payload, headers={"X-Slack-Signature": ""}),
        ),
        (401, "Unix time", click(url, payload, headers={"X-Slack-Request-Timestamp": "soon"})),
        (400, "payload", click(url, payload, body=b"not a form at all")),
        (400, "payload", click(url, payload, body=b"payload=%7Bnot-json")),
        (400, "payload", click(url, payload, body=b"payload=" + b"%5B" * 20000)),
        (400, "payload", click(url, payload, body=b"payload=%FF%FE")),
        (413, "too large", click(url, payload, body=b"payload=" + b"x" * (64 * 1024))),
        (400, "block_actions", click(url, {**payload, "type": "view_submission"})),
        (400, "one action", click(url, {**payload, "actions": []})),
        (400, "no answer", click(url, {**payload, "actions": [{"action_id": "accept"}]})),
        (
            400,
            "not one the portal made",
            click(url, {**payload, "actions": [{"action_id": "accept", "value": "forged"}]}),
        ),
        (400, "not Slack's", click(url, {**payload, "response_url": "http://evil.example/x"})),
        (400, "no user", click(url, {**payload, "user": None, "team": None})),
        (
            404,
            "No Slack app message",
            click(
                url,
                {
                    **payload,
                    "actions": [{"action_id": "accept", "value": links.token("0" * 32, "accept")}],
                },
            ),
        ),
    ]
    for status, said, response in cases:
        assert (response.status_code, said in response.text) == (status, True), response.text
    # the exact same request twice: the second is a replay
    headers = signed_headers(body, SIGNING_SECRET)
    first = httpx.post(f"{url}/integrations/slack/interactions/", content=body, headers=headers)
    replayed = httpx.post(f"{url}/integrations/slack/interactions/", content=body, headers=headers)
    assert first.status_code == 200
    assert replayed.status_code == 409 and "already" in replayed.text
    # a GET is not a click
    assert httpx.get(f"{url}/integrations/slack/interactions/").status_code == 405
    assert len(slack.replies) == 1  # only the one real click was answered
    assert state(world)[0].status == Escalation.Status.ACCEPTED


def test_a_disabled_account_linked_to_the_slack_user_acts_for_no_one(live_server, slack, world):
    world["a_responder"].is_active = False
    world["a_responder"].save(update_fields=["is_active"])
    assert click(live_server.url, accept_payload(slack, world)).status_code == 200
    assert "disabled" in slack.replies[-1].json()["text"]
    assert state(world)[0].status == Escalation.Status.PENDING


def test_a_tiers_slack_app_channel_is_answered_by_an_analyst_who_works_the_tenant(
    live_server, slack, two_tenants
):
    """An MSSP team's channel (TeamChannel): verified with its own signing secret; acted on by
    staff only for the tenants they work."""
    tier = Team.objects.create(name="SOC L1", kind="mssp_tier")
    channel = TeamChannel.objects.create(
        team=tier,
        name="L1 Slack",
        kind="slack_app",
        target="C0SOC0001",
        sealed_secrets=seal({"bot_token": BOT_TOKEN, "signing_secret": GLOBEX_SECRET}),
        events=["incident.opened"],
    )
    with rls_bypass("test fixture"):
        channel.hear_of([two_tenants["a"], two_tenants["b"]])
    for key in ("a", "b"):
        ingest_alerts(two_tenants[f"{key}_source"], title=f"Beacon at {key}")
    delivery.drain()
    assert len(slack.messages) == 2
    ContactMethod.objects.create(
        user=two_tenants["analyst_a"], label="Slack", kind="slack_app", target="T0MSSP001/U0ANA0001"
    )
    by_tenant = {("Tenant A" in m.body.decode()): index for index, m in enumerate(slack.messages)}

    def acknowledge(index, secret=GLOBEX_SECRET):
        value = slack.buttons(index)["acknowledge"]["value"]
        payload = slack.payload(
            "acknowledge", value, user="U0ANA0001", team="T0MSSP001", index=index
        )
        return click(live_server.url, payload, secret)

    # Tenant B's incident: the analyst does not work B
    assert acknowledge(by_tenant[False]).status_code == 200
    assert "does not work for this customer" in slack.replies[-1].json()["text"]
    # another secret than the team channel's: refused
    assert acknowledge(by_tenant[True], SIGNING_SECRET).status_code == 401
    assert acknowledge(by_tenant[True]).status_code == 200
    assert slack.replies[-1].json()["replace_original"] is True
    with rls_bypass("test"):
        statuses = {
            i.tenant_id: i.status for i in Incident.objects.dangerously_unscoped("test").all()
        }
    assert statuses == {two_tenants["a"].pk: "acknowledged", two_tenants["b"].pk: "new"}


# --- setting it up: the channel and the person's Slack user ---------------------------------------
def test_an_admin_adds_a_slack_app_channel_whose_secrets_never_come_back(client, two_tenants):
    client.force_login(two_tenants["a_admin"])
    page = reverse("settings-notifications")
    form = client.get(page).content.decode()
    assert 'name="bot_token"' in form and 'name="signing_secret"' in form
    bad = client.post(
        page,
        {"name": "Slack app", "kind": "slack_app", "target": "#soc", "bot_token": BOT_TOKEN},
    )
    assert bad.status_code == 400
    text = bad.content.decode()
    assert "C0123ABCD" in text and BOT_TOKEN not in text
    missing = client.post(
        page,
        {"name": "Slack app", "kind": "slack_app", "target": "C0SOC0001", "bot_token": BOT_TOKEN},
    )
    assert missing.status_code == 400 and BOT_TOKEN not in missing.content.decode()
    made = client.post(
        page,
        {
            "name": "Slack app",
            "kind": "slack_app",
            "target": "C0SOC0001",
            "bot_token": BOT_TOKEN,
            "signing_secret": SIGNING_SECRET,
        },
    )
    assert made.status_code == 302
    with rls_bypass("test"):
        channel = Channel.objects.for_tenant(two_tenants["a"]).get(kind="slack_app")
    from tenants.sealed import unseal

    assert unseal(channel.sealed_secrets) == {
        "bot_token": BOT_TOKEN,
        "signing_secret": SIGNING_SECRET,
    }
    assert channel.target == "C0SOC0001"
    edit = reverse("settings-channel-edit", args=[channel.pk])
    for url in (page, edit):
        text = client.get(url).content.decode()
        assert BOT_TOKEN not in text and SIGNING_SECRET not in text
    # replacing the signing secret alone keeps the bot token
    new_secret = "ab" * 16
    assert client.post(edit, {"signing_secret": new_secret}).status_code == 302
    with rls_bypass("test"):
        channel.refresh_from_db()
    assert unseal(channel.sealed_secrets) == {"bot_token": BOT_TOKEN, "signing_secret": new_secret}


def test_the_api_takes_a_slack_app_channels_secrets_and_never_answers_them(api, two_tenants):
    admin = api(two_tenants["a_admin"])
    base = "/api/v1/tenants/tenant-a/channels/"
    body = {
        "name": "Slack app",
        "kind": "slack_app",
        "target": "C0SOC0001",
        "bot_token": BOT_TOKEN,
        "signing_secret": SIGNING_SECRET,
    }
    made = admin.post(base, body, format="json")
    assert made.status_code == 201, made.content
    text = made.content.decode() + admin.get(base).content.decode()
    assert BOT_TOKEN not in text and SIGNING_SECRET not in text
    assert made.json()["signing_secret"] == "" and made.json()["hint"]
    bad = admin.post(base, {**body, "bot_token": "not-a-token", "target": "general"}, format="json")
    assert bad.status_code == 400 and "bot_token" in bad.json()["fields"]
    wrong_target = admin.post(base, {**body, "target": "general"}, format="json")
    assert wrong_target.status_code == 400 and "target" in wrong_target.json()["fields"]
    # another tenant's admin cannot touch it
    other = api(two_tenants["b_admin"])
    assert other.get(f"{base}{made.json()['id']}/").status_code in (403, 404)


def test_a_person_links_their_slack_user_once_and_it_is_never_paged(client, two_tenants):
    page = reverse("my-notifications")
    client.force_login(two_tenants["a_responder"])
    bad = client.post(page, {"label": "Slack", "kind": "slack_app", "target": "U0456EFGH"})
    assert bad.status_code == 400 and "T0123ABCD/U0456EFGH" in bad.content.decode()
    with_secret = client.post(
        page,
        {"label": "Slack", "kind": "slack_app", "target": "T0ACME001/U0ARESP01", "url": "x"},
    )
    assert with_secret.status_code == 400
    ok = client.post(page, {"label": "Slack", "kind": "slack_app", "target": "T0ACME001/U0ARESP01"})
    assert ok.status_code == 302
    method = ContactMethod.objects.get(user=two_tenants["a_responder"], kind="slack_app")
    rule = client.post(
        reverse("my-rule-add"), {"contact_method": str(method.pk), "delay_minutes": "0"}
    )
    assert rule.status_code == 400 and "not paged" in rule.content.decode()
    # another account cannot claim the same Slack user (its clicks would become theirs)
    client.force_login(two_tenants["b_responder"])
    taken = client.post(
        page, {"label": "Slack", "kind": "slack_app", "target": "T0ACME001/U0ARESP01"}
    )
    assert taken.status_code == 400 and "another portal account" in taken.content.decode()
    assert ContactMethod.objects.filter(kind="slack_app").count() == 1


def test_the_callback_url_is_public_and_named(client):
    assert reverse("slack-interactions") == "/integrations/slack/interactions/"
    # no session, no CSRF token: an unsigned POST is a 401, not a redirect to the login page
    response = client.post(
        "/integrations/slack/interactions/",
        "payload=" + quote("{}"),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 401
