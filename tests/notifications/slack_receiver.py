"""A local Slack, over real HTTP on 127.0.0.1, for the Slack app channel kind:

- the Web API's chat.postMessage (POST /api/chat.postMessage) as Slack answers it: the bot
  token checked (Authorization: Bearer), HTTP 200 with {"ok": true, "ts": ...} or
  {"ok": false, "error": ...} (invalid_auth, channel_not_found, a forced error), and 429 with
  Retry-After when told to rate limit;
- the response_url an interaction names (POST /actions/...): what the portal replies there is
  recorded;
- Slack's side of a click: `click()` builds the block_actions payload Slack documents
  (https://api.slack.com/reference/interaction-payloads/block-actions), form-encoded as
  `payload=<JSON>`, signs it with an app's signing secret (v0, HMAC-SHA256 over
  "v0:{timestamp}:{body}") and POSTs it to the portal's interaction URL."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import httpx

BOT_TOKEN = "xoxb-1111-2222-slack-bot-token-secret"
SIGNING_SECRET = "8f742231b10e8888abcd99d0e0f085a5"  # hex, as Slack shows it


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class SlackApi:
    """The local Slack: start() it, point SLACK_API_URL at `.api_url` and SLACK_RESPONSE_URL_HOSTS
    at 127.0.0.1."""

    tokens: set[str] = field(default_factory=lambda: {BOT_TOKEN})
    channels: set[str] = field(default_factory=lambda: {"C0SOC0001"})
    messages: list[Posted] = field(default_factory=list)  # chat.postMessage calls
    replies: list[Posted] = field(default_factory=list)  # posts to a response_url
    error: str = ""  # answer {"ok": false, "error": <this>} to every chat.postMessage
    rate_limited: str = ""  # answer 429 with this Retry-After
    base: str = ""

    def start(self) -> SlackApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {name.lower(): value for name, value in self.headers.items()}
                posted = Posted(self.path, headers, body)
                if self.path.startswith("/actions/"):
                    api.replies.append(posted)
                    self._answer(200, b"ok", "text/plain")
                elif self.path == "/api/chat.postMessage":
                    api.messages.append(posted)
                    self._post_message(posted)
                else:
                    self._answer(404, b"not found", "text/plain")

            def _post_message(self, posted: Posted) -> None:
                if api.rate_limited:
                    self.send_response(429)
                    self.send_header("Retry-After", api.rate_limited)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                auth = posted.headers.get("authorization", "")
                if not auth.startswith("Bearer ") or auth[7:] not in api.tokens:
                    return self._ok(False, error="invalid_auth")
                try:
                    message = posted.json()
                except ValueError:
                    return self._ok(False, error="invalid_json")
                if api.error:
                    return self._ok(False, error=api.error)
                if message.get("channel") not in api.channels:
                    return self._ok(False, error="channel_not_found")
                self._ok(True, channel=message["channel"], ts=f"{time.time():.6f}")

            def _ok(self, ok: bool, **fields: str) -> None:
                self._answer(200, json.dumps({"ok": ok, **fields}).encode(), "application/json")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def api_url(self) -> str:
        return f"{self.base}/api"

    # --- Slack's side of a click ---------------------------------------------------------------
    def buttons(self, index: int = -1) -> dict[str, dict[str, Any]]:
        """{action_id: button} of a posted message (the last by default)."""
        blocks = self.messages[index].json()["blocks"]
        (actions,) = [block for block in blocks if block["type"] == "actions"]
        return {button["action_id"]: button for button in actions["elements"]}

    def payload(
        self,
        action_id: str,
        value: str,
        *,
        user: str = "U0RESP001",
        team: str = "T0GLOBEX1",
        index: int = -1,
    ) -> dict[str, Any]:
        """A block_actions payload as Slack sends it for a click on a posted message."""
        posted = self.messages[index].json() if self.messages else {"blocks": [], "text": ""}
        return {
            "type": "block_actions",
            "team": {"id": team, "domain": "workspace"},
            "user": {"id": user, "username": "responder", "name": "responder", "team_id": team},
            "api_app_id": "A0PORTAL1",
            "token": "legacy-verification-token",
            "container": {"type": "message", "message_ts": "1700000000.000100"},
            "trigger_id": "1111.2222.abcd",
            "channel": {"id": posted.get("channel", "C0SOC0001"), "name": "soc"},
            "message": {
                "type": "message",
                "text": posted.get("text", ""),
                "blocks": posted["blocks"],
            },
            "response_url": f"{self.base}/actions/{team}/1234/response-url-secret",
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "answers",
                    "value": value,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }


def form_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request-signing headers for `body`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }


def click(
    portal: str,
    payload: dict[str, Any],
    secret: str = SIGNING_SECRET,
    *,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> httpx.Response:
    """POST a signed interaction to the portal's callback, as Slack does."""
    body = form_body(payload) if body is None else body
    sent = {**signed_headers(body, secret, timestamp), **(headers or {})}
    return httpx.post(
        f"{portal}/integrations/slack/interactions/", content=body, headers=sent, timeout=30
    )
