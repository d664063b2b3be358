"""SentinelOne: disconnect a host from the network (isolate) and reconnect it (release).

Documented API (the console's /api-doc, Agents → Actions): a service user's API token sent
as `Authorization: ApiToken <token>`, the console's address as the connector's, and

    POST /web/api/v2.1/agents/actions/disconnect  {"filter": {"computerName": ...}}
    POST /web/api/v2.1/agents/actions/connect     {"filter": {"computerName": ...}}
         → {"data": {"affected": n}}
    GET  /web/api/v2.1/agents?limit=1             the test

The connector's `site_id` option narrows the filter to one site."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.http import Answer, ConnectorAnswerError, ConnectorClient

from .base import Outcome

if TYPE_CHECKING:
    from ..models import ResponseAction

KIND = "sentinelone"
API = "/web/api/v2.1"


def _call(client: ConnectorClient, method: str, path: str, **kwargs: Any) -> Answer:
    headers = {"Authorization": f"ApiToken {client.secret('api_token')}"}
    return client.request(method, f"{API}{path}", headers=headers, **kwargs)


def _network(client: ConnectorClient, row: ResponseAction, verb: str) -> Outcome:
    wanted: dict[str, Any] = {"computerName": row.target}
    if client.option("site_id"):
        wanted["siteIds"] = [client.option("site_id")]
    body = _call(client, "POST", f"/agents/actions/{verb}", json={"filter": wanted}).json()
    data = body.get("data") if isinstance(body, dict) else None
    affected = data.get("affected") if isinstance(data, dict) else None
    if not isinstance(affected, int):
        raise ConnectorAnswerError("SentinelOne answered without the number of agents affected.")
    if affected == 0:
        raise ConnectorAnswerError(f"SentinelOne has no agent named {row.target}.")
    done = "disconnected from the network" if verb == "disconnect" else "reconnected"
    return Outcome(
        True, f"SentinelOne {done} {row.target} ({affected} agent(s)).", {"affected": affected}
    )


def isolate(client: ConnectorClient, row: ResponseAction) -> Outcome:
    return _network(client, row, "disconnect")


def release(client: ConnectorClient, row: ResponseAction) -> Outcome:
    return _network(client, row, "connect")


def test(client: ConnectorClient) -> str:
    body = _call(client, "GET", "/agents", params={"limit": "1"}).json()
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ConnectorAnswerError("SentinelOne answered the agent list with something else.")
    return "The API token is accepted; the agent list answers."


ACTIONS = {"isolate_host": isolate, "release_host": release}
