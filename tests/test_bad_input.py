"""Bad input to every API route: a 4xx with the contract's JSON error, never a 500, nothing
half-written. Routes come from the URL conf, so a new endpoint is attacked too."""

from __future__ import annotations

import json

import pytest

from tenants.models import AuditEvent
from tenants.rls import rls_bypass
from tests.isolation import api_routes

pytestmark = pytest.mark.django_db

ROUTES = api_routes()

HOSTILE_BODIES = [
    ("malformed json", b'{"name": ', "application/json"),
    ("json array", b"[1, 2, 3]", "application/json"),
    ("json string", b'"hello"', "application/json"),
    ("json null", b"null", "application/json"),
    (
        "wrong types",
        json.dumps(
            {
                "name": 5,
                "slug": [],
                "role": {},
                "kind": None,
                "scopes": "x",
                "tenants": "a",
                "username": ["x"],
                "password": 7,
                "business_hours": "always",
                "holidays": {"a": 1},
                "expires_in_days": "soon",
                "status": 3,
            }
        ).encode(),
        "application/json",
    ),
    (
        "huge strings",
        json.dumps(
            {
                k: "x" * 100_000
                for k in (
                    "name",
                    "slug",
                    "username",
                    "email",
                    "password",
                    "role",
                    "kind",
                    "timezone",
                )
            }
        ).encode(),
        "application/json",
    ),
    ("deep nesting", b'{"business_hours": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json"),
    (
        "nul bytes",
        json.dumps(
            {
                "name": "a\x00b",
                "username": "u\x00",
                "slug": "s\x00",
                "kind": "cef",
                "role": "viewer",
                "email": "a@b.c",
                "service_model": "hybrid",
            }
        ).encode(),
        "application/json",
    ),
    ("invalid utf-8", b'{"name": "\xff\xfe\xfa"}', "application/json"),
    ("lone surrogate", b'{"name": "\\ud800", "username": "\\udfff"}', "application/json"),
    ("form encoded", b"name=x&kind=cef", "application/x-www-form-urlencoded"),
    ("xml", b"<name>x</name>", "application/xml"),
    (
        "huge int",
        b'{"expires_in_days": 1e400, "expected_interval_minutes": 99999999999999999999}',
        "application/json",
    ),
]
BAD_IDS = ["not-a-uuid", "99999999999999999999999", "-1", "%00", "..", "' OR 1=1 --", "0" * 300]


def _url(route, world, bad_id=None):
    values = {
        "tenant_slug": world["a"].slug,
        "slug": world["a"].slug,
        "pk": str(world["a_source"].pk),
        "source": "generic",
        "incident_pk": "01a2523d-0000-7000-8000-000000000000",  # an evidence file's: none
        "oid": "01a2523d-0000-7000-8000-000000000001",  # an observable's: none
        "session_id": "01a2523d-0000-7000-8000-000000000002",  # a staff session: none
    }
    if "team_id" in route.params:  # an MSSP team's channels: a real team, so bodies are read
        from tenants.models import Team

        values["team_id"] = str(
            Team.objects.dangerously_unscoped("test: the MSSP's NOC")
            .get_or_create(tenant=None, name="MSSP NOC", kind="noc")[0]
            .pk
        )
    if bad_id is not None:
        values = {k: bad_id for k in values}
    return route.url(**values)


def assert_clean_4xx(response, what):
    assert 400 <= response.status_code < 500, (
        f"{what}: {response.status_code} {response.content[:300]}"
    )
    body = response.json()
    assert set(body) >= {"error", "detail"}, f"{what}: {body}"
    assert isinstance(body["detail"], str)


def audit_count() -> int:
    with rls_bypass("test"):
        return AuditEvent.objects.dangerously_unscoped("test").count()


@pytest.fixture(scope="module")
def schema_paths(django_db_blocker):
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)["paths"]


def takes_a_body(route, method, paths) -> bool:
    operation = paths["/" + route.id.replace("{pk}", "{id}")][method.lower()]
    return "requestBody" in operation


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.id)
def test_hostile_bodies_get_a_4xx_json_error(route, two_tenants, api, schema_paths):
    client = api(two_tenants["mssp_admin"])
    before = audit_count()
    for method in route.methods:
        if method in ("GET", "HEAD", "DELETE") or not takes_a_body(route, method, schema_paths):
            continue
        for label, body, content_type in HOSTILE_BODIES:
            response = client.generic(
                method, _url(route, two_tenants), body, content_type=content_type
            )
            assert_clean_4xx(response, f"{method} {route.id} with {label}")
    assert audit_count() == before, "a rejected request wrote to the audit log"


