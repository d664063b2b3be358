"""The live stream carries TLP (alerts.tlp): a RED item's event reaches MSSP staff only, an
AMBER one's the customer's responders and admins but never a viewer, over real sockets."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from alerts.services import incident_comment, incident_open
from cases.services import task_create
from tenants.rls import tenant_scope
from tests.factories import issue_token
from tests.tenants.test_stream import QUIET, WAIT, token_socket

pytestmark = pytest.mark.django_db(transaction=True)

READERS = ("a_viewer", "a_responder", "a_admin", "analyst_a", "b_viewer")


async def drain(socket) -> list[dict]:
    got = []
    while not await socket.receive_nothing(timeout=QUIET):
        got.append(await socket.receive_json_from(timeout=WAIT))
    return got


def test_red_and_amber_events_reach_only_who_may_read_them(two_tenants):
    w = two_tenants
    tokens = {name: issue_token(w[name]) for name in READERS}
    with tenant_scope([w["a"].pk]):
        green, amber = (
            incident_open(w["a"], actor=w["analyst_a"], origin="analyst", title=level, tlp=level)
            for level in ("green", "amber")
        )

    def comment(incident, level):
        with tenant_scope([w["a"].pk]):
            incident.tenant = w["a"]
            incident_comment(
                incident, author=w["analyst_a"], body="x", visibility="shared", tlp=level
            )

    def task(level):
        with tenant_scope([w["a"].pk]):
            green.tenant = w["a"]
            task_create(
                green,
                actor=w["analyst_a"],
                title="t",
                phase="identification",
                visibility="shared",
                classification=level,
            )

    async def scenario():
        sockets = {name: await token_socket(token) for name, token in tokens.items()}
        try:
            steps = (
                (lambda: comment(green, "red"), {"analyst_a"}),
                (lambda: task("amber"), {"analyst_a", "a_responder", "a_admin"}),
                (lambda: comment(amber, "green"), {"analyst_a", "a_responder", "a_admin"}),
                (
                    lambda: comment(green, "green"),
                    {"analyst_a", "a_responder", "a_admin", "a_viewer"},
                ),
            )
            for step, entitled in steps:
                await database_sync_to_async(step)()
                got = {name: await drain(s) for name, s in sockets.items()}
                for name in READERS:
                    assert bool(got[name]) == (name in entitled), (name, got[name])
                for events in got.values():
                    for event in events:
                        assert not {"audience", "clearance", "tlp"} & set(event), event
        finally:
            for socket in sockets.values():
                await socket.disconnect()

    async_to_sync(scenario)()
