"""Real workflow events reach exactly the sockets entitled to them: an internal comment is
never announced to the customer, alerts never to an in-house team, escalations reach the
in-house team, and nothing of tenant A reaches tenant B."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from alerts.models import Incident
from alerts.services import incident_comment
from sla.escalation import escalation_request
from tenants.models import Team
from tenants.rls import rls_bypass, tenant_scope
from tests.factories import ingest_alerts, issue_token
from tests.tenants.test_stream import QUIET, WAIT, token_socket

pytestmark = [pytest.mark.services("redis"), pytest.mark.django_db(transaction=True)]


async def drain(socket) -> list[dict]:
    got = []
    while not await socket.receive_nothing(timeout=QUIET):
        got.append(await socket.receive_json_from(timeout=WAIT))
    return got


def test_each_audience_gets_only_its_events(two_tenants):
    w = two_tenants
    with rls_bypass("test fixture"):
        Team.objects.create(tenant=w["a"], name="A in-house", kind="in_house")
    tokens = {
        name: issue_token(w[name]) for name in ("a_viewer", "a_responder", "analyst_a", "b_viewer")
    }

    def incident_of_a():
        with rls_bypass("test"):
            return Incident.objects.for_tenant(w["a"]).get()

    def internal_comment():
        with tenant_scope([w["a"].pk]):
            incident_comment(
                incident_of_a(), author=w["analyst_a"], body="pentest?", visibility="internal"
            )

    def hand_off():
        with tenant_scope([w["a"].pk]):
            escalation_request(incident_of_a(), direction="to_customer", actor=w["analyst_a"])

    async def scenario():
        sockets = {name: await token_socket(token) for name, token in tokens.items()}
        try:
            await database_sync_to_async(ingest_alerts)(w["a_source"], 1)
            got = {name: await drain(s) for name, s in sockets.items()}
            assert {e["type"] for e in got["analyst_a"]} == {"alert.created", "incident.created"}
            assert {e["type"] for e in got["a_viewer"]} == {"alert.created", "incident.created"}
            assert {e["type"] for e in got["a_responder"]} == {"incident.created"}
            assert got["b_viewer"] == []

            await database_sync_to_async(internal_comment)()
            got = {name: await drain(s) for name, s in sockets.items()}
            assert [e["data"]["change"] for e in got["analyst_a"]] == ["comment"]
            assert got["a_viewer"] == got["a_responder"] == got["b_viewer"] == []

            await database_sync_to_async(hand_off)()
            got = {name: await drain(s) for name, s in sockets.items()}
            for name in ("analyst_a", "a_viewer", "a_responder"):
                assert [e["type"] for e in got[name]] == ["escalation.requested"], name
            assert got["b_viewer"] == []
            assert all("audience" not in e for events in got.values() for e in events)
        finally:
            for socket in sockets.values():
                await socket.disconnect()

    async_to_sync(scenario)()
