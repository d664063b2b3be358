"""Microsoft Entra ID through Microsoft Graph: disable and enable a user, revoke their
sessions.

Documented API (learn.microsoft.com/graph/api/): an app registration with the application
permission User.EnableDisableAccount.All (and User.RevokeSessions.All), a token by client
credentials from {authority}/{tenant_id}/oauth2/v2.0/token with scope
https://graph.microsoft.com/.default, then

    PATCH /v1.0/users/{id | userPrincipalName}  {"accountEnabled": false|true}   → 204
    POST  /v1.0/users/{id | userPrincipalName}/revokeSignInSessions            → 200 {"value": true}
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from connectors.http import ConnectorAnswerError, ConnectorClient

from .base import Outcome

if TYPE_CHECKING:
    from ..models import ResponseAction

KIND = "entra"
AUTHORITY = "https://login.microsoftonline.com"
SCOPE = "https://graph.microsoft.com/.default"


def _headers(client: ConnectorClient) -> dict[str, str]:
    authority = (client.option("authority") or AUTHORITY).rstrip("/")
    tenant = client.option("tenant_id")
    if not tenant:
        raise ConnectorAnswerError("The connector has no directory (tenant) ID: give it.")
    token = client.oauth_token(
        f"{authority}/{tenant}/oauth2/v2.0/token",
        client_id=client.option("client_id"),
        client_secret=client.secret("client_secret"),
        scope=SCOPE,
    )
    return {"Authorization": f"Bearer {token}"}


def _user(target: str) -> str:
    return quote(target, safe="@")


def _enabled(client: ConnectorClient, row: ResponseAction, enabled: bool) -> Outcome:
    client.request(
        "PATCH",
        f"/v1.0/users/{_user(row.target)}",
        json={"accountEnabled": enabled},
        headers=_headers(client),
    )
    return Outcome(
        True,
        f"Entra ID {'enabled' if enabled else 'disabled'} the account {row.target}.",
        {"accountEnabled": enabled},
    )


def disable(client: ConnectorClient, row: ResponseAction) -> Outcome:
    return _enabled(client, row, False)


def enable(client: ConnectorClient, row: ResponseAction) -> Outcome:
    return _enabled(client, row, True)


def revoke(client: ConnectorClient, row: ResponseAction) -> Outcome:
    answer = client.request(
        "POST",
        f"/v1.0/users/{_user(row.target)}/revokeSignInSessions",
        headers=_headers(client),
    )
    body = answer.json()
    if not isinstance(body, dict) or body.get("value") is not True:
        raise ConnectorAnswerError("Entra ID did not confirm the sessions were revoked.")
    return Outcome(True, f"Entra ID revoked the sign-in sessions of {row.target}.")


def test(client: ConnectorClient) -> str:
    answer = client.request(
        "GET", "/v1.0/users", params={"$top": "1", "$select": "id"}, headers=_headers(client)
    )
    body = answer.json()
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise ConnectorAnswerError("Graph answered the user list with something else.")
    return "Signed in; Graph answers the user list."


ACTIONS = {"disable_user": disable, "enable_user": enable, "revoke_sessions": revoke}
