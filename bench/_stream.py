"""Helpers of the websocket and queue benchmarks (bench/ingest_to_websocket.py,
bench/queue_at_scale.py), on top of bench/_common.py: portal users with API tokens (customers
of each bench tenant, MSSP staff working chosen tenants), the open-files limit, CPU accounting
that also counts child processes, latency summaries.

Everything runs against the bench's own database and Redis db (bench/_common.py).
"""

from __future__ import annotations

import json
import os
import resource
from dataclasses import dataclass
from pathlib import Path

from bench import _common as common

TOKEN_CACHE = common.LOG_DIR / "stream-tokens.json"


# --- process limits and CPU ----------------------------------------------------------------------
def raise_open_files(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards `wanted` (up to the hard limit); returns
    the new soft limit. Children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class CpuMeter(common.CpuMeter):
    """bench/_common.CpuMeter plus named groups of other processes (the socket client, the
    channel-layer receivers ...), so that they are not lumped into 'other'."""

    def __init__(self, daphne_pids=None, extra: dict[str, list[int]] | None = None, **kw):
        super().__init__(daphne_pids, **kw)
        self.extra = extra or {}

    def _snapshot(self) -> dict[str, float]:
        groups = super()._snapshot()
        for name, pids in self.extra.items():
            groups[name] = sum(common._proc_cpu(pid) for pid in pids)
        return groups

    def stop(self) -> dict[str, float]:
        used = super().stop()
        used["other"] = max(0.0, used["other"] - sum(used[name] for name in self.extra))
        return used


def format_cpu(used: dict[str, float]) -> str:
    names = ["client", *[k for k in used if k not in _KNOWN], "daphne", "pg_bench"]
    names += ["pg_other", "redis", "other", "machine_busy"]
    return "cores busy: " + ", ".join(f"{n} {used[n]:.2f}" for n in names if n in used)


_KNOWN = {"client", "daphne", "pg_bench", "pg_other", "redis", "other", "machine_busy"}


# --- latency -------------------------------------------------------------------------------------
def summary(seconds: list[float]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max in milliseconds (nan when empty)."""
    values = sorted(seconds)
    p = common.percentile
    out = {f"p{q:g}": p(values, q) * 1000 for q in (50, 90, 95, 99, 99.9)}
    out["max"] = values[-1] * 1000 if values else float("nan")
    out["n"] = len(values)
    return out


def latency_line(seconds: list[float]) -> str:
    if not seconds:
        return "no samples"
    s = summary(seconds)
    return (
        f"p50 {s['p50']:.1f} ms, p90 {s['p90']:.1f} ms, p99 {s['p99']:.1f} ms, "
        f"p99.9 {s['p99.9']:.1f} ms, max {s['max']:.1f} ms ({s['n']:,} samples)"
    )


# --- people --------------------------------------------------------------------------------------
@dataclass
class Person:
    username: str
    user_id: int
    tenant_ids: frozenset[int]  # the tenants whose events/rows this person may see
    role: str  # customer role or staff role
    token: str = ""


def ensure_customers(
    sources: list[common.BenchSource], counts: list[int], role: str = "viewer"
) -> list[Person]:
    """counts[i] customer users (Membership `role`) of tenant sources[i]: bench-cNNNN-K."""
    from tenants.models import Membership, User
    from tenants.rls import rls_bypass

    wanted = {
        f"bench-c{n:04d}-{k}": source.tenant_id
        for n, (source, count) in enumerate(zip(sources, counts, strict=True))
        for k in range(count)
    }
    with rls_bypass("bench setup: customer users"):
        existing = dict(
            User.objects.filter(username__in=list(wanted)).values_list("username", "pk")
        )
        fresh = []
        for username in wanted.keys() - existing.keys():
            user = User(username=username, email=f"{username}@bench.example")
            user.set_unusable_password()
            fresh.append(user)
        User.objects.bulk_create(fresh, batch_size=1000)
        users = dict(User.objects.filter(username__in=list(wanted)).values_list("username", "pk"))
        members = Membership.objects.dangerously_unscoped("bench setup").filter(
            user_id__in=list(users.values())
        )
        have = {m.user_id: m for m in members}
        missing = [
            Membership(tenant_id=wanted[name], user_id=pk, role=role)
            for name, pk in users.items()
            if pk not in have
        ]
        Membership.objects.bulk_create(missing, batch_size=1000)
        wrong = [m for m in have.values() if m.role != role]
        for m in wrong:
            m.role = role
        if wrong:
            Membership.objects.dangerously_unscoped("bench setup").bulk_update(wrong, ["role"])
    return [
        Person(name, users[name], frozenset({tenant_id}), role)
        for name, tenant_id in sorted(wanted.items())
    ]


def ensure_staff(username: str, role: str, tenant_ids: list[int] | None) -> Person:
    """An MSSP staff user with `role` (analyst_l1/2/3, lead, manager, admin) working exactly
    `tenant_ids` (None for a role that sees every tenant)."""
    from django.db import transaction

    from tenants import services
    from tenants.access import access_for
    from tenants.models import Tenant, User
    from tenants.rls import rls_bypass

    with rls_bypass("bench setup: staff"), transaction.atomic():
        user, _ = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@mssp.example", "staff_role": role}
        )
        if user.staff_role != role:
            user.staff_role = role
            user.save(update_fields=["staff_role"])
        if tenant_ids is not None:
            tenants = list(Tenant.objects.filter(pk__in=tenant_ids))
            services.staff_set_tenants(user, tenants)
        seen = access_for(user).tenant_ids
    return Person(username, user.pk, frozenset(seen), role)


def issue_tokens(people: list[Person]) -> None:
    """An API token for each person (tenants.services.token_issue). Raw tokens are shown once,
    so they are kept in var/bench/stream-tokens.json and reused while still usable; the rest
    are issued afresh."""
    from django.db import transaction

    from tenants.models import ApiToken, User
    from tenants.rls import rls_bypass
    from tenants.services import token_issue

    cache: dict[str, str] = {}
    if TOKEN_CACHE.exists():
        try:
            cache = json.loads(TOKEN_CACHE.read_text())
        except ValueError:
            cache = {}
    digests = {ApiToken.digest_of(raw): name for name, raw in cache.items()}
    usable = set(
        ApiToken.objects.usable()
        .filter(digest__in=list(digests), user__username__in=[p.username for p in people])
        .values_list("digest", "user__username")
    )
    valid = {name for digest, name in usable if digests.get(digest) == name}
    users = User.objects.in_bulk([p.user_id for p in people])
    with rls_bypass("bench setup: tokens"), transaction.atomic():
        for person in people:
            if person.username in valid:
                person.token = cache[person.username]
                continue
            person.token, _ = token_issue(users[person.user_id], name="bench stream")
            cache[person.username] = person.token
    TOKEN_CACHE.parent.mkdir(parents=True, exist_ok=True)
    TOKEN_CACHE.write_text(json.dumps(cache))
    os.chmod(TOKEN_CACHE, 0o600)


def tenant_slugs(tenant_ids) -> dict[int, str]:
    from tenants.models import Tenant

    return dict(Tenant.objects.filter(pk__in=list(tenant_ids)).values_list("pk", "slug"))


def write_json(path: Path, document) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
