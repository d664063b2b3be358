"""A real SAML 2.0 identity provider for the single-sign-on tests, built with pysaml2's IdP
(saml2.server.Server, signing with the xmlsec1 binary): its metadata, the HTTP-Redirect binding
for authentication requests and the HTTP-POST binding for its responses, served over HTTP on
127.0.0.1 from a thread.

Its users sign in on a small HTML form at /sso; the answer is pysaml2's self-submitting form
that posts the signed response to the portal's assertion consumer service. A test can make its
responses wrong on purpose (`tamper`: create_authn_response's arguments to override, e.g.
`sp_entity_id` for another audience, `issuer`, `sign_assertion`; `sign_with_wrong_key`;
`lifetime_minutes`) to see them refused.
"""

from __future__ import annotations

import datetime
import html
import re
import shutil
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

PASSWORD = "idp-password"  # every test user's, at the provider
XMLSEC = shutil.which("xmlsec1") or "/usr/bin/xmlsec1"
needs_xmlsec1 = pytest.mark.skipif(
    shutil.which("xmlsec1") is None,
    reason="the SAML test IdP (pysaml2) signs with xmlsec1: apt-get install xmlsec1",
)


def key_pair(directory: Path, name: str) -> tuple[str, str]:
    """A 2048-bit RSA key and its self-signed certificate, as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = directory / f"{name}.key", directory / f"{name}.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_file), str(cert_file)


class TestSamlProvider:
    """One SAML identity provider: its users ({name: attributes}) and the SPs it knows."""

    __test__ = False

    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        directory = Path(self.dir.name)
        self.key_file, self.cert_file = key_pair(directory, "idp")
        self.wrong_key_file, self.wrong_cert_file = key_pair(directory, "wrong")
        self.users: dict[str, dict[str, Any]] = {}
        self.tamper: dict[str, Any] = {}
        self.sign_with_wrong_key = False
        self.lifetime_minutes = 5
        self.sp_metadata: list[str] = []
        self.requests: list[dict[str, Any]] = []  # the authentication requests it was sent
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.entity_id = f"{self.base}/metadata"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> TestSamlProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.dir.cleanup()

    def add_user(self, name: str, password: str = PASSWORD, **attributes: Any) -> None:
        self.users[name] = {
            "password": password,
            "name_id": attributes.pop("name_id", f"persistent-{name}"),
            "attributes": {
                "uid": [name],
                **{k: v if isinstance(v, list) else [v] for k, v in attributes.items()},
            },
        }

    def add_sp(self, metadata: str | bytes) -> None:
        """The portal's SP metadata (its /sso/saml/<provider>/metadata/)."""
        self.sp_metadata.append(metadata.decode() if isinstance(metadata, bytes) else metadata)

    # --- pysaml2 ------------------------------------------------------------------------------
    def config(self, *, wrong_key: bool = False) -> IdPConfig:
        config = IdPConfig()
        config.load(
            {
                "entityid": self.entity_id,
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [(f"{self.base}/sso", BINDING_HTTP_REDIRECT)]
                        },
                        "name_id_format": [saml.NAMEID_FORMAT_PERSISTENT],
                        "policy": {
                            "default": {
                                "lifetime": {"minutes": self.lifetime_minutes},
                                "attribute_restrictions": None,
                                "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
                            }
                        },
                        "want_authn_requests_signed": False,
                    }
                },
                "key_file": self.wrong_key_file if wrong_key else self.key_file,
                "cert_file": self.wrong_cert_file if wrong_key else self.cert_file,
                "metadata": {"inline": list(self.sp_metadata)},
                "xmlsec_binary": XMLSEC,
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
                "allow_unknown_attributes": True,
            }
        )
        return config

    def metadata(self) -> str:
        metadata = create_metadata_string(None, config=self.config(), sign=False)
        return metadata.decode() if isinstance(metadata, bytes) else str(metadata)

    def respond(
        self, query: dict[str, str], name: str, *, sent_to: TestSamlProvider | None = None
    ) -> tuple[str, dict[str, str]]:
        """The signed response to an authentication request, for user `name`: where it is
        posted and its form fields. `sent_to`: the provider the request was meant for (this one
        answers it anyway, as an impostor would)."""
        server = Server(config=self.config(wrong_key=self.sign_with_wrong_key))
        parser = server if sent_to is None else Server(config=sent_to.config())
        request = parser.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
        message = request.message
        self.requests.append({"id": message.id, "force_authn": message.force_authn})
        user = self.users[name]
        arguments: dict[str, Any] = {
            "identity": user["attributes"],
            "in_response_to": message.id,
            "destination": message.assertion_consumer_service_url,
            "sp_entity_id": message.issuer.text,
            "name_id": saml.NameID(format=saml.NAMEID_FORMAT_PERSISTENT, text=user["name_id"]),
            "authn": {"class_ref": saml.AUTHN_PASSWORD_PROTECTED, "authn_auth": self.entity_id},
            "sign_assertion": True,
            "sign_response": False,
            "sign_alg": SIG_RSA_SHA256,
            "digest_alg": DIGEST_SHA256,
        }
        arguments.update(self.tamper)
        response = server.create_authn_response(**arguments)
        posted = server.apply_binding(
            BINDING_HTTP_POST,
            str(response),
            destination=message.assertion_consumer_service_url,
            relay_state=query.get("RelayState", ""),
            response=True,
        )
        form = posted["data"]
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
        return message.assertion_consumer_service_url, {
            k: html.unescape(v) for k, v in fields.items()
        }

    # --- HTTP ---------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _send(self, status: int, body: str, content_type: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/metadata":
                    return self._send(200, provider.metadata(), "application/samlmetadata+xml")
                if parts.path == "/sso":
                    query = html.escape(parts.query)
                    return self._send(
                        200,
                        "<!doctype html><title>Test SAML IdP</title>"
                        "<h1>Test SAML identity provider</h1>"
                        f'<form method="post" action="/sso?{query}">'
                        '<label>User <input name="username" id="idp-user"></label>'
                        '<label>Password <input name="password" type="password" '
                        'id="idp-password"></label><button type="submit">Sign in</button></form>',
                        "text/html; charset=utf-8",
                    )
                return self._send(404, "not found", "text/plain")

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode())) if length else {}
                if parts.path != "/sso":
                    return self._send(404, "not found", "text/plain")
                name = form.get("username", "")
                user = provider.users.get(name)
                if user is None or form.get("password") != user["password"]:
                    return self._send(401, "wrong user or password", "text/plain")
                action, fields = provider.respond(dict(parse_qsl(parts.query)), name)
                inputs = "".join(
                    f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                    for k, v in fields.items()
                )
                return self._send(
                    200,
                    "<!doctype html><title>Signing in</title>"
                    f'<form method="post" action="{html.escape(action)}" id="saml-post">{inputs}'
                    '<button type="submit" id="saml-continue">Continue</button></form>'
                    "<script>document.getElementById('saml-post').submit()</script>",
                    "text/html; charset=utf-8",
                )

        return Handler

    def sign_in(self, redirect_url: str, name: str) -> tuple[str, dict[str, str]]:
        """What a person's browser does at the provider: the ACS address and the form it posts."""
        assert redirect_url.startswith(f"{self.base}/sso?"), redirect_url
        return self.respond(dict(parse_qsl(urlsplit(redirect_url).query)), name)


def with_query(path: str, **params: str) -> str:
    return f"{path}?{urlencode(params)}"
