"""Local vendor APIs over real HTTP on 127.0.0.1, for the connectors' tests (the house way:
tests/notifications/slack_receiver.py). Each speaks its vendor's documented request and answer
shapes, checks the credentials the vendor checks, and can misbehave on demand:

- `mode = "hang"`: accept the request and answer nothing (until stopped): a timeout;
- `mode = "500"`: answer 500 (`fail_times` > 0: only that many times, then answer well);
- `mode = "garbage"`: answer 200 with a body that is not JSON;
- `mode = "429"`: answer 429 with `retry_after` as Retry-After (`fail_times` as for 500).

`Receiver` is the base any vendor's receiver extends (the `response` app's receivers may too):
override `answer(seen) -> (status, body, headers)`. Every request is kept in `seen`.
An OAuth 2.0 token endpoint (client credentials, form-encoded) answers at any path ending in
`/oauth2/v2.0/token` (Microsoft identity platform) or `/oauth2/token` (CrowdStrike)."""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any, dict[str, str]]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Receiver:
    keys: set[str] = field(default_factory=set)
    mode: str = ""
    fail_times: int = 0  # with mode 500/429: misbehave this many times, then answer well
    retry_after: str = "1"
    failures: int = 0  # how many times it misbehaved
    seen: list[Seen] = field(default_factory=list)
    # OAuth client credentials: client id -> secret; tokens handed out
    clients: dict[str, str] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    base: str = ""
    tls: tuple[str, str] | None = None  # (certificate file, key file): answer over https

    def start(self) -> Receiver:
        receiver = self
        self._release = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                receiver.seen.append(seen)
                status, body, headers = receiver._respond(seen)
                if status == 0:  # hang
                    receiver._release.wait(10)
                    return
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                content_type = "application/json" if not isinstance(body, bytes) else "text/html"
                self.send_header("Content-Type", content_type)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        scheme = "http"
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        self.base = f"{scheme}://127.0.0.1:{self._server.server_port}"
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _respond(self, seen: Seen) -> Answer:
        if self.mode == "hang":
            return 0, b"", {}
        if self.mode in ("500", "429"):
            if self.fail_times == 0 or self.failures < self.fail_times:
                self.failures += 1
                if self.mode == "500":
                    return 500, {"error": "internal"}, {}
                return 429, {"error": "rate limited"}, {"Retry-After": self.retry_after}
        if self.mode == "garbage":
            return 200, b"<html>\x00\xff not json", {}
        if seen.path.endswith(("/oauth2/v2.0/token", "/oauth2/token")):
            return self.token(seen)
        return self.answer(seen)

    def token(self, seen: Seen) -> Answer:
        form = seen.form()
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}, {}
        if self.clients.get(form.get("client_id", "")) != form.get("client_secret"):
            return 401, {"error": "invalid_client"}, {}
        token = f"eyJ0eXAi.token-{len(self.tokens) + 1}-for-{form['client_id']}"
        self.tokens.add(token)
        return 200, {"token_type": "Bearer", "expires_in": 3599, "access_token": token}, {}

    def answer(self, seen: Seen) -> Answer:
        return 404, {"error": "not found"}, {}


# --- VirusTotal API v3 ---------------------------------------------------------------------------
@dataclass
class VirusTotal(Receiver):
    """https://docs.virustotal.com/reference/overview: `x-apikey`, GET /api/v3/ip_addresses/{ip},
    /domains/{domain}, /files/{hash}, /urls/{id}; known objects' last_analysis_stats."""

    known: dict[str, dict[str, int]] = field(default_factory=dict)  # value -> stats

    def answer(self, seen: Seen) -> Answer:
        if seen.headers.get("x-apikey") not in self.keys:
            error = {"code": "WrongCredentialsError", "message": "Wrong API key"}
            return 401, {"error": error}, {}
        prefix = "/api/v3/"
        if not seen.path.startswith(prefix):
            return 404, {"error": {"code": "NotFoundError", "message": "no route"}}, {}
        collection, _, ident = seen.path[len(prefix) :].partition("/")
        types = {
            "ip_addresses": "ip_address",
            "domains": "domain",
            "files": "file",
            "urls": "url",
        }
        stats = self.known.get(ident)
        if collection not in types or stats is None:
            error = {"code": "NotFoundError", "message": f'"{ident}" not found'}
            return 404, {"error": error}, {}
        full = {"harmless": 0, "malicious": 0, "suspicious": 0, "undetected": 0, "timeout": 0}
        full.update(stats)
        data = {
            "id": ident,
            "type": types[collection],
            "links": {"self": f"https://www.virustotal.com/api/v3/{collection}/{ident}"},
            "attributes": {"last_analysis_stats": full, "reputation": -stats.get("malicious", 0)},
        }
        return 200, {"data": data}, {}


