"""Where a request comes from (review issue 10, finding 7): X-Forwarded-For is believed only as
far as TRUSTED_PROXY_COUNT proxies appended to it; by default only REMOTE_ADDR counts. The
login throttle, the lockout and the audit log's address all use that one rule."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from tenants.audit import record
from tenants.network import client_ip
from tenants.rls import rls_bypass

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize(
    "count,remote,forwarded,expected",
    [
        (0, "198.51.100.7", "203.0.113.9", "198.51.100.7"),  # no proxy: the header is noise
        (1, "10.0.0.2", "203.0.113.9", "203.0.113.9"),  # what our one proxy saw
        (1, "10.0.0.2", "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the client's own is ignored
        (2, "10.0.0.3", "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "10.0.0.3", "203.0.113.9", "10.0.0.3"),  # fewer hops than proxies: believe none
        (1, "10.0.0.2", "not-an-address", "10.0.0.2"),
        (1, "10.0.0.2", "", "10.0.0.2"),
        (1, "10.0.0.2", "[2001:db8::5]:4431", "2001:db8::5"),
        (1, "10.0.0.2", "203.0.113.9:51234", "203.0.113.9"),
    ],
)
def test_client_ip_believes_only_the_trusted_proxies(settings, count, remote, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    assert client_ip(request_from(remote, forwarded)) == expected


def login(client, username: str, password: str, forwarded: str):
    return client.post(
        "/api/v1/auth/token/",
        {"username": username, "password": password},
        content_type="application/json",
        HTTP_X_FORWARDED_FOR=forwarded,
    )


def test_a_fresh_forwarded_header_does_not_escape_the_login_throttle(client, two_tenants):
    """Password spraying: another username and another made-up address on every attempt."""
    statuses = [
        login(client, f"nobody-{n}", "guess", f"203.0.113.{n}").status_code for n in range(40)
    ]
    assert statuses.count(429) >= 10, statuses


def test_a_fresh_forwarded_header_does_not_escape_the_lockout(client, two_tenants, settings):
    victim = two_tenants["a_viewer"]
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(client, victim.username, "wrong", f"203.0.113.{n}")
    response = login(client, victim.username, PASSWORD, "203.0.113.200")
    assert response.status_code == 429
    assert response.json()["error"] == "locked_out"


def test_behind_a_proxy_a_lockout_is_the_attackers_address_only(client, two_tenants, settings):
    """One proxy in front (TRUSTED_PROXY_COUNT=1): every request comes from its address, so a
    lockout keyed on the username alone (or on the proxy's address) would let anyone lock any
    account. It is keyed on username and the client's address."""
    settings.TRUSTED_PROXY_COUNT = 1
    victim = two_tenants["a_viewer"]
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        login(client, victim.username, "wrong", "6.6.6.6")
    assert login(client, victim.username, PASSWORD, "6.6.6.6").status_code == 429
    # the victim, from their own address, through the same proxy
    response = login(client, victim.username, PASSWORD, "203.0.113.5")
    assert response.status_code == 201, response.json()
    # and the attacker cannot pose as the victim's address: the proxy appended the real one
    assert login(client, victim.username, PASSWORD, "203.0.113.5, 6.6.6.6").status_code == 429


def test_the_audit_log_records_the_same_address(settings, two_tenants):
    from tenants.models import AuditEvent

    settings.TRUSTED_PROXY_COUNT = 0
    spoofed = record("test.event", request=request_from("198.51.100.7", "203.0.113.9"))
    settings.TRUSTED_PROXY_COUNT = 1
    proxied = record("test.event", request=request_from("10.0.0.2", "6.6.6.6, 203.0.113.9"))
    with rls_bypass("test"):
        rows = AuditEvent.objects.dangerously_unscoped("test").filter(action="test.event")
        ips = dict(rows.values_list("pk", "ip"))
    assert ips[spoofed.pk] == "198.51.100.7"
    assert ips[proxied.pk] == "203.0.113.9"


def test_a_failed_login_is_audited_with_the_clients_address(client, two_tenants, settings):
    from tenants.models import AuditEvent

    settings.TRUSTED_PROXY_COUNT = 1
    login(client, two_tenants["a_viewer"].username, "wrong", "6.6.6.6, 203.0.113.77")
    with rls_bypass("test"):
        event = AuditEvent.objects.dangerously_unscoped("test").get(action="auth.login_failed")
    assert event.ip == "203.0.113.77"


def test_the_login_page_is_throttled_per_address_like_the_api(client, two_tenants):
    """Found beside finding 7: the portal's login form had no per-address limit at all, so
    spraying one password over many usernames (which the per-username lockout never sees)
    was unlimited there. It shares the API's budget per address."""
    statuses = [
        client.post(
            "/login/", {"username": f"nobody-{n}", "password": "guess"}, REMOTE_ADDR="192.0.2.9"
        ).status_code
        for n in range(40)
    ]
    assert statuses.count(429) >= 10, statuses
    other = client.post("/login/", {"username": "x", "password": "y"}, REMOTE_ADDR="192.0.2.10")
    assert other.status_code == 200  # another address has its own budget
