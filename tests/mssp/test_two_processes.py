"""Across processes: with channels-redis, an alert posted to one daphne reaches a socket held
by another daphne, only on the right tenant's sockets; a client that reconnects to the other
process resumes from its last event id."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect

from alerts.models import IntakeSource
from tenants.rls import rls_bypass
from tests.factories import issue_token
from tests.live import running_daphne

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


async def _ready(socket, token):
    await socket.send(json.dumps({"type": "auth", "token": token}))
    assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {"type": "ready"}


async def _next_of_type(socket, wanted: str, timeout: float = 10) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), timeout))
        if message.get("type") == wanted:
            return message


def test_alert_through_one_process_reaches_sockets_on_another(tmp_path, two_tenants):
    keys = {}
    with rls_bypass("test fixture"):
        for name in ("a", "b"):
            source = IntakeSource(tenant=two_tenants[name], name="g", kind="generic")
            keys[name] = source.set_new_key()
            source.save()
    tokens = {name: issue_token(two_tenants[f"{name}_viewer"]) for name in ("a", "b")}
    analyst = issue_token(two_tenants["analyst_a"])

    with running_daphne(tmp_path) as intake_url, running_daphne(tmp_path) as stream_url:
        ws = stream_url.replace("http", "ws") + "/ws/stream/"

        async def scenario():
            async with (
                connect(ws, origin=stream_url) as a_socket,
                connect(ws, origin=stream_url) as b_socket,
                connect(ws, origin=stream_url) as analyst_socket,
            ):
                await _ready(a_socket, tokens["a"])
                await _ready(b_socket, tokens["b"])
                await _ready(analyst_socket, analyst)
                async with httpx.AsyncClient() as http:
                    response = await http.post(
                        f"{intake_url}/api/v1/intake/generic/",
                        json={"title": "Ransomware note found", "severity": "critical"},
                        headers={"Authorization": f"Bearer {keys['a']}"},
                    )
                assert response.status_code == 202
                alert_id = response.json()["alerts"][0]
                seen = await _next_of_type(a_socket, "alert.created")
                assert seen["id"] == alert_id and seen["tenant"] == "tenant-a"
                assert (await _next_of_type(analyst_socket, "alert.created"))["id"] == alert_id
                # B's socket, on the same process, gets nothing of A's: prove it by order,
                # with an event of B's own that must arrive first and alone.
                async with httpx.AsyncClient() as http:
                    await http.post(
                        f"{intake_url}/api/v1/intake/generic/",
                        json={"title": "B's own", "severity": "low"},
                        headers={"Authorization": f"Bearer {keys['b']}"},
                    )
                first_for_b = json.loads(await asyncio.wait_for(b_socket.recv(), 10))
                assert first_for_b["tenant"] == "tenant-b"
                return seen["event_id"]

        last_seen = asyncio.run(scenario())

        # A reconnecting client resumes on the *other* process: the log is shared.
        async def resume():
            async with httpx.AsyncClient() as http:
                away = await http.post(
                    f"{intake_url}/api/v1/intake/generic/",
                    json={"title": "Missed while away", "severity": "high"},
                    headers={"Authorization": f"Bearer {keys['a']}"},
                )
            missed_alert = away.json()["alerts"][0]
            ws_other = intake_url.replace("http", "ws") + "/ws/stream/"
            async with connect(ws_other, origin=intake_url) as socket:
                await _ready(socket, tokens["a"])
                await socket.send(json.dumps({"type": "resume", "after": last_seen}))
                missed = []
                while not any(m["id"] == missed_alert for m in missed):
                    missed.append(json.loads(await asyncio.wait_for(socket.recv(), 10)))
                assert all(m["tenant"] == "tenant-a" for m in missed)
                ids = [tuple(map(int, m["event_id"].split("-"))) for m in missed]
                assert ids == sorted(ids) and ids[0] > tuple(map(int, last_seen.split("-")))
                assert "audience" not in missed[0]
                try:  # the rest of that batch (its incident.created), then quiet
                    while True:
                        extra = json.loads(await asyncio.wait_for(socket.recv(), 1))
                        assert extra["tenant"] == "tenant-a"
                except TimeoutError:
                    pass
                await socket.send(json.dumps({"type": "resume", "after": "1-0"}))
                assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {"type": "reload"}

        asyncio.run(resume())
