"""A real OpenID Connect provider for the single-sign-on tests, built with authlib's server
(authlib.oauth2 + authlib.oidc.core): discovery, JWKS, the authorization code flow with PKCE,
and ID tokens signed RS256, served over HTTP on 127.0.0.1 from a thread.

Its users sign in on a small HTML form at /authorize. A test can make the tokens it issues
wrong on purpose (`tamper`: claims to override; `sign_with_wrong_key`) to see them refused.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from joserfc import jwt
from joserfc.jwk import RSAKey

# authlib refuses plain http outside this switch; the provider is on loopback in a test.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
PASSWORD = "idp-password"  # every test user's, at the provider


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return ""

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return "/sso/oidc/" in redirect_uri  # the portal's callback, wherever it runs

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_post", "client_secret_basic")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None

    def get_code_challenge(self) -> str | None:
        return self.code_challenge

    def get_code_challenge_method(self) -> str | None:
        return self.code_challenge_method

    def is_expired(self) -> bool:
        return time.time() - self.auth_time > 300


class Request(OAuth2Request):
    def __init__(self, method: str, uri: str, args: dict[str, str], form: dict[str, str], headers):
        super().__init__(method, uri, headers=headers)
        self._args, self._form = args, form
        self.payload = BasicOAuth2Payload({**args, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class TestProvider:
    """One identity provider: its users ({name: claims}) and its one client."""

    __test__ = False

    def __init__(self, *, client_id: str = "portal", client_secret: str | None = None) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.wrong_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.client = Client(client_id, client_secret or secrets.token_urlsafe(24))
        self.users: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, Code] = {}
        self.tamper: dict[str, Any] = {}
        self.sign_with_wrong_key = False
        self.requests: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.server = self._server()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> TestProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_user(self, name: str, password: str = PASSWORD, **claims: Any) -> None:
        self.users[name] = {
            "password": password,
            "sub": claims.pop("sub", f"sub-{secrets.token_hex(6)}"),
            "preferred_username": name,
            **claims,
        }

    # --- authlib's server ---------------------------------------------------------------------
    def _server(self) -> AuthorizationServer:
        provider = self

        class Server(AuthorizationServer):
            def query_client(self, client_id: str) -> Client | None:
                return provider.client if client_id == provider.client.client_id else None

            def save_token(self, token: dict[str, Any], request: Any) -> None:
                return None

            def create_oauth2_request(self, request: Any) -> Any:
                return request

            def handle_response(self, status: int, body: Any, headers: Any) -> Any:
                return status, body, headers

            def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
                return None

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_post", "client_secret_basic"]

            def save_authorization_code(self, code: str, request: Any) -> None:
                data = request.payload.data
                provider.codes[code] = Code(
                    code=code,
                    client_id=request.client.client_id,
                    redirect_uri=data.get("redirect_uri", ""),
                    scope=data.get("scope", ""),
                    user=request.user,
                    nonce=data.get("nonce"),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = provider.codes.get(code)
                return found if found and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> str:
                return authorization_code.user

        class IdToken(OpenIDCode):
            def exists_nonce(self, nonce: str, request: Any) -> bool:
                return False

            def resolve_client_private_key(self, client: Client) -> Any:
                return provider.key

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                return {"iss": provider.issuer, "aud": [client.client_id]}

            def generate_user_info(self, user: str, scope: str) -> dict[str, Any]:
                claims = dict(provider.users[user])
                claims.pop("password")
                return claims

            def encode_id_token(self, token: dict[str, Any], request: Any) -> str:
                claims = self.get_compatible_claims(request)
                claims.update(self.get_authorization_code_claims(request.authorization_code))
                claims.update(self.generate_user_info(request.user, token["scope"]))
                claims.update(provider.tamper)
                key = provider.wrong_key if provider.sign_with_wrong_key else provider.key
                return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)

        server = Server()
        server.register_token_generator(
            "default", BearerTokenGenerator(lambda *a, **k: secrets.token_urlsafe(24))
        )
        server.register_grant(CodeGrant, [IdToken(require_nonce=False), CodeChallenge()])
        return server

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
        }

    # --- HTTP ---------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _send(self, status: int, body: Any, headers: Any = ()) -> None:
                if isinstance(body, dict):
                    body = json.dumps(body)
                    headers = [*headers, ("Content-Type", "application/json")]
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _request(self) -> Request:
                parts = urlsplit(self.path)
                args = dict(parse_qsl(parts.query))
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode())) if length else {}
                return Request(
                    self.command, provider.issuer + self.path, args, form, dict(self.headers)
                )

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                provider.requests.append(f"GET {path}")
                if path == "/.well-known/openid-configuration":
                    return self._send(200, provider.discovery())
                if path == "/jwks":
                    return self._send(200, {"keys": [provider.key.as_dict(private=False)]})
                if path == "/authorize":
                    query = html.escape(urlsplit(self.path).query)
                    return self._send(
                        200,
                        "<!doctype html><title>Test IdP</title><h1>Test identity provider</h1>"
                        f'<form method="post" action="/authorize?{query}">'
                        '<label>User <input name="username" id="idp-user"></label>'
                        '<label>Password <input name="password" type="password" '
                        'id="idp-password"></label><button type="submit">Sign in</button></form>',
                        [("Content-Type", "text/html; charset=utf-8")],
                    )
                return self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:
                path = urlsplit(self.path).path
                provider.requests.append(f"POST {path}")
                request = self._request()
                if path == "/authorize":
                    name = request.form.get("username", "")
                    user = provider.users.get(name)
                    if user is None or request.form.get("password") != user["password"]:
                        return self._send(401, "wrong user or password")
                    status, body, headers = provider.server.create_authorization_response(
                        request, grant_user=name
                    )
                    return self._send(status, body or "", headers)
                if path == "/token":
                    status, body, headers = provider.server.create_token_response(request)
                    return self._send(status, body, headers)
                return self._send(404, {"error": "not_found"})

        return Handler

    def sign_in(self, authorize_url: str, name: str, password: str = PASSWORD) -> str:
        """What a person's browser does at the provider: the redirect back to the portal."""
        import httpx

        parts = urlsplit(authorize_url)
        answer = httpx.post(
            f"{self.issuer}/authorize?{parts.query}",
            data={"username": name, "password": password},
            follow_redirects=False,
        )
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]


def authorize_query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def with_query(path: str, **params: str) -> str:
    return f"{path}?{urlencode(params)}"