@pytest.mark.parametrize("route", [r for r in ROUTES if r.params], ids=lambda r: r.id)
def test_malformed_ids_in_the_path_are_4xx(route, two_tenants, api):
    client = api(two_tenants["mssp_admin"])
    for bad_id in BAD_IDS:
        for method in route.methods:
            response = client.generic(
                method, _url(route, two_tenants, bad_id), b"{}", content_type="application/json"
            )
            assert_clean_4xx(response, f"{method} {route.id} with id {bad_id!r}")


def test_oversized_body_is_413(api, two_tenants, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    client = api(two_tenants["mssp_admin"])
    response = client.post(
        "/api/v1/tenants/", b'{"name": "' + b"x" * 4096 + b'"}', content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


def test_unknown_api_url_is_a_json_404(client):
    response = client.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not found."}


def test_query_parameters_that_make_no_sense_are_4xx_or_ignored(api, two_tenants):
    client = api(two_tenants["mssp_admin"])
    for query in (
        "?cursor=garbage",
        "?page_size=-5",
        "?page_size=abc",
        "?status=nope",
        "?at__gte=yesterday",
        "?tenant=%00",
        "?role=" + "x" * 5000,
    ):
        for url in (
            "/api/v1/tenants/",
            "/api/v1/audit/",
            "/api/v1/staff/",
            "/api/v1/tenants/tenant-a/members/",
            "/api/v1/tokens/",
            "/api/v1/incidents/export/",
        ):
            response = client.get(url + query)
            assert response.status_code < 500, (url + query, response.content[:200])
            if response.status_code >= 400:
                assert_clean_4xx(response, url + query)


def test_custom_field_filters_and_orderings_that_make_no_sense_are_4xx(api, two_tenants):
    client = api(two_tenants["mssp_admin"])
    for query in (
        "?cf.=1",
        "?cf.%00=1",
        "?cf.x=" + "y" * 5000,
        "?cf.a__b=1",
        "?cf." + "k" * 5000 + "=1",
        "&".join(f"?cf.k{n}=1" for n in range(30)),
        "?ordering=cf.",
        "?ordering=-cf.%00",
        "?ordering=cf.x&ordering=cf.y",
        "?ordering=cf.x&cursor=WyJ4Il0=",
    ):
        for url in ("/api/v1/incidents/", "/api/v1/queue/", "/api/v1/incidents/export/"):
            response = client.get(url + query)
            assert 400 <= response.status_code < 500, (url + query, response.content[:200])
            assert_clean_4xx(response, url + query)


@pytest.mark.parametrize(
    ("url", "status"),
    [
        # PostgreSQL refuses offsets beyond ±15:59 that Python accepts: taken in UTC instead
        ("/api/v1/queue/?until=2026-01-17T13:47:11.6-20:50", 200),
        ("/api/v1/alerts/?since=2026-01-17T13:47:11%2B20:50", 200),
        ("/api/v1/audit/?at__gte=2026-01-17T13:47:11-23:59", 200),
        ("/api/v1/reports/?until=2026-01-17T13:47:11-20:50", 200),
        ("/api/v1/sla/summary/?from=2025-01-17T13:47:11-20:50", 200),
        # no such moment in UTC: before year 1 or after year 9999
        ("/api/v1/incidents/?since=0001-01-01T00:00:00%2B05:00", 400),
        ("/api/v1/incidents/export/?until=0001-01-01T00:00:00%2B05:00", 400),
        ("/api/v1/audit/?at__lt=9999-12-31T23:00:00-05:00", 400),
        ("/api/v1/sla/summary/?to=0001-01-01T00:00:00%2B01:00", 400),
    ],
)
def test_date_times_with_any_offset_are_taken_in_utc(api, two_tenants, url, status):
    """?until=...-20:50 was a 500 on PostgreSQL (time zone displacement out of range), found
    by tests/test_api_fuzz.py; a moment outside the calendar in UTC overflowed."""
    response = api(two_tenants["mssp_admin"]).get(url)
    assert response.status_code == status, response.content[:300]
    if status == 400:
        assert_clean_4xx(response, url)
