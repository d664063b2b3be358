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

import json
import os
import re
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from django.core.signals import got_request_exception
from django.db import transaction
from django.test.client import ClientHandler
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from alerts.models import IntakeSource, SourceKind
from tenants import audit
from tenants.models import ApiToken, Tenant, User
from tenants.rls import rls_bypass, tenant_related_models
from tests.factories import issue_token
from tests.test_isolation_matrix import world, world_once  # noqa: F401  (the two populated tenants)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

# NDJSON intake bodies go on the wire as the text they are.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

# Per operation: EXAMPLES generated requests (valid and invalid). An operation with an id in
# its path gets GENERATED_WITH_IDS of those (a generated id names nothing: 404) and, for each
# real row (one of the caller's tenant, one of the other's), one valid and one invalid request.
EXAMPLES = int(os.environ.get("MSSP_FUZZ_EXAMPLES", "8"))
GENERATED_WITH_IDS = max(1, EXAMPLES // 2)
INTAKE_EXAMPLES = EXAMPLES * 4  # schema-generated bodies, then as many generic-format batches
SAMPLES = Path(__file__).parent / "intake" / "samples"
ONLY = os.environ.get("MSSP_FUZZ_ONLY", "")  # local runs: only operations whose label has it
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
# matrix, deletion by the viewsets' own tests. `max_response_time`: how long an answer takes on
# a shared CI machine says more about the machine than the API (flaky by nature).


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


def identifier_pattern(values: set[str]) -> re.Pattern:
    """Any of `values` as a whole token (B's "user1" is not A's "user12")."""
    alternatives = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w])")


def found_in(text: str, pattern: re.Pattern, request_text: str) -> set[str]:
    """The identifiers of `pattern` in an answer, except those the request itself sent."""
    return {value for value in pattern.findall(text) if value not in request_text}


# --- real path parameters -------------------------------------------------------------------
def real_path_parameters(operation, w, mine: str, other: str) -> list[dict[str, str]]:
    """Path parameters naming real rows: one of the caller's tenant and one of the other's
    (under the caller's slug and under the other's for the nested routes)."""
    names = {p.name for p in operation.path_parameters}
    if names == {"slug"}:
        return [{"slug": w[mine].slug}, {"slug": w[other].slug}]
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
        ).order_by("pk")
        if not any(f.name == "tenant" for f in model._meta.fields):
            # the caller's own rows or nobody's: tokens, saved hunts, MSSP staff
            return [{"id": str(pk)} for pk in rows.values_list("pk", flat=True)[:2]]
        own = [str(pk) for pk in rows.filter(tenant=w[mine]).values_list("pk", flat=True)[:1]]
        theirs = [str(pk) for pk in rows.filter(tenant=w[other]).values_list("pk", flat=True)[:1]]
    if "tenant_slug" in names:
        return [{"tenant_slug": w[mine].slug, "id": pk} for pk in own + theirs] + [
            {"tenant_slug": w[other].slug, "id": pk} for pk in theirs
        ]
    return [{"id": pk} for pk in own + theirs]


# --- the run --------------------------------------------------------------------------------
@dataclass
class Caller:
    name: str
    headers_for: Callable[[schemathesis.Case], dict[str, str]]
    own: set[str]  # its own tenant's identifiers: answers that name them reached real rows
    other: set[str]  # the other tenant's: never in an answer
    failures: list[str] = field(default_factory=list)
    own_seen: set[str] = field(default_factory=set)
    statuses: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.own_pattern = identifier_pattern(self.own)
        self.other_pattern = identifier_pattern(self.other)


def fuzz_operation(operation, caller: Caller, app: InProcessWSGI, real: list[dict]) -> None:
    """Generated requests, then one valid and one invalid request for each real row, each
    batch its own derandomized Hypothesis search."""
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    batches = [
        (
            st.one_of(operation.as_strategy(generation_mode=mode) for mode in modes),
            GENERATED_WITH_IDS if real else EXAMPLES,
        )
    ]
    for params in real:
        for mode in modes:
            batches.append((operation.as_strategy(generation_mode=mode, path_parameters=params), 1))
    for strategy, examples in batches:
        explore(strategy, examples, lambda case: call_and_check(operation, case, caller, app))


