"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis).

Every operation of /api/schema/ is called with generated requests, valid ones and invalid ones
(schemathesis' positive and negative modes), by four callers in turn:

- a customer admin of tenant A, a customer responder of tenant B, an MSSP analyst who works
  only tenant A (each with a token carrying all its role's scopes);
- the intake endpoints with tenant A's intake keys (one source of each kind).

Each answer must be: no 5xx; a status code, content type and body the schema documents; and
nothing of the *other* tenant (its slug, name, users, the ids and names of its rows) unless the
request itself named it. Path parameters are drawn both from the generator and from real rows
of both tenants, so the fuzzer reaches real objects (and tries the other tenant's).

Bounded and reproducible: a fixed number of examples per operation, derandomized Hypothesis
(the same requests on every run), no shrinking, no example database. Every example runs in a
savepoint that is rolled back, so each request meets the same data whatever ran before it.

Requests go through Django's own test handler in this process and this transaction (no
server): see `InProcessWSGI`.

`MSSP_FUZZ_EXAMPLES=<n>` runs more examples per operation locally; `MSSP_FUZZ_ONLY=<text>`
narrows to the operations whose label contains it.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from dataclasses import dataclass, field

import pytest
import schemathesis
from django.core.signals import got_request_exception
from django.db import transaction
from django.test.client import ClientHandler
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from alerts.models import IntakeSource, SourceKind
from tenants import audit
from tenants.models import ApiToken, Membership, Tenant, User
from tenants.rls import rls_bypass, tenant_related_models
from tests.factories import issue_token
from tests.test_isolation_matrix import world  # noqa: F401  (the two populated tenants)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

EXAMPLES = int(os.environ.get("MSSP_FUZZ_EXAMPLES", "6"))
ONLY = os.environ.get("MSSP_FUZZ_ONLY", "")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Not run: `negative_data_rejection` and `positive_data_acceptance` judge whether generated data
# *should* have been refused or accepted from the schema alone; the API ignores unknown query
# parameters and extra body fields on purpose (and refuses schema-valid bodies that break a
# business rule: a 409, a 400 for another tenant's id), so both would fail by design.
# `ignored_auth`, `use_after_free` and `ensure_resource_availability` send requests of their own
# outside this test's control; authentication is covered by test_auth.py and the isolation
# matrix, deletion by the viewsets' own tests.


class InProcessWSGI:
    """A WSGI app over Django's *test* handler: the request runs in this thread, on this
    connection, inside the test's transaction (a plain WSGIHandler would close the connection
    at the end of each request). Exceptions a view raises are kept for the report."""

    def __init__(self) -> None:
        self.handler = ClientHandler(enforce_csrf_checks=True)
        self.exceptions: list[str] = []

    def _keep(self, sender, request=None, **kwargs) -> None:
        import traceback

        self.exceptions.append("".join(traceback.format_exception(*sys.exc_info())))

    def __enter__(self) -> InProcessWSGI:
        got_request_exception.connect(self._keep, dispatch_uid="api-fuzz")
        return self

    def __exit__(self, *exc) -> None:
        got_request_exception.disconnect(dispatch_uid="api-fuzz")

    def __call__(self, environ, start_response):
        response = self.handler(environ)
        headers = list(response.items())
        headers += [("Set-Cookie", c.output(header="").strip()) for c in response.cookies.values()]
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        # ClientHandler has closed the response already, without closing the connection.
        return [b"".join(response) if response.streaming else response.content]


@pytest.fixture(scope="module")
def api_schema(django_db_blocker):
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        raw = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(raw, config=schemathesis.Config())


def operations(schema, *, intake: bool):
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/v1/"):
            continue  # the schema and docs pages themselves
        if operation.path.startswith("/api/v1/intake/") != intake:
            continue
        if ONLY and ONLY not in operation.label:
            continue
        found.append(operation)
    return sorted(found, key=lambda op: op.label)


# --- whose identifiers ----------------------------------------------------------------------
def tenant_identifiers(tenant: Tenant, also: tuple[User, ...] = ()) -> set[str]:
    """What names `tenant` to someone outside it: its slug and name, its members' usernames
    and e-mail addresses, their tokens, and the UUID of every row it owns (every tenant-owned
    model, found by walking the models, so a new one is covered) plus the names the isolation
    world gives its rows ("B's secret ...")."""
    found = {tenant.slug, tenant.name}
    with rls_bypass("test: what a tenant owns"):
        for model in tenant_related_models():
            rows = model.objects.dangerously_unscoped("fuzz").filter(tenant=tenant)
            text_fields = [
                f.attname
                for f in model._meta.concrete_fields
                if f.get_internal_type() in ("CharField", "TextField")
            ]
            for row in rows.values("pk", *text_fields):
                if isinstance(row["pk"], uuid.UUID):
                    found.add(str(row["pk"]))
                for name in text_fields:
                    value = row[name] or ""
                    if "secret" in value.lower():
                        found.add(value)
        members = User.objects.filter(membership__tenant=tenant)
        for user in [*members, *also]:
            found |= {user.username, user.email}
        for token in ApiToken.objects.filter(user__in=members):
            found |= {str(token.pk), token.prefix}
        for source in IntakeSource.objects.dangerously_unscoped("fuzz").filter(tenant=tenant):
            found.add(source.key_prefix)
    return {value for value in found if len(value) >= 6}


def leaks(text: str, forbidden: set[str], request_text: str) -> list[str]:
    """The other tenant's identifiers in `text`, except those the request itself sent."""
    found = []
    for value in forbidden:
        if value in request_text:
            continue
        if re.search(rf"(?<![\w-]){re.escape(value)}(?![\w])", text):
            found.append(value)
    return sorted(found)


# --- real path parameters -------------------------------------------------------------------
def real_path_parameters(operation, w) -> list[dict[str, str]]:
    """Path parameters naming real rows: the first two of each tenant (the caller's and the
    other's), under each tenant's slug for the nested routes."""
    names = {p.name for p in operation.path_parameters}
    slugs = [w["a"].slug, w["b"].slug]
    if names == {"slug"}:
        return [{"slug": slug} for slug in slugs]
    if "id" not in names:
        return []  # the intake's {source}: an enum the generator covers
    probe = operation.path.replace("{tenant_slug}", "x").replace("{id}", str(uuid.uuid4()))
    try:
        model = getattr(resolve(probe).func.cls, "scoped_model", None)
    except (Resolver404, AttributeError):
        model = None
    if model is None:
        return []
    with rls_bypass("test: fuzz path parameters"):
        manager = model._default_manager
        rows = (
            manager.dangerously_unscoped("fuzz")
            if hasattr(manager, "dangerously_unscoped")
            else manager.all()
        )
        if any(f.name == "tenant" for f in model._meta.fields):
            ids = [
                str(pk)
                for tenant in (w["a"], w["b"])
                for pk in rows.filter(tenant=tenant).order_by("pk").values_list("pk", flat=True)[:2]
            ]
        else:  # a caller's own rows (tokens, saved hunts) or MSSP staff
            ids = [str(pk) for pk in rows.order_by("pk").values_list("pk", flat=True)[:4]]
    if "tenant_slug" in names:
        return [{"tenant_slug": slug, "id": pk} for pk in ids for slug in slugs]
    return [{"id": pk} for pk in ids]


# --- the run --------------------------------------------------------------------------------
@dataclass
class Caller:
    name: str
    headers_for: object  # (case) -> dict of headers
    forbidden: set[str]
    failures: list[str] = field(default_factory=list)


def fuzz_operation(operation, caller: Caller, app: InProcessWSGI, real: list[dict]) -> None:
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    if real:
        strategies += [
            st.sampled_from(real).flatmap(
                lambda params, mode=mode: operation.as_strategy(
                    generation_mode=mode, path_parameters=params
                )
            )
            for mode in modes
        ]

    @settings(
        max_examples=EXAMPLES * (2 if real else 1),
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def run(case) -> None:
        app.exceptions.clear()
        with transaction.atomic():
            try:
                response = case.call(app=app, headers=caller.headers_for(case))
                problems = []
                try:
                    case.validate_response(response, checks=CHECKS)
                except schemathesis.errors.FailureGroup as failed:  # every failed check
                    problems.append(str(failed))
                request = response.request
                request_text = (request.url or "") + str(request.body or "")
                leaked = leaks(
                    response.content.decode("utf-8", "replace"), caller.forbidden, request_text
                )
                if leaked:
                    problems.append(f"the other tenant's identifiers in the answer: {leaked}")
                if problems:
                    caller.failures.append(
                        f"{operation.label} as {caller.name}: {response.status_code}\n"
                        + "\n".join(problems)
                        + ("\n" + "\n".join(app.exceptions) if app.exceptions else "")
                    )
            finally:
                transaction.set_rollback(True)

    run()


def report(caller: Caller) -> str:
    seen, lines = set(), []
    for failure in caller.failures:
        key = failure.split("\n", 1)[0]
        if key in seen:
            continue
        seen.add(key)
        lines.append(failure)
    return f"{len(caller.failures)} failing requests ({len(lines)} operations):\n\n" + (
        "\n\n".join(lines)
    )


CALLERS = {
    # caller -> whose identifiers it must never see
    "a_admin": "b",
    "b_responder": "a",
    "analyst_a": "b",
}


@pytest.mark.parametrize("caller_name", list(CALLERS))
def test_api_answers_as_documented_and_never_the_other_tenant(caller_name, world, api_schema):  # noqa: F811
    other = CALLERS[caller_name]
    with rls_bypass("test fixture"):
        world["a_audit"] = audit.record("test.event", tenant=world["a"], summary="A's secret event")
    forbidden = tenant_identifiers(
        world[other], also=(world[f"analyst_{other}"], world[f"{other}_saved_hunt"].owner)
    )
    token = issue_token(world[caller_name])
    caller = Caller(
        caller_name, lambda case: {"Authorization": f"Bearer {token}"}, forbidden=forbidden
    )
    with InProcessWSGI() as app:
        for operation in operations(api_schema, intake=False):
            fuzz_operation(operation, caller, app, real_path_parameters(operation, world))
    if caller.failures:
        pytest.fail(report(caller), pytrace=False)


def test_intake_answers_as_documented(world, api_schema):  # noqa: F811
    """Tenant A's intake keys, one source of each kind: the key that fits the path's kind."""
    keys = {}
    with rls_bypass("test fixture"):
        for kind in SourceKind.values:
            source = IntakeSource(tenant=world["a"], name=f"fuzz {kind}", kind=kind)
            keys[kind] = source.set_new_key()
            source.save()
    caller = Caller(
        "tenant A's intake key",
        lambda case: {
            "Authorization": f"Bearer {keys.get(case.path_parameters.get('source'), 'nokey')}"
        },
        forbidden=tenant_identifiers(world["b"], also=(world["analyst_b"],)),
    )
    with InProcessWSGI() as app:
        for operation in operations(api_schema, intake=True):
            fuzz_operation(operation, caller, app, [])
    if caller.failures:
        pytest.fail(report(caller), pytrace=False)


def test_membership_of_the_callers_is_as_assumed(world):  # noqa: F811
    """The fuzz callers are who the module says: A's admin, B's responder, A's analyst."""
    with rls_bypass("test"):
        assert Membership.objects.for_tenant(world["a"]).get(user=world["a_admin"]).role == "admin"
        assert (
            Membership.objects.for_tenant(world["b"]).get(user=world["b_responder"]).role
            == "responder"
        )
    assert world["analyst_a"].has_perm("tenants.work_tenant", world["a"])
    assert not world["analyst_a"].has_perm("tenants.work_tenant", world["b"])
