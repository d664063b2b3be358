"""Local vendor APIs over real HTTP on 127.0.0.1 for the response actions' tests (the house
way: tests/notifications/slack_receiver.py). Each speaks its vendor's documented request and
answer shapes and checks the credentials the vendor checks:

- `Defender`: the Microsoft identity platform's token endpoint
  (POST /{tenant}/oauth2/v2.0/token, client credentials, form-encoded) and Defender for
  Endpoint's GET /api/machines?$filter=computerDnsName eq '...', POST
  /api/machines/{id}/isolate and /unisolate (201, a MachineAction);
- `Graph`: the same token endpoint and PATCH /v1.0/users/{id} {"accountEnabled"} (204),
  POST /v1.0/users/{id}/revokeSignInSessions (200 {"value": true});
- `FortiGate`: Authorization: Bearer <api key>, ?vdom=, the cmdb firewall address and
  addrgrp tables (GET/POST/PUT/DELETE) and /api/v2/monitor/system/status;
- `WebhookReceiver`: takes any signed POST (the test verifies the signature).

Each misbehaves on demand: `mode = "hang"` (answers nothing: a timeout), `"500"`,
`"garbage"` (200 with a body that is not JSON)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Answer = tuple[int, Any]

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "entra-app-client-secret-value-0123456789"
DIRECTORY = "contoso-directory-id"
FORTI_KEY = "forti-rest-api-key-abcdef0123456789"
MACHINE = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    mode: str = ""
    seen: list[Seen] = field(default_factory=list)
    base: str = ""
    tokens: set[str] = field(default_factory=set)

    def start(self) -> Receiver:
        receiver = self
        self._release = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command,
                    unquote(parts.path),
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                receiver.seen.append(seen)
                if receiver.mode == "hang":
                    receiver._release.wait(10)
                    return
                if receiver.mode == "500":
                    status, body = 500, {"error": "internal"}
                elif receiver.mode == "garbage":
                    status, body = 200, b"<html>\x00\xff not json"
                elif seen.path.endswith("/oauth2/v2.0/token"):
                    status, body = receiver.token(seen)
                else:
                    status, body = receiver.answer(seen)
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                if status != 204:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw) if status != 204 else 0))
                self.end_headers()
                if status != 204:
                    self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self._server.server_port}"
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def token(self, seen: Seen) -> Answer:
        form = {k: v[0] for k, v in parse_qs(seen.body.decode()).items()}
        if not seen.path.startswith(f"/{DIRECTORY}/"):
            return 400, {"error": "invalid_tenant"}
        if form.get("grant_type") != "client_credentials" or not form.get("scope"):
            return 400, {"error": "invalid_request"}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {"error": "invalid_client"}
        token = f"eyJ0eXAi.token-{len(self.tokens) + 1}"
        self.tokens.add(token)
        return 200, {"token_type": "Bearer", "expires_in": 3599, "access_token": token}

    def bearer(self, seen: Seen) -> bool:
        auth = seen.headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.tokens

    def answer(self, seen: Seen) -> Answer:
        return 404, {"error": "not found"}


@dataclass
class Defender(Receiver):
    devices: dict[str, str] = field(default_factory=lambda: {"ws-042.contoso.local": MACHINE})
    isolated: set[str] = field(default_factory=set)

    def answer(self, seen: Seen) -> Answer:
        if not self.bearer(seen):
            return 401, {"error": {"code": "Unauthorized", "message": "no token"}}
        if seen.method == "GET" and seen.path == "/api/machines":
            wanted = (seen.query.get("$filter") or [""])[0]
            found = [
                {"id": ident, "computerDnsName": name}
                for name, ident in self.devices.items()
                if not wanted or wanted == f"computerDnsName eq '{name}'"
            ]
            return 200, {"@odata.context": "machines", "value": found}
        parts = seen.path.strip("/").split("/")
        if seen.method == "POST" and len(parts) == 4 and parts[:2] == ["api", "machines"]:
            ident, verb = parts[2], parts[3]
            if ident not in self.devices.values() or verb not in ("isolate", "unisolate"):
                return 404, {"error": {"code": "ResourceNotFound", "message": "no machine"}}
            body = seen.json()
            if not body.get("Comment"):
                return 400, {"error": {"code": "InvalidRequestBody", "message": "Comment"}}
            (self.isolated.add if verb == "isolate" else self.isolated.discard)(ident)
            action = {
                "id": f"b89eb834-4578-496c-8be0-03f004061435-{len(self.seen)}",
                "type": "Isolate" if verb == "isolate" else "Unisolate",
                "status": "Pending",
                "machineId": ident,
            }
            return 201, action
        return 404, {"error": {"code": "ResourceNotFound", "message": seen.path}}


@dataclass
class Graph(Receiver):
    users: dict[str, bool] = field(default_factory=lambda: {"jdoe@contoso.com": True})
    revoked: list[str] = field(default_factory=list)

    def answer(self, seen: Seen) -> Answer:
        if not self.bearer(seen):
            return 401, {"error": {"code": "InvalidAuthenticationToken"}}
        parts = seen.path.strip("/").split("/")
        if seen.method == "GET" and seen.path == "/v1.0/users":
            return 200, {"value": [{"id": "u-1"}]}
        if len(parts) >= 3 and parts[:2] == ["v1.0", "users"] and parts[2] in self.users:
            user = parts[2]
            if seen.method == "PATCH" and len(parts) == 3:
                self.users[user] = bool(seen.json()["accountEnabled"])
                return 204, b""
            if seen.method == "POST" and parts[3:] == ["revokeSignInSessions"]:
                self.revoked.append(user)
                return 200, {"@odata.context": "...", "value": True}
        return 404, {"error": {"code": "Request_ResourceNotFound"}}


@dataclass
class FortiGate(Receiver):
    addresses: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=lambda: {"MSSP-Block": []})

    def answer(self, seen: Seen) -> Answer:
        if seen.headers.get("authorization") != f"Bearer {FORTI_KEY}":
            return 401, {"status": "error", "http_status": 401}
        if (seen.query.get("vdom") or [""])[0] != "root":
            return 400, {"status": "error", "http_status": 400}
        path = seen.path
        if path == "/api/v2/monitor/system/status":
            return 200, {"status": "success", "version": "v7.4.3", "serial": "FGT60F"}
        prefix = "/api/v2/cmdb/firewall/"
        table, _, name = path[len(prefix) :].partition("/")
        if table == "address":
            if seen.method == "GET":
                found = self.addresses.get(name)
                return (200, {"results": [found]}) if found else (404, {"http_status": 404})
            if seen.method == "POST":
                body = seen.json()
                if body["name"] in self.addresses:
                    return 500, {"status": "error", "error": -5}
                self.addresses[body["name"]] = body
                return 200, {"status": "success", "mkey": body["name"]}
            if seen.method == "DELETE":
                if self.addresses.pop(name, None) is None:
                    return 404, {"http_status": 404}
                return 200, {"status": "success"}
        if table == "addrgrp" and name in self.groups:
            if seen.method == "GET":
                members = [{"name": m, "q_origin_key": m} for m in self.groups[name]]
                return 200, {"results": [{"name": name, "member": members}]}
            if seen.method == "PUT":
                wanted = [m["name"] for m in seen.json()["member"]]
                if any(m not in self.addresses for m in wanted):
                    return 500, {"status": "error", "error": -3}
                self.groups[name] = wanted
                return 200, {"status": "success"}
        return 404, {"http_status": 404}


@dataclass
class WebhookReceiver(Receiver):
    def answer(self, seen: Seen) -> Answer:
        return 202, {"message": "queued in the SOAR"}


OKTA_TOKEN = "00okta-api-token-0123456789abcdef"
S1_TOKEN = "s1-service-user-api-token-0123456789"


@dataclass
class Okta(Receiver):
    """Users API: `Authorization: SSWS <token>`, GET /api/v1/users/{login|id}, POST
    /api/v1/users/{id}/lifecycle/suspend|unsuspend (200 {}), DELETE /api/v1/users/{id}/sessions
    (204)."""

    users: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "00u1abcd": {"id": "00u1abcd", "status": "ACTIVE", "login": "jdoe@contoso.com"}
        }
    )
    cleared: list[str] = field(default_factory=list)

    def answer(self, seen: Seen) -> Answer:
        if seen.headers.get("authorization") != f"SSWS {OKTA_TOKEN}":
            return 401, {"errorCode": "E0000011", "errorSummary": "Invalid token provided"}
        parts = seen.path.strip("/").split("/")
        if seen.method == "GET" and parts == ["api", "v1", "users"]:
            return 200, list(self.users.values())[:1]
        if len(parts) < 4 or parts[:3] != ["api", "v1", "users"]:
            return 404, {"errorCode": "E0000022"}
        user = self.users.get(parts[3]) or next(
            (u for u in self.users.values() if u["login"] == parts[3]), None
        )
        if user is None:
            return 404, {"errorCode": "E0000007", "errorSummary": "Not found"}
        if seen.method == "GET" and len(parts) == 4:
            return 200, user
        if seen.method == "POST" and parts[4:] in (
            ["lifecycle", "suspend"],
            ["lifecycle", "unsuspend"],
        ):
            if parts[3] != user["id"]:
                return 404, {"errorCode": "E0000007"}
            user["status"] = "SUSPENDED" if parts[5] == "suspend" else "ACTIVE"
            return 200, {}
        if seen.method == "DELETE" and parts[4:] == ["sessions"]:
            self.cleared.append(user["id"])
            return 204, b""
        return 404, {"errorCode": "E0000022"}


@dataclass
class SentinelOne(Receiver):
    """`Authorization: ApiToken <token>`, POST /web/api/v2.1/agents/actions/disconnect|connect
    {"filter": {...}} → {"data": {"affected": n}}, GET /web/api/v2.1/agents."""

    agents: dict[str, bool] = field(default_factory=lambda: {"ws-042": True})  # name → online

    def answer(self, seen: Seen) -> Answer:
        if seen.headers.get("authorization") != f"ApiToken {S1_TOKEN}":
            return 401, {"errors": [{"code": 4010010, "title": "Authentication Failed"}]}
        if seen.method == "GET" and seen.path == "/web/api/v2.1/agents":
            return 200, {"data": [{"computerName": n} for n in self.agents], "pagination": {}}
        prefix = "/web/api/v2.1/agents/actions/"
        verb = seen.path[len(prefix) :] if seen.path.startswith(prefix) else ""
        if seen.method == "POST" and verb in ("connect", "disconnect"):
            name = seen.json()["filter"].get("computerName")
            if name not in self.agents:
                return 200, {"data": {"affected": 0}}
            self.agents[name] = verb == "connect"
            return 200, {"data": {"affected": 1}}
        return 404, {"errors": [{"code": 4040010, "title": "Not found"}]}
