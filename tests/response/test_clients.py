"""The action clients against local receivers over real HTTP, with the requests their vendors
document: Microsoft Graph (disable, enable, revoke sessions), FortiGate (an address object in
the block group, and out again), the signed webhook (verified as Standard Webhooks verify);
each kind's "test connection"."""

from __future__ import annotations

import json

import pytest
from standardwebhooks import Webhook

from connectors import kinds
from connectors.http import ConnectorClient

from .conftest import WEBHOOK_SECRET, make_connector, microsoft, rows, set_mode
from .receivers import (
    FORTI_KEY,
    OKTA_TOKEN,
    S1_TOKEN,
    FortiGate,
    Graph,
    Okta,
    SentinelOne,
    WebhookReceiver,
)

pytestmark = pytest.mark.django_db


def act(api, w, connector, action, target, capture):
    set_mode(w["a"], action, "pre_approved")
    with capture(execute=True):
        answer = api(w["analyst_a"]).post(
            f"/api/v1/incidents/{w['a_incident'].pk}/actions/",
            {"connector": str(connector.pk), "action": action, "target": target},
            format="json",
        )
    assert answer.status_code == 201, answer.content
    row = rows(tenant=w["a"], pk=answer.json()["id"])[0]
    assert row.status == "succeeded", row.result_message
    return row


def test_entra_disables_enables_and_revokes_through_graph(
    world, api, django_capture_on_commit_callbacks
):
    with Graph() as graph:
        entra = microsoft(world["a"], "entra", graph, name="Entra")
        user = "jdoe@contoso.com"
        act(api, world, entra, "disable_user", user, django_capture_on_commit_callbacks)
        assert graph.users[user] is False
        act(api, world, entra, "revoke_sessions", user, django_capture_on_commit_callbacks)
        assert graph.revoked == [user]
        act(api, world, entra, "enable_user", user, django_capture_on_commit_callbacks)
        assert graph.users[user] is True
        patch = next(s for s in graph.seen if s.method == "PATCH")
        assert patch.path == f"/v1.0/users/{user}" and patch.json() == {"accountEnabled": False}
        assert (
            kinds.spec("entra").test(ConnectorClient(entra, purpose="test")).startswith("Signed in")
        )
    disabled = rows(tenant=world["a"], action="disable_user")[0]
    assert disabled.lifted_at is not None  # enabled again: no longer in force


def test_fortigate_blocks_and_unblocks_an_address_and_a_domain(
    world, api, django_capture_on_commit_callbacks
):
    with FortiGate() as forti:
        gate = make_connector(world["a"], "fortigate", forti.base, {"api_key": FORTI_KEY})
        act(api, world, gate, "block_address", "203.0.113.9", django_capture_on_commit_callbacks)
        act(api, world, gate, "block_domain", "evil.example", django_capture_on_commit_callbacks)
        assert forti.addresses["mssp-block-203.0.113.9"]["subnet"] == "203.0.113.9 255.255.255.255"
        assert forti.addresses["mssp-block-evil.example"]["type"] == "fqdn"
        assert forti.groups["MSSP-Block"] == ["mssp-block-203.0.113.9", "mssp-block-evil.example"]
        act(api, world, gate, "unblock_address", "203.0.113.9", django_capture_on_commit_callbacks)
        assert forti.groups["MSSP-Block"] == ["mssp-block-evil.example"]
        assert "mssp-block-203.0.113.9" not in forti.addresses
        assert "FortiOS v7.4.3" in kinds.spec("fortigate").test(ConnectorClient(gate))
    in_force = {r.action for r in rows(tenant=world["a"]) if r.in_force}
    assert in_force == {"block_domain"}


def test_the_webhook_action_is_signed_as_standard_webhooks_sign(
    world, api, django_capture_on_commit_callbacks
):
    with WebhookReceiver() as receiver:
        hook = make_connector(
            world["a"], "webhook", f"{receiver.base}/soar/act", {"signing_secret": WEBHOOK_SECRET}
        )
        row = act(
            api,
            world,
            hook,
            "webhook",
            "restart the mail relay",
            django_capture_on_commit_callbacks,
        )
        assert "answered 202" in kinds.spec("webhook").test(ConnectorClient(hook))
        seen = receiver.seen[0]
        Webhook(WEBHOOK_SECRET).verify(receiver.seen[1].body, receiver.seen[1].headers)
    assert seen.path == "/soar/act"
    payload = Webhook(WEBHOOK_SECRET).verify(seen.body, seen.headers)
    assert payload["data"]["action_id"] == str(row.pk)
    assert json.loads(seen.body)["data"]["target"] == "restart the mail relay"
    assert "queued in the SOAR" in row.result_message


def test_okta_suspends_unsuspends_and_clears_sessions(
    world, api, django_capture_on_commit_callbacks
):
    with Okta() as okta:
        connector = make_connector(world["a"], "okta", okta.base, {"api_token": OKTA_TOKEN})
        user = "jdoe@contoso.com"
        act(api, world, connector, "disable_user", user, django_capture_on_commit_callbacks)
        assert okta.users["00u1abcd"]["status"] == "SUSPENDED"
        act(api, world, connector, "revoke_sessions", user, django_capture_on_commit_callbacks)
        act(api, world, connector, "enable_user", user, django_capture_on_commit_callbacks)
        assert okta.users["00u1abcd"]["status"] == "ACTIVE" and okta.cleared == ["00u1abcd"]
        assert "accepted" in kinds.spec("okta").test(ConnectorClient(connector))


def test_sentinelone_disconnects_and_reconnects_and_names_an_unknown_agent(
    world, api, django_capture_on_commit_callbacks
):
    with SentinelOne() as s1:
        connector = make_connector(world["a"], "sentinelone", s1.base, {"api_token": S1_TOKEN})
        act(api, world, connector, "isolate_host", "ws-042", django_capture_on_commit_callbacks)
        assert s1.agents["ws-042"] is False
        act(api, world, connector, "release_host", "ws-042", django_capture_on_commit_callbacks)
        assert s1.agents["ws-042"] is True
        set_mode(world["a"], "isolate_host", "pre_approved")
        with django_capture_on_commit_callbacks(execute=True):
            api(world["analyst_a"]).post(
                f"/api/v1/incidents/{world['a_incident'].pk}/actions/",
                {"connector": str(connector.pk), "action": "isolate_host", "target": "ws-999"},
                format="json",
            )
    failed = rows(tenant=world["a"], target="ws-999")[0]
    assert failed.status == "failed" and "no agent named ws-999" in failed.result_message