def explore(strategy, examples: int, test) -> None:
    @settings(
        max_examples=examples,
        derandomize=True,  # the same requests on every run
        database=None,  # nothing carried over between runs
        deadline=None,  # timing is the machine's, not the API's (see max_response_time)
        phases=[Phase.generate],  # no shrinking: a failure is reported as found
        # "too slow" and "function-scoped fixture" are by design: each example is a request
        # against the test's own data, rolled back.
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case) -> None:
        test(case)

    try:
        run()
    except Unsatisfiable:
        # Only an invalid request was asked for and the operation has nothing to make invalid
        # once its path is fixed (no body, no query): no request to send, nothing failed.
        pass


def call_and_check(operation, case, caller: Caller, app: InProcessWSGI) -> None:
    with transaction.atomic():  # every request meets the same data
        try:
            app.exceptions.clear()
            check(case, case.call(app=app, headers=caller.headers_for(case)), caller, app)
        finally:
            transaction.set_rollback(True)


def check(case, response, caller: Caller, app: InProcessWSGI) -> None:
    """Record what is wrong with one answer: the schema checks, and the other tenant in it."""
    problems = []
    try:
        case.validate_response(response, checks=CHECKS)
    except schemathesis.errors.FailureGroup as failed:  # every failed check
        problems.append(str(failed))
    request = response.request
    request_text = (request.url or "") + str(request.body or "")
    text = response.content.decode("utf-8", "replace")
    leaked = found_in(text, caller.other_pattern, request_text)
    if leaked:
        problems.append(f"the other tenant's identifiers in the answer: {leaked}")
    caller.own_seen |= found_in(text, caller.own_pattern, request_text)
    caller.statuses[response.status_code // 100 * 100] += 1
    if problems:
        caller.failures.append(
            f"{case.operation.label} as {caller.name}: {response.status_code}\n"
            + "\n".join(problems)
            + ("\n" + "\n".join(app.exceptions) if app.exceptions else "")
        )


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
    # caller -> (its tenant, the other tenant)
    "a_admin": ("a", "b"),
    "b_responder": ("b", "a"),
    "analyst_a": ("a", "b"),
}


@pytest.mark.parametrize("caller_name", list(CALLERS))
def test_api_answers_as_documented_and_never_the_other_tenant(caller_name, world, api_schema):  # noqa: F811
    mine, other = CALLERS[caller_name]
    with rls_bypass("test fixture"):
        world["a_audit"] = audit.record("test.event", tenant=world["a"], summary="A's secret event")
    people = {key: (world[f"analyst_{key}"],) for key in ("a", "b")}
    token = issue_token(world[caller_name])
    caller = Caller(
        caller_name,
        lambda case: {"Authorization": f"Bearer {token}"},
        own=tenant_identifiers(world[mine]),
        other=tenant_identifiers(world[other], also=people[other]),
    )
    # "Nothing of B" proves something only if B has things to leak.
    assert {str(world[f"{other}_incident"].pk), str(world[f"{other}_finding"].pk)} <= caller.other
    with InProcessWSGI() as app:
        for operation in operations(api_schema, intake=False):
            real = real_path_parameters(operation, world, mine, other)
            fuzz_operation(operation, caller, app, real)
    if caller.failures:
        pytest.fail(report(caller), pytrace=False)
    # ... and the fuzzer reached the caller's own rows, not only refusals.
    assert str(world[f"{mine}_incident"].pk) in caller.own_seen, caller.statuses
    assert caller.statuses[200] >= 40, caller.statuses  # about 100-160 as of writing


def generic_batches() -> st.SearchStrategy[list[dict]]:
    """Batches in the portal's own format whose every field is generated: required fields
    valid (so the records reach the pipeline), the optional ones anything of roughly their
    kind (text, times that are and are not ISO 8601, observables of any type and value)."""
    from alerts.intake.base import OBSERVABLE_TYPES, SEVERITIES

    text = st.text(max_size=40)
    json_leaf = st.none() | st.booleans() | st.integers() | text
    record = st.fixed_dictionaries(
        {"title": st.text(min_size=1, max_size=80), "severity": st.sampled_from(SEVERITIES)},
        optional={
            "description": text,
            "category": text,
            "source_ref": text | st.integers(),
            "fingerprint": text,
            "observed_at": st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat) | text,
            "observables": st.lists(
                st.fixed_dictionaries({"type": st.sampled_from(OBSERVABLE_TYPES), "value": text}),
                max_size=3,
            ),
            "mitre": st.lists(text, max_size=3),
            "tags": st.lists(text, max_size=3),
            "raw": st.recursive(
                json_leaf,
                lambda inner: st.lists(inner) | st.dictionaries(text, inner),
                max_leaves=5,
            ),
        },
    )
    return st.lists(record, min_size=1, max_size=3)


