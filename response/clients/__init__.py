"""Action clients: how each response kind does each action through its documented API, and
its "test connection". Every call goes through connectors.http.ConnectorClient (timeouts,
retries, rate limits, redaction, the ConnectorCall log); a client only says which requests
the vendor documents and what their answers mean.

A hook is `hook(client, row) -> Outcome` (row: the ResponseAction, for its target, incident
and id); it raises connectors.http.ConnectorError when the tool could not do it. The hooks are
registered on the connector kinds (connectors.kinds.register) in ResponseConfig.ready()."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from connectors import kinds
from connectors.http import ConnectorClient, ConnectorError

from . import defender, entra, fortigate, okta, sentinelone, webhook
from .base import ActionHook, Outcome

if TYPE_CHECKING:
    from connectors.models import Connector

    from ..models import ResponseAction

logger = logging.getLogger("mssp.response")


__all__ = ["ActionHook", "Outcome", "actions_of", "perform", "register_all"]


def actions_of(kind: str) -> frozenset[str]:
    """The actions a connector kind can do (none for an unknown or enrichment kind)."""
    if not kinds.is_known(kind):
        return frozenset()
    return frozenset(kinds.spec(kind).actions)


def perform(connector: Connector, row: ResponseAction) -> Outcome:
    """Do `row` through `connector`; a failure of any kind is an Outcome that says why,
    never an exception (the row is then marked failed and nothing is lost)."""
    hook = (
        kinds.spec(connector.kind).actions.get(row.action)
        if kinds.is_known(connector.kind)
        else None
    )
    if hook is None:
        return Outcome(False, f"A {connector.get_kind_display()} connector cannot do this action.")
    client = ConnectorClient(
        connector, purpose=row.action, incident=row.incident_id, actor=row.requested_by_id
    )
    try:
        outcome: Outcome = hook(client, row)
        return outcome
    except ConnectorError as exc:
        return Outcome(False, exc.message)
    except Exception:
        logger.exception("response action %s through %s failed", row.pk, connector.pk)
        return Outcome(False, f"{connector.name}: the portal could not read the tool's answer.")


def register_all() -> None:
    """Add the action hooks and connection tests to the response kinds (idempotent)."""
    for module in (defender, entra, fortigate, okta, sentinelone, webhook):
        current = kinds.spec(module.KIND)
        kinds.register(replace(current, test=module.test, actions=dict(module.ACTIONS)))
