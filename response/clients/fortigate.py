"""FortiGate (FortiOS REST API): block and unblock an address or a domain by adding an address
object to, and removing it from, the address group the customer's deny policy names.

Documented API (docs.fortinet.com, "Using APIs"): a REST API administrator's key sent as
`Authorization: Bearer <key>`, the VDOM as `?vdom=`, and

    GET    /api/v2/cmdb/firewall/address/{name}        the object (404: none)
    POST   /api/v2/cmdb/firewall/address               {"name", "subnet": "ip mask"} or
                                                       {"name", "type": "fqdn", "fqdn"}
    GET    /api/v2/cmdb/firewall/addrgrp/{group}       {"results": [{"member": [{"name"}]}]}
    PUT    /api/v2/cmdb/firewall/addrgrp/{group}       {"member": [{"name"}, ...]}
    DELETE /api/v2/cmdb/firewall/address/{name}
    GET    /api/v2/monitor/system/status               the test

The deny policy itself is the customer's (its order among their policies is theirs to
decide); the connector's `address_group` option names its group (default MSSP-Block)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectors.http import Answer, ConnectorAnswerError, ConnectorClient, ConnectorRefused

from .base import Outcome

if TYPE_CHECKING:
    from ..models import ResponseAction

KIND = "fortigate"
DEFAULT_GROUP = "MSSP-Block"
PREFIX = "mssp-block-"


def _call(client: ConnectorClient, method: str, path: str, **kwargs: Any) -> Answer:
    params = {"vdom": client.option("vdom") or "root"}
    headers = {"Authorization": f"Bearer {client.secret('api_key')}"}
    return client.request(method, path, params=params, headers=headers, **kwargs)


def object_name(target: str) -> str:
    return (PREFIX + target.replace("/", "_"))[:79]  # FortiOS names are at most 79 characters


def _object(row: ResponseAction) -> dict[str, Any]:
    name = object_name(row.target)
    if row.action in ("block_domain", "unblock_domain"):
        return {"name": name, "type": "fqdn", "fqdn": row.target}
    network = ipaddress.ip_network(row.target, strict=False)
    if network.version == 6:
        raise ConnectorRefused("Blocking IPv6 addresses on a FortiGate is not supported yet.")
    return {"name": name, "subnet": f"{network.network_address} {network.netmask}"}


def _group(client: ConnectorClient) -> tuple[str, list[dict[str, str]]]:
    group = client.option("address_group") or DEFAULT_GROUP
    answer = _call(client, "GET", f"/api/v2/cmdb/firewall/addrgrp/{quote(group, safe='')}")
    body = answer.json()
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        raise ConnectorAnswerError(f"The FortiGate answered no address group {group}.")
    members = results[0].get("member")
    if not isinstance(members, list):
        raise ConnectorAnswerError(f"The FortiGate answered the group {group} without members.")
    return group, [{"name": str(m.get("name"))} for m in members if isinstance(m, dict)]


def block(client: ConnectorClient, row: ResponseAction) -> Outcome:
    wanted = _object(row)
    name = wanted["name"]
    path = f"/api/v2/cmdb/firewall/address/{quote(name, safe='')}"
    if _call(client, "GET", path, accept=(404,)).status == 404:
        _call(client, "POST", "/api/v2/cmdb/firewall/address", json=wanted)
    group, members = _group(client)
    if all(m["name"] != name for m in members):
        _call(
            client,
            "PUT",
            f"/api/v2/cmdb/firewall/addrgrp/{quote(group, safe='')}",
            json={"member": [*members, {"name": name}]},
        )
    return Outcome(
        True,
        f"The FortiGate blocks {row.target} (address {name} in group {group}).",
        {"address": name, "group": group},
    )


def unblock(client: ConnectorClient, row: ResponseAction) -> Outcome:
    name = _object(row)["name"]
    group, members = _group(client)
    if any(m["name"] == name for m in members):
        _call(
            client,
            "PUT",
            f"/api/v2/cmdb/firewall/addrgrp/{quote(group, safe='')}",
            json={"member": [m for m in members if m["name"] != name]},
        )
    _call(client, "DELETE", f"/api/v2/cmdb/firewall/address/{quote(name, safe='')}", accept=(404,))
    return Outcome(
        True,
        f"The FortiGate no longer blocks {row.target} (removed from group {group}).",
        {"address": name, "group": group},
    )


def test(client: ConnectorClient) -> str:
    body = _call(client, "GET", "/api/v2/monitor/system/status").json()
    if not isinstance(body, dict) or "version" not in body:
        raise ConnectorAnswerError("The FortiGate answered its status with something else.")
    _group(client)  # the block group must exist
    return f"FortiOS {str(body.get('version'))[:20]} answers; the block group exists."


ACTIONS = {
    "block_address": block,
    "unblock_address": unblock,
    "block_domain": block,
    "unblock_domain": unblock,
}