# --- AbuseIPDB API v2 ----------------------------------------------------------------------------
@dataclass
class AbuseIpDb(Receiver):
    """https://docs.abuseipdb.com/#check-endpoint: `Key` header, GET /api/v2/check?ipAddress=
    &maxAgeInDays=; answers {"data": {... abuseConfidenceScore ...}}."""

    scores: dict[str, int] = field(default_factory=dict)

    def answer(self, seen: Seen) -> Answer:
        if seen.headers.get("key") not in self.keys:
            errors = [{"detail": "Authentication failed: invalid API key.", "status": 401}]
            return 401, {"errors": errors}, {}
        if seen.path != "/api/v2/check":
            return 404, {"errors": [{"detail": "Not found", "status": 404}]}, {}
        address = (seen.query.get("ipAddress") or [""])[0]
        if not address:
            errors = [{"detail": "The ip address field is required.", "status": 422}]
            return 422, {"errors": errors}, {}
        score = self.scores.get(address, 0)
        data = {
            "ipAddress": address,
            "isPublic": True,
            "ipVersion": 4,
            "isWhitelisted": False,
            "abuseConfidenceScore": score,
            "countryCode": "NL",
            "usageType": "Data Center/Web Hosting/Transit",
            "isp": "Example Hosting",
            "domain": "example.net",
            "totalReports": score // 2,
            "numDistinctUsers": score // 10,
            "lastReportedAt": "2026-12-01T10:00:00+00:00" if score else None,
        }
        return 200, {"data": data}, {}


# --- Shodan ------------------------------------------------------------------------------------
@dataclass
class Shodan(Receiver):
    """https://developer.shodan.io/api: `key` query parameter; GET /shodan/host/{ip},
    GET /api-info."""

    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def answer(self, seen: Seen) -> Answer:
        if (seen.query.get("key") or [""])[0] not in self.keys:
            return 401, {"error": "Please provide a valid API key."}, {}
        if seen.path == "/api-info":
            return 200, {"plan": "dev", "query_credits": 100, "scan_credits": 0}, {}
        if seen.path.startswith("/shodan/host/"):
            address = seen.path.rsplit("/", 1)[1]
            host = self.hosts.get(address)
            if host is None:
                return 404, {"error": "No information available for that IP."}, {}
            return 200, {"ip_str": address, **host}, {}
        return 404, {"error": "not found"}, {}


# --- GreyNoise Community API v3 ------------------------------------------------------------------
@dataclass
class GreyNoise(Receiver):
    """https://docs.greynoise.io/reference/get_v3-community-ip: `key` header; GET
    /v3/community/{ip}; GET /ping."""

    classified: dict[str, str] = field(default_factory=dict)  # ip -> classification

    def answer(self, seen: Seen) -> Answer:
        if seen.headers.get("key") not in self.keys:
            return 401, {"message": "Authentication required"}, {}
        if seen.path == "/ping":
            return 200, {"message": "pong", "offering": "community"}, {}
        if seen.path.startswith("/v3/community/"):
            address = seen.path.rsplit("/", 1)[1]
            found = self.classified.get(address)
            if found is None:
                message = "IP not observed scanning the internet or contained in RIOT data set."
                return 404, {"ip": address, "noise": False, "riot": False, "message": message}, {}
            body = {
                "ip": address,
                "noise": found != "benign",
                "riot": found == "benign",
                "classification": found,
                "name": "unknown",
                "link": f"https://viz.greynoise.io/ip/{address}",
                "last_seen": "2026-12-01",
                "message": "Success",
            }
            return 200, body, {}
        return 404, {"message": "not found"}, {}


# --- MISP ----------------------------------------------------------------------------------------
@dataclass
class Misp(Receiver):
    """https://www.misp-project.org/openapi/: `Authorization: <key>`; POST
    /attributes/restSearch {"returnFormat": "json", "value": ...}; GET /servers/getVersion."""

    attributes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def answer(self, seen: Seen) -> Answer:
        if seen.headers.get("authorization") not in self.keys:
            return 403, {"name": "Authentication failed.", "message": "Authentication failed."}, {}
        if seen.path == "/servers/getVersion":
            return 200, {"version": "2.4.190", "perm_sync": False}, {}
        if seen.path == "/attributes/restSearch" and seen.method == "POST":
            try:
                value = seen.json().get("value")
            except ValueError:
                return 400, {"message": "bad request"}, {}
            return 200, {"response": {"Attribute": self.attributes.get(value, [])}}, {}
        return 404, {"message": "not found"}, {}


# --- OpenCTI GraphQL -----------------------------------------------------------------------------
@dataclass
class OpenCti(Receiver):
    """https://docs.opencti.io: `Authorization: Bearer <token>`; POST /graphql with a query of
    stixCyberObservables (filtered by value) or about { version }."""

    observables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def answer(self, seen: Seen) -> Answer:
        if seen.headers.get("authorization", "")[7:] not in self.keys:
            return 401, {"errors": [{"message": "You must be logged in to do this."}]}, {}
        if seen.path != "/graphql":
            return 404, {"errors": [{"message": "not found"}]}, {}
        body = seen.json()
        if "about" in body.get("query", ""):
            return 200, {"data": {"about": {"version": "6.4.0"}}}, {}
        value = (body.get("variables") or {}).get("value")
        node = self.observables.get(value)
        edges = [{"node": {"observable_value": value, **node}}] if node else []
        return 200, {"data": {"stixCyberObservables": {"edges": edges}}}, {}


def self_signed(directory) -> tuple[str, str, str]:
    """A certificate of its own for 127.0.0.1 (as a Wazuh manager or FortiGate has): the
    certificate file, the key file and the certificate's PEM."""
    import datetime
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wazuh-manager")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    cert_file, key_file = Path(directory) / "cert.pem", Path(directory) / "key.pem"
    cert_file.write_text(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file), pem
