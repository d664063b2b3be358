"""Okta: suspend and unsuspend a user (disable, enable), clear their sessions.

Documented API (developer.okta.com, Users and User lifecycle): an API token of an admin
allowed to manage users, sent as `Authorization: SSWS <token>`, the org's address as the
connector's, and

    GET    /api/v1/users/{login or id}                 the user (its id)
    POST   /api/v1/users/{id}/lifecycle/suspend        → 200
    POST   /api/v1/users/{id}/lifecycle/unsuspend      → 200
    DELETE /api/v1/users/{id}/sessions                 → 204

Suspending (not deactivating) keeps the user's assignments, so enabling restores them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectors.http import Answer, ConnectorAnswerError, ConnectorClient

from .base import Outcome

if TYPE_CHECKING:
    from ..models import ResponseAction

KIND = "okta"


def _call(client: ConnectorClient, method: str, path: str, **kwargs: Any) -> Answer:
    headers = {"Authorization": f"SSWS {client.secret('api_token')}"}
    return client.request(method, path, headers=headers, **kwargs)


def user_id(client: ConnectorClient, target: str) -> str:
    body = _call(client, "GET", f"/api/v1/users/{quote(target, safe='@')}").json()
    found = body.get("id") if isinstance(body, dict) else None
    if not isinstance(found, str) or not found:
        raise ConnectorAnswerError("Okta answered the user without an id.")
    return found


def _lifecycle(client: ConnectorClient, row: ResponseAction, verb: str) -> Outcome:
    ident = user_id(client, row.target)
    _call(client, "POST", f"/api/v1/users/{quote(ident, safe='')}/lifecycle/{verb}")
    return Outcome(True, f"Okta {verb}ed {row.target}.", {"user_id": ident[:100]})


def disable(client: ConnectorClient, row: ResponseAction) -> Outcome:
    return _lifecycle(client, row, "suspend")


def enable(client: ConnectorClient, row: ResponseAction) -> Outcome:
    return _lifecycle(client, row, "unsuspend")


def revoke(client: ConnectorClient, row: ResponseAction) -> Outcome:
    ident = user_id(client, row.target)
    _call(client, "DELETE", f"/api/v1/users/{quote(ident, safe='')}/sessions")
    return Outcome(True, f"Okta cleared the sessions of {row.target}.", {"user_id": ident[:100]})


def test(client: ConnectorClient) -> str:
    body = _call(client, "GET", "/api/v1/users", params={"limit": "1"}).json()
    if not isinstance(body, list):
        raise ConnectorAnswerError("Okta answered the user list with something else.")
    return "The API token is accepted; the user list answers."


ACTIONS = {"disable_user": disable, "enable_user": enable, "revoke_sessions": revoke}