def test_intake_answers_as_documented(world, api_schema):  # noqa: F811
    """Tenant A's intake keys, one source of each kind, sent with the key that fits the path:
    bodies generated from the schema; generic-format batches with every field generated; and
    each source's real samples (tests/intake/samples), which must be accepted."""
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
        own=tenant_identifiers(world["a"]),
        other=tenant_identifiers(world["b"], also=(world["analyst_b"],)),
    )
    if not operations(api_schema, intake=True):
        pytest.skip("MSSP_FUZZ_ONLY names no intake operation")
    (operation,) = operations(api_schema, intake=True)
    send = lambda case: call_and_check(operation, case, caller, app)  # noqa: E731
    with InProcessWSGI() as app:
        modes = schemathesis.GenerationMode
        explore(
            st.one_of(operation.as_strategy(generation_mode=m) for m in modes),
            INTAKE_EXAMPLES,
            send,
        )
        generic = {"path_parameters": {"source": "generic"}, "media_type": "application/json"}
        explore(
            generic_batches().flatmap(lambda batch: operation.as_strategy(body=batch, **generic)),
            INTAKE_EXAMPLES,
            send,
        )
        refused = []
        for sample in sorted(SAMPLES.iterdir()):
            kind = sample.name.split("_")[0]
            media_type = {".json": "application/json", ".ndjson": "application/x-ndjson"}.get(
                sample.suffix, "text/plain"
            )
            body = (
                json.loads(sample.read_text()) if sample.suffix == ".json" else sample.read_text()
            )
            accepted = caller.statuses[200]
            send(
                api_schema.make_case(
                    operation=operation,
                    path_parameters={"source": kind},
                    body=body,
                    media_type=media_type,
                )
            )
            if caller.statuses[200] == accepted and "bad" not in sample.stem:
                refused.append(sample.name)
    if caller.failures:
        pytest.fail(report(caller), pytrace=False)
    assert not refused, f"real samples refused: {refused}"


STATEFUL_SCENARIOS = EXAMPLES * 4


@pytest.mark.parametrize("caller_name", ["a_admin", "analyst_a"])
def test_api_sequences_answer_as_documented(caller_name, world, api_schema):  # noqa: F811
    """Stateful: sequences of calls that feed one answer into the next request (an incident
    from the list, then acknowledged, commented, escalated; a contact created, then read,
    changed and deleted ...), along the links schemathesis infers between operations (the
    schema itself declares none). Each sequence runs in its own rolled-back savepoint."""
    mine, other = CALLERS[caller_name]
    token = issue_token(world[caller_name])
    caller = Caller(
        caller_name,
        lambda case: {"Authorization": f"Bearer {token}"},
        own=tenant_identifiers(world[mine]),
        other=tenant_identifiers(world[other], also=(world[f"analyst_{other}"],)),
    )
    app = InProcessWSGI()

    class Sequences(api_schema.include(path_regex="^/api/v1/(?!intake/)").as_state_machine()):
        def setup(self) -> None:
            self.savepoint = transaction.atomic()
            self.savepoint.__enter__()

        def teardown(self) -> None:
            transaction.set_rollback(True)
            self.savepoint.__exit__(None, None, None)

        def get_call_kwargs(self, case) -> dict:
            app.exceptions.clear()
            return {"app": app, "headers": caller.headers_for(case)}

        def validate_response(self, response, case, **kwargs) -> None:
            check(case, response, caller, app)

    with app:
        Sequences.run(
            settings=settings(
                max_examples=STATEFUL_SCENARIOS,
                stateful_step_count=8,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
        )
    if caller.failures:
        pytest.fail(report(caller), pytrace=False)
    assert caller.statuses[200] >= 1, caller.statuses
