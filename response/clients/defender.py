"""Microsoft Defender for Endpoint: isolate and release a device.

Documented API (learn.microsoft.com/defender-endpoint/api/): an app registration in the
customer's Entra tenant with the application permission Machine.Isolate (and Machine.Read.All
to find a device by name), a token by OAuth 2.0 client credentials from
{authority}/{tenant_id}/oauth2/v2.0/token with scope
https://api.securitycenter.microsoft.com/.default, then

    GET  /api/machines?$filter=computerDnsName eq '{name}'     find the device
    POST /api/machines/{id}/isolate     {"Comment": ..., "IsolationType": "Full"}  → 201
    POST /api/machines/{id}/unisolate   {"Comment": ...}                           → 201

each answering a MachineAction ({"id", "type", "status", ...})."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from connectors.http import Answer, ConnectorAnswerError, ConnectorClient

from .base import Outcome

if TYPE_CHECKING:
    from ..models import ResponseAction

KIND = "defender"
AUTHORITY = "https://login.microsoftonline.com"
SCOPE = "https://api.securitycenter.microsoft.com/.default"
_MACHINE_ID = re.compile(r"\A[0-9a-f]{40}\Z")


def _token(client: ConnectorClient, refresh: bool = False) -> str:
    authority = (client.option("authority") or AUTHORITY).rstrip("/")
    tenant = client.option("tenant_id")
    if not tenant:
        raise ConnectorAnswerError("The connector has no directory (tenant) ID: give it.")
    return client.oauth_token(
        f"{authority}/{tenant}/oauth2/v2.0/token",
        client_id=client.option("client_id"),
        client_secret=client.secret("client_secret"),
        scope=SCOPE,
        refresh=refresh,
    )


def _call(client: ConnectorClient, method: str, path: str, **kwargs: Any) -> Answer:
    headers = {"Authorization": f"Bearer {_token(client)}"}
    return client.request(method, path, headers=headers, **kwargs)


def machine_id(client: ConnectorClient, target: str) -> str:
    if _MACHINE_ID.fullmatch(target):
        return target
    answer = _call(
        client,
        "GET",
        "/api/machines",
        params={"$filter": f"computerDnsName eq '{target}'", "$top": "2"},
    )
    body = answer.json()
    found = body.get("value") if isinstance(body, dict) else None
    if not isinstance(found, list):
        raise ConnectorAnswerError("Defender answered a device search without a device list.")
    if not found:
        raise ConnectorAnswerError(f"Defender knows no device named {target}.")
    if len(found) > 1:
        raise ConnectorAnswerError(f"Defender knows several devices named {target}: give its id.")
    device = found[0].get("id") if isinstance(found[0], dict) else None
    if not isinstance(device, str) or not device:
        raise ConnectorAnswerError("Defender answered a device without its id.")
    return device


def _machine_action(client: ConnectorClient, row: ResponseAction, verb: str) -> Outcome:
    device = machine_id(client, row.target)
    comment = f"MSSP portal: {row.get_action_display()} for incident {row.incident_id}"
    body: dict[str, Any] = {"Comment": comment[:300]}
    if verb == "isolate":
        body["IsolationType"] = "Full"
    answer = _call(client, "POST", f"/api/machines/{device}/{verb}", json=body)
    action = answer.json()
    if not isinstance(action, dict) or not isinstance(action.get("id"), str):
        raise ConnectorAnswerError("Defender answered without a machine action.")
    status = str(action.get("status", ""))[:40]
    return Outcome(
        True,
        f"Defender accepted the {verb} request for {row.target} (machine action "
        f"{action['id'][:60]}, {status or 'pending'}).",
        {"machine_id": device, "machine_action": action["id"][:100], "status": status},
    )


def isolate(client: ConnectorClient, row: ResponseAction) -> Outcome:
    return _machine_action(client, row, "isolate")


def release(client: ConnectorClient, row: ResponseAction) -> Outcome:
    return _machine_action(client, row, "unisolate")


def test(client: ConnectorClient) -> str:
    answer = _call(client, "GET", "/api/machines", params={"$top": "1"})
    body = answer.json()
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise ConnectorAnswerError("Defender answered the device list with something else.")
    return "Signed in; the device list answers."


ACTIONS = {"isolate_host": isolate, "release_host": release}
