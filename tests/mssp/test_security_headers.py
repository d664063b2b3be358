"""Every response carries the security headers (Content-Security-Policy with per-request nonces,
Permissions-Policy, Cross-Origin-Opener-Policy, framing and sniffing refused), and every page's
HTML keeps to what that policy allows: no inline script or style without the response's nonce,
no inline event handler, no style attribute, no javascript: URL. (tests/browser/test_csp.py
checks the same pages in Chromium, where a violation would show.)

Also who may read the OpenAPI schema and its Swagger UI: signed-in callers only (README)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from mssp.navigation import pages_for
from tenants.access import access_for
from tenants.rls import tenant_scope
from tests.factories import ingest_alerts, issue_token

pytestmark = pytest.mark.django_db

PERSONAS = ("mssp_admin", "analyst_a", "a_admin", "a_responder", "a_viewer", "outsider")
NONCE = re.compile(r"'nonce-([A-Za-z0-9+/=]+)'")


def policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def header_problems(url: str, response) -> list[str]:
    problems = []
    csp = policy(response)
    if not csp:
        return [f"{url}: no Content-Security-Policy"]
    wanted = {
        "default-src": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
    for directive, sources in wanted.items():
        if csp.get(directive) != sources:
            problems.append(f"{url}: {directive} is {csp.get(directive)}, not {sources}")
    for directive in ("script-src", "style-src", "connect-src"):
        if "'self'" not in csp.get(directive, []):
            problems.append(f"{url}: {directive} lacks 'self': {csp.get(directive)}")
    for directive, sources in csp.items():
        unsafe = [s for s in sources if s.startswith("'unsafe-") or s in ("*", "http:", "https:")]
        if unsafe:
            problems.append(f"{url}: {directive} allows {unsafe}")
    expected = {
        "Cross-Origin-Opener-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    for name, value in expected.items():
        if response.headers.get(name) != value:
            problems.append(f"{url}: {name} is {response.headers.get(name)!r}, not {value!r}")
    permissions = response.headers.get("Permissions-Policy", "")
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        if f"{feature}=()" not in permissions:
            problems.append(f"{url}: Permissions-Policy does not refuse {feature}: {permissions!r}")
    return problems


class InlineCode(HTMLParser):
    """What in a page the policy would refuse: scripts and styles in the page without the
    response's nonce, event handler attributes, style attributes, javascript: URLs."""

    def __init__(self, nonce: str | None):
        super().__init__(convert_charrefs=True)
        self.nonce = nonce
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...> (inline event handler)")
            elif name == "style":
                self.found.append(f"<{tag} style={value!r}>")
            elif name in ("href", "src", "action", "formaction") and (
                value or ""
            ).strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag == "script":
            data_block = values.get("type") in ("application/json", "application/ld+json")
            if (
                not values.get("src")
                and not data_block
                and (not self.nonce or values.get("nonce") != self.nonce)
            ):
                self.found.append(f"inline <script> without the response's nonce: {values}")
            if values.get("nonce") and values.get("nonce") != self.nonce:
                self.found.append(f"<script> with another nonce: {values}")
        if tag == "style" and (not self.nonce or values.get("nonce") != self.nonce):
            self.found.append(f"<style> without the response's nonce: {values}")


def html_problems(url: str, response) -> list[str]:
    if "text/html" not in response.headers.get("Content-Type", ""):
        return []
    nonces = NONCE.findall(" ".join(policy(response).get("script-src", [])))
    parser = InlineCode(nonces[0] if nonces else None)
    parser.feed(response.content.decode())
    return [f"{url}: {found}" for found in parser.found]


def check(client, url: str, problems: list[str], *, status: int | None = None, **extra):
    response = client.get(url, **extra)
    if status is not None and response.status_code != status:
        problems.append(f"{url}: {response.status_code}, expected {status}")
    problems.extend(header_problems(url, response))
    problems.extend(html_problems(url, response))
    return response


def test_anonymous_responses_carry_the_security_headers(client):
    problems: list[str] = []
    check(client, "/login/", problems, status=200)
    check(client, "/healthz", problems)
    check(client, "/no-such-page/", problems, status=404)
    check(client, "/console/", problems, status=302)
    check(client, "/api/v1/incidents/", problems, status=401)
    check(client, "/api/schema/", problems, status=401)
    check(client, "/api/docs/", problems, status=302)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_page_a_persona_is_offered_carries_the_headers_and_no_inline_code(
    client, two_tenants, persona
):
    user = two_tenants[persona]
    alert_id = ingest_alerts(two_tenants["a_source"], 1, title="Header check")[0]
    from alerts.models import Alert

    with tenant_scope([two_tenants["a"].pk]):
        incident_id = Alert.objects.for_tenant(two_tenants["a"]).get(pk=alert_id).incident_id
    client.force_login(user)
    nav = pages_for(access_for(user))
    urls = ["/", "/password/", "/api/docs/", "/api/schema/", "/no-such-page/"]
    urls += [entry["url"] for entry in nav["main"] + nav["settings"]]
    if persona not in ("analyst_b", "outsider"):
        urls += [reverse("incident", args=[incident_id]), reverse("alert", args=[alert_id])]
    if persona == "mssp_admin":
        urls += ["/admin/", "/admin/tenants/tenant/"]
    problems: list[str] = []
    for url in urls:
        check(client, url, problems)
    assert not problems, "\n".join(problems)


def test_a_nonce_is_new_for_each_response_and_marks_the_docs_inline_code(client, two_tenants):
    client.force_login(two_tenants["a_viewer"])
    first, second = client.get("/api/docs/"), client.get("/api/docs/")
    assert first.status_code == second.status_code == 200
    nonces = [NONCE.findall(" ".join(policy(r)["script-src"])) for r in (first, second)]
    assert len(nonces[0]) == len(nonces[1]) == 1 and nonces[0] != nonces[1]
    assert f'nonce="{nonces[0][0]}"' in first.content.decode()
    assert not html_problems("/api/docs/", first)


def test_schema_and_docs_need_a_signed_in_caller(client, two_tenants):
    """Anonymous: the schema is a 401 in the API's error shape, the docs send to the login."""
    schema = client.get("/api/schema/")
    assert schema.status_code == 401 and schema.json()["error"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith("/login/?next=/api/docs/")
    client.force_login(two_tenants["a_viewer"])
    assert client.get("/api/schema/?format=json").json()["openapi"].startswith("3.")
    assert client.get("/api/docs/").status_code == 200


def test_schema_is_readable_with_an_api_token(client, two_tenants):
    token = issue_token(two_tenants["a_viewer"])
    response = client.get("/api/schema/?format=json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200 and "/api/v1/incidents/" in response.json()["paths"]
