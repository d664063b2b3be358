"""1,000 API requests alternating between two tenants through a real daphne whose database
connections come from psycopg's pool (DB_POOL=1, 2..4 connections): every response holds only
its caller's rows, and no request finds a tenant context left on its connection by the one
before it.

"Carried-over context" is measured, not inferred: the daphne runs the production settings plus
tests.live.TenantContextProbeMiddleware, which reads the row-level-security settings on the
request's own pooled connection before the request's transaction opens and after it ends.
"""

from __future__ import annotations

import collections
import concurrent.futures
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from alerts.models import IntakeSource
from tenants import rls
from tenants.models import Membership
from tests.factories import IntakeSourceFactory, MembershipFactory, TenantFactory, issue_token
from tests.live import (
    PROBE_AFTER,
    PROBE_BACKEND,
    PROBE_BEFORE,
    PROBE_TXN_AFTER,
    app_database_url,
    running_daphne,
)

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.timeout(180)]

REQUESTS = 1000
CLIENTS = 4  # concurrent callers: the pool hands its connections to both tenants in turn
POOL_MIN, POOL_MAX = 2, 4
KINDS = ("sources", "members", "me", "other_tenant")


@dataclass(frozen=True)
class Customer:
    slug: str
    username: str
    token: str
    member_ids: frozenset[str]
    source_ids: frozenset[str]


def make_customer(slug: str, *, members: int, sources: int) -> Customer:
    tenant = TenantFactory(slug=slug, name=slug.title())
    admin = MembershipFactory(tenant=tenant, role="admin").user
    for _ in range(members - 1):
        MembershipFactory(tenant=tenant, role="viewer")
    for _ in range(sources):
        IntakeSourceFactory(tenant=tenant)
    with rls.rls_bypass("test: the rows each tenant must get back"):
        member_ids = Membership.objects.for_tenant(tenant).values_list("pk", flat=True)
        source_ids = IntakeSource.objects.for_tenant(tenant).values_list("pk", flat=True)
        member_ids, source_ids = {str(i) for i in member_ids}, {str(i) for i in source_ids}
    return Customer(
        slug=slug,
        username=admin.username,
        token=issue_token(admin),
        member_ids=frozenset(member_ids),
        source_ids=frozenset(source_ids),
    )


def plan(i: int, a: Customer, b: Customer) -> tuple[Customer, Customer, str]:
    """Request i: tenants alternate A, B, A, B ...; each pair asks for the next kind."""
    caller, other = (a, b) if i % 2 == 0 else (b, a)
    return caller, other, KINDS[(i // 2) % len(KINDS)]


def problems_with(response: httpx.Response, caller: Customer, other: Customer, kind: str):
    """What is wrong with one response (empty when it is right)."""
    wrong = []
    body = response.text
    for foreign_id in other.member_ids | other.source_ids:
        if foreign_id in body:
            wrong.append(f"{kind}: {caller.slug} got {other.slug}'s row {foreign_id}")
    if kind == "other_tenant":
        if response.status_code != 404:
            wrong.append(f"{caller.slug} reading {other.slug}: {response.status_code}")
        return wrong
    if response.status_code != 200:
        return [*wrong, f"{kind} for {caller.slug}: {response.status_code} {body[:200]}"]
    data = response.json()
    if kind == "me":
        if data["tenants"] != [caller.slug] or data["username"] != caller.username:
            wrong.append(f"me for {caller.slug}: {data}")
        return wrong
    expected = caller.source_ids if kind == "sources" else caller.member_ids
    got = [row["id"] for row in data["results"]]
    if len(got) != len(expected) or set(got) != expected or data["next"] is not None:
        wrong.append(f"{kind} for {caller.slug}: {len(got)} rows, expected {len(expected)}")
    return wrong


@pytest.mark.django_db(transaction=True)
def test_alternating_tenants_through_pooled_connections_never_carry_tenant_context(tmp_path):
    # Different sizes, so that one tenant's list in the other's response cannot pass.
    a = make_customer("pool-tenant-a", members=4, sources=3)
    b = make_customer("pool-tenant-b", members=3, sources=2)

    env = {
        "DJANGO_SETTINGS_MODULE": "tests.live_settings",
        "DB_POOL": "1",
        "DB_POOL_MIN": str(POOL_MIN),
        "DB_POOL_MAX": str(POOL_MAX),
    }
    with running_daphne(tmp_path, **env) as base_url:
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        with httpx.Client(base_url=base_url, timeout=20, limits=limits) as http:

            def call(i: int):
                caller, other, kind = plan(i, a, b)
                if kind == "me":
                    path = "/api/v1/me/"
                elif kind == "other_tenant":
                    path = f"/api/v1/tenants/{other.slug}/{('sources', 'members')[i // 8 % 2]}/"
                else:
                    path = f"/api/v1/tenants/{caller.slug}/{kind}/"
                response = http.get(path, headers={"Authorization": f"Bearer {caller.token}"})
                return caller, response, problems_with(response, caller, other, kind)

            with concurrent.futures.ThreadPoolExecutor(max_workers=CLIENTS) as callers:
                results = list(callers.map(call, range(REQUESTS)))

    assert len(results) == REQUESTS
    wrong_rows = [problem for _, _, problems in results for problem in problems]
    assert wrong_rows == []

    carried = [
        (r.headers.get(PROBE_BEFORE), r.headers.get(PROBE_AFTER), r.headers.get(PROBE_TXN_AFTER))
        for _, r, _ in results
        if r.headers.get(PROBE_BEFORE)
        or r.headers.get(PROBE_AFTER)
        or r.headers.get(PROBE_TXN_AFTER) != "IDLE"
    ]
    assert all(PROBE_BACKEND in r.headers for _, r, _ in results)  # the probe saw every one
    assert carried == []  # 0 carried-over tenant contexts

    # The connections really were pooled and shared: a handful of backends served all the
    # requests, and they served both tenants.
    tenants_of_backend = collections.defaultdict(collections.Counter)
    for caller, response, _ in results:
        tenants_of_backend[response.headers[PROBE_BACKEND]][caller.slug] += 1
    assert 1 <= len(tenants_of_backend) <= POOL_MAX
    shared = sum(sum(counts.values()) for counts in tenants_of_backend.values() if len(counts) == 2)
    assert shared >= REQUESTS * 0.9, dict(tenants_of_backend)

    # And a connection outside any transaction starts with no tenant context at all (no role
    # or database default for it).
    with psycopg.connect(app_database_url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT " + ", ".join("coalesce(current_setting(%s, true), '')" for _ in rls.SETTINGS),
            list(rls.SETTINGS),
        ).fetchone()
    assert dict(zip(rls.SETTINGS, row, strict=True)) == dict.fromkeys(rls.SETTINGS, "")
