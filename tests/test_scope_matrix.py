"""The generated scope matrix: every API route and method of the URL conf, the token scope it
needs (EXPECTED, the one table), and proof: a token with every other scope is refused with
403 `insufficient_scope` naming the scope, a token with just that scope is not refused for it.

Views declare what they need (`required_scope`, tenants/permissions.py); this table states
what they must need, so a view that drops its declaration fails here. A route missing from the
table fails `scope_cases()` at import, so a new endpoint is covered without anyone remembering.
"""

from __future__ import annotations

import uuid

import pytest
from django.urls import path
from rest_framework import viewsets

from tenants.api.base import TenantScopedViewSet
from tenants.models import ApiToken, Team
from tests.factories import issue_token
from tests.isolation import Route, api_routes

R, W, A = "read", "write", "admin"
ALL_SCOPES = frozenset(ApiToken.Scope.values)

# Routes no user token is for, each with the reason (their own tests prove it).
NO_TOKEN_ROUTES = {
    "api/v1/auth/token/": "exchanges a username and password for a token (test_auth.py)",
    "api/v1/intake/{source}/": "authenticated by the source's intake key (test_intake_api.py, "
    "test_token_scopes.py: a user token is refused)",
}

# Route -> method -> the scope a token needs. Administration needs `admin`: tenants, members,
# staff, intake sources and keys, contacts, webhooks, SLA / escalation / remediation policies
# (changes), the audit log and API tokens (reading too). The rest: `read` to read, `write` to
# change, except requesting a report, which only reads (reports/api/views.py).
EXPECTED: dict[str, dict[str, str]] = {
    "api/v1/me/": {"GET": R},
    "api/v1/sla/summary/": {"GET": R},
    "api/v1/intel/sightings/": {"GET": R},
    # the tenants app: administration
    "api/v1/tokens/": {"GET": A, "POST": A},
    "api/v1/tokens/{pk}/": {"GET": A, "DELETE": A},
    "api/v1/tenants/": {"GET": R, "POST": A},
    "api/v1/tenants/{slug}/": {"GET": R, "PATCH": A, "PUT": A},
    "api/v1/tenants/{tenant_slug}/members/": {"GET": R, "POST": A},
    "api/v1/tenants/{tenant_slug}/members/{pk}/": {"GET": R, "PATCH": A, "DELETE": A},
    "api/v1/tenants/{tenant_slug}/contacts/": {"GET": R, "POST": A},
    "api/v1/tenants/{tenant_slug}/contacts/{pk}/": {"GET": R, "PATCH": A, "DELETE": A},
    "api/v1/tenants/{tenant_slug}/webhooks/": {"GET": R, "POST": A},
    "api/v1/tenants/{tenant_slug}/webhooks/{pk}/": {"GET": R, "PATCH": A, "DELETE": A},
    "api/v1/tenants/{tenant_slug}/channels/": {"GET": R, "POST": A},
    "api/v1/tenants/{tenant_slug}/channels/{pk}/": {"GET": R, "PATCH": A, "DELETE": A},
    "api/v1/tenants/{tenant_slug}/channels/{pk}/test/": {"POST": A},
    "api/v1/tenants/{tenant_slug}/subscriptions/": {"GET": R, "POST": A},
    "api/v1/tenants/{tenant_slug}/subscriptions/{pk}/": {"GET": R, "PATCH": A, "DELETE": A},
    # the delivery log is evidence every member reads; staff of every tier re-send
    "api/v1/tenants/{tenant_slug}/deliveries/": {"GET": R},
    "api/v1/tenants/{tenant_slug}/deliveries/{pk}/": {"GET": R},
    "api/v1/tenants/{tenant_slug}/deliveries/{pk}/retry/": {"POST": W},
    "api/v1/tenants/{tenant_slug}/sources/": {"GET": R, "POST": A},
    "api/v1/tenants/{tenant_slug}/sources/{pk}/": {"GET": R, "PATCH": A, "DELETE": A},
    "api/v1/tenants/{tenant_slug}/sources/{pk}/rotate-key/": {"POST": A},
    "api/v1/staff/": {"GET": R, "POST": A},
    "api/v1/staff/{pk}/": {"GET": R, "PATCH": A},
    "api/v1/staff/{pk}/sessions/": {"GET": R, "DELETE": A},
    "api/v1/staff/{pk}/sessions/{session_id}/": {"DELETE": A},
    # resetting a member's or a staff member's second factor (a lost phone) is administration
    "api/v1/staff/{pk}/second-factor/reset/": {"POST": A},
    "api/v1/tenants/{tenant_slug}/members/{pk}/second-factor/reset/": {"POST": A},
    # signed-in sessions (tenants.sessions): reading them is reading, ending them administration
    "api/v1/me/sessions/": {"GET": R},
    "api/v1/me/sessions/{pk}/": {"GET": R, "DELETE": A},
    "api/v1/me/sessions/others/": {"DELETE": A},
    "api/v1/tenants/{tenant_slug}/members/{pk}/sessions/": {"GET": R, "DELETE": A},
    "api/v1/tenants/{slug}/session-limits/": {"GET": R, "PATCH": A},
    "api/v1/tenants/{slug}/second-factor/": {"GET": R, "PATCH": A},
    # SCIM provisioning's administration: credentials and access, reading included
    "api/v1/tenants/{tenant_slug}/scim-tokens/": {"GET": A, "POST": A},
    "api/v1/tenants/{tenant_slug}/scim-tokens/{pk}/": {"GET": A, "DELETE": A},
    "api/v1/tenants/{tenant_slug}/scim-group-roles/": {"GET": A, "POST": A},
    "api/v1/tenants/{tenant_slug}/scim-group-roles/{pk}/": {"GET": A, "DELETE": A},
    # single sign-on's administration: who may sign in to the tenant, reading included
    "api/v1/tenants/{tenant_slug}/sso/": {"DELETE": A, "GET": A, "PATCH": A, "PUT": A},
    "api/v1/tenants/{tenant_slug}/sso-domains/": {"GET": A, "POST": A},
    "api/v1/tenants/{tenant_slug}/sso-domains/{pk}/": {"GET": A, "DELETE": A},
    "api/v1/tenants/{tenant_slug}/sso-domains/{pk}/check/": {"POST": A},
    "api/v1/tenants/{tenant_slug}/sso-domains/{pk}/verify/": {"POST": A},
    # the MSSP's own single sign-on: who becomes MSSP staff, reading included
    "api/v1/mssp/sso/": {"DELETE": A, "GET": A, "PATCH": A, "PUT": A},
    "api/v1/mssp/sso-domains/": {"GET": A, "POST": A},
    "api/v1/mssp/sso-domains/{pk}/": {"GET": A, "DELETE": A},
    "api/v1/mssp/sso-domains/{pk}/check/": {"POST": A},
    "api/v1/mssp/sso-group-roles/": {"GET": A, "POST": A},
    "api/v1/mssp/sso-group-roles/{pk}/": {"GET": A, "DELETE": A},
    "api/v1/audit/": {"GET": A},
    "api/v1/audit/{pk}/": {"GET": A},
    # detection tuning is the analysts' work, not administration
    "api/v1/tenants/{tenant_slug}/suppression-rules/": {"GET": R, "POST": W},
    "api/v1/tenants/{tenant_slug}/suppression-rules/{pk}/": {"GET": R, "PATCH": W, "DELETE": W},
    "api/v1/tenants/{tenant_slug}/correlation-rules/": {"GET": R, "POST": W},
    "api/v1/tenants/{tenant_slug}/correlation-rules/{pk}/": {"GET": R, "PATCH": W, "DELETE": W},
    # alerts and incidents
    "api/v1/alerts/": {"GET": R},
    "api/v1/alerts/{pk}/": {"GET": R},
    "api/v1/alerts/{pk}/open-incident/": {"POST": W},
    "api/v1/incidents/": {"GET": R, "POST": W},
    "api/v1/incidents/bulk/": {"POST": W},
    # exporting the list reads it (step-up is a session's; a token goes by its scopes)
    "api/v1/incidents/export/": {"GET": R},
    "api/v1/incidents/{pk}/": {"GET": R},
    "api/v1/incidents/{pk}/acknowledge/": {"POST": W},
    "api/v1/incidents/{pk}/assign/": {"POST": W},
    "api/v1/incidents/{pk}/claim/": {"POST": W},
    "api/v1/incidents/{pk}/comments/": {"GET": R, "POST": W},
    "api/v1/incidents/{pk}/containment/": {"GET": R, "POST": W},
    "api/v1/incidents/{pk}/merge/": {"POST": W},
    "api/v1/incidents/{pk}/timeline/": {"GET": R},
    "api/v1/incidents/{pk}/transition/": {"POST": W},
    "api/v1/incidents/{pk}/escalate/": {"POST": W},
    "api/v1/queue/": {"GET": R},
    # case work: opening an incident, promoting alerts, tasks are work; templates are policy
    "api/v1/incidents/{pk}/promote/": {"POST": W},
    "api/v1/incidents/{pk}/tasks/": {"GET": R, "POST": W},
    # observables are case work: reading them (and similar incidents) reads, the rest writes
    "api/v1/incidents/{pk}/observables/": {"GET": R, "POST": W},
    "api/v1/incidents/{pk}/observables/{oid}/": {"PATCH": W, "DELETE": W},
    "api/v1/incidents/{pk}/similar/": {"GET": R},
    "api/v1/incidents/{pk}/apply-template/": {"POST": W},
    # classifying (TLP, PAP) an incident or one of its items is case work
    "api/v1/incidents/{pk}/classify/": {"POST": W},
    "api/v1/tasks/": {"GET": R},
    "api/v1/tasks/{pk}/": {"GET": R, "PATCH": W},
    "api/v1/tasks/{pk}/status/": {"POST": W},
    # evidence: reading and downloading is reading, adding and deleting files is work
    "api/v1/incidents/{pk}/attachments/": {"GET": R, "POST": W},
    # connectors: a customer's tools and their credentials are administration; testing one is
    # work. Enrichment: reading what is known is reading, asking the sources is work.
    "api/v1/connectors/": {"GET": R, "POST": A},
    "api/v1/connectors/{pk}/": {"GET": R, "PATCH": A, "DELETE": A},
    "api/v1/connectors/{pk}/test/": {"POST": W},
    "api/v1/connectors/{pk}/calls/": {"GET": R},
    "api/v1/connectors/kinds/": {"GET": R},
    "api/v1/incidents/{pk}/enrichments/": {"GET": R},
    "api/v1/incidents/{pk}/observables/{oid}/enrich/": {"POST": W},
    # response actions: asking, approving, rejecting and reversing are work; the contract
    # (which actions need the customer's approval) is administration
    "api/v1/incidents/{pk}/actions/": {"GET": R, "POST": W},
    "api/v1/actions/": {"GET": R},
    "api/v1/actions/{pk}/": {"GET": R},
    "api/v1/actions/{pk}/approve/": {"POST": W},
    "api/v1/actions/{pk}/reject/": {"POST": W},
    "api/v1/actions/{pk}/reverse/": {"POST": W},
    "api/v1/action-policies/": {"GET": R, "POST": A},
    "api/v1/action-policies/{pk}/": {"GET": R, "PATCH": A},
    "api/v1/incidents/{incident_pk}/attachments/{pk}/": {"GET": R, "DELETE": W},
    "api/v1/incidents/{incident_pk}/attachments/{pk}/download/": {"GET": R},
    "api/v1/case-templates/": {"GET": R, "POST": A},
    "api/v1/case-templates/{pk}/": {"GET": R, "PATCH": A, "DELETE": A},
    # custom incident fields: their definitions are policy, setting an incident's values work
    "api/v1/custom-fields/": {"GET": R, "POST": A},
    "api/v1/custom-fields/{pk}/": {"GET": R, "PATCH": A},
    # the MSSP's field library: read; adopting one is POST custom-fields/ (admin)
    "api/v1/custom-field-library/": {"GET": R},
    "api/v1/incidents/{pk}/custom-fields/": {"POST": W},
    "api/v1/hunts/": {"GET": R, "POST": W},
    # an MSSP team's own channels: administration, like a tenant's channels
    "api/v1/teams/{team_id}/channels/": {"GET": R, "POST": A},
    "api/v1/teams/{team_id}/channels/{pk}/": {"GET": R, "PATCH": A, "DELETE": A},
    "api/v1/teams/{team_id}/channels/{pk}/test/": {"POST": A},
    "api/v1/teams/{team_id}/channels/{pk}/deliveries/": {"GET": R},
    # a person's own paging settings
    "api/v1/me/contact-methods/": {"GET": R, "POST": W},
    "api/v1/me/contact-methods/{pk}/": {"GET": R, "DELETE": W},
    "api/v1/me/notification-rules/": {"GET": R, "POST": W},
    "api/v1/me/notification-rules/{pk}/": {"GET": R, "DELETE": W},
    "api/v1/hunts/{pk}/": {"GET": R, "PATCH": W, "DELETE": W},
    "api/v1/hunts/{pk}/results/": {"GET": R},
    "api/v1/hunts/{pk}/run/": {"POST": W},
    "api/v1/hunts/{pk}/runs/": {"GET": R},
    # SLA and escalation: policies are administration, answering hand-offs is work
    "api/v1/sla/policies/": {"GET": R, "POST": A},
    "api/v1/sla/policies/{pk}/": {"GET": R, "PATCH": A, "DELETE": A},
    "api/v1/escalations/": {"GET": R},
    "api/v1/escalations/{pk}/": {"GET": R},
    "api/v1/escalations/{pk}/accept/": {"POST": W},
    "api/v1/escalations/{pk}/decline/": {"POST": W},
    "api/v1/escalations/{pk}/withdraw/": {"POST": W},
    "api/v1/tenants/{tenant_slug}/escalation-policies/": {"GET": R, "POST": A},
    "api/v1/tenants/{tenant_slug}/escalation-policies/{pk}/": {
        "GET": R,
        "PATCH": A,
        "DELETE": A,
    },
    # reports: requesting one derives a document from what the caller reads
    "api/v1/reports/": {"GET": R, "POST": R},
    "api/v1/reports/{pk}/": {"GET": R},
    "api/v1/reports/{pk}/csv/": {"GET": R},
    "api/v1/reports/{pk}/pdf/": {"GET": R},
    # an incident's post-incident report: writing, approving, sharing and reopening it is work
    "api/v1/incidents/{pk}/report/": {"GET": R, "POST": W, "PATCH": W},
    "api/v1/incidents/{pk}/report/approve/": {"POST": W},
    "api/v1/incidents/{pk}/report/share/": {"POST": W},
    "api/v1/incidents/{pk}/report/reopen/": {"POST": W},
    "api/v1/incidents/{pk}/report/pdf/": {"GET": R},
    # findings: remediation targets are policies (administration), the rest is work
    "api/v1/findings/": {"GET": R},
    "api/v1/findings/{pk}/": {"GET": R},
    "api/v1/findings/{pk}/accept-risk/": {"POST": W},
    "api/v1/findings/{pk}/false-positive/": {"POST": W},
    "api/v1/findings/{pk}/mark-remediated/": {"POST": W},
    "api/v1/findings/{pk}/reopen/": {"POST": W},
    "api/v1/findings/{pk}/reject-remediation/": {"POST": W},
    "api/v1/findings/{pk}/start-remediation/": {"POST": W},
    "api/v1/findings/{pk}/timeline/": {"GET": R},
    "api/v1/findings/{pk}/verify/": {"POST": W},
    "api/v1/findings/imports/": {"GET": R, "POST": W},
    "api/v1/findings/imports/{pk}/": {"GET": R},
    "api/v1/findings/engagements/": {"GET": R, "POST": W},
    "api/v1/findings/engagements/{pk}/": {"GET": R, "PATCH": W},
    "api/v1/findings/remediation-slas/": {"GET": R, "POST": A},
    "api/v1/findings/remediation-slas/{pk}/": {"GET": R, "PATCH": A, "DELETE": A},
    # threat intelligence
    "api/v1/intel/indicators/": {"GET": R, "POST": W},
    "api/v1/intel/indicators/{pk}/": {"GET": R, "PATCH": W, "DELETE": W},
    "api/v1/intel/imports/": {"GET": R, "POST": W},
    "api/v1/intel/imports/{pk}/": {"GET": R},
    "api/v1/intel/retro-hunts/": {"GET": R},
    "api/v1/intel/retro-hunts/{pk}/": {"GET": R},
    "api/v1/intel/matches/": {"GET": R},
    "api/v1/intel/matches/{pk}/": {"GET": R},
    "api/v1/intel/matches/{pk}/raise/": {"POST": W},
    # on-call schedules: a schedule is administration, an override (imported ones too) is work
    "api/v1/schedules/": {"GET": R, "POST": A},
    "api/v1/schedules/{pk}/": {"GET": R, "PATCH": A, "DELETE": A},
    "api/v1/schedules/{pk}/oncall/": {"GET": R},
    "api/v1/schedules/{pk}/shifts/": {"GET": R},
    "api/v1/schedules/{pk}/ical/": {"GET": R},
    # a subscription link reads the schedule: viewers (read-only tokens) subscribe too
    "api/v1/schedules/{pk}/feed-link/": {"GET": R, "POST": R, "DELETE": R},
    "api/v1/schedules/{pk}/overrides/": {"GET": R, "POST": W},
    "api/v1/schedules/{pk}/import-ical/": {"POST": W},
    "api/v1/schedules/overrides/{pk}/": {"GET": R, "DELETE": W},
}


class MissingScopeCase(AssertionError):
    """An API route or method the scope table does not state."""


def scope_cases(urlpatterns=None, expected=None) -> list[tuple[Route, str, str]]:
    """(route, method, scope) for every token route of the URL conf; raises MissingScopeCase
    naming each route or method the table lacks, and each entry naming no route."""
    expected = EXPECTED if expected is None else expected
    cases, missing, seen = [], [], set()
    for route in api_routes(urlpatterns):
        if route.id in NO_TOKEN_ROUTES:
            continue
        for method in route.methods:
            scope = expected.get(route.id, {}).get(method)
            if scope is None:
                missing.append(f"{method} {route.id}")
            else:
                cases.append((route, method, scope))
                seen.add((route.id, method))
    if urlpatterns is None:
        missing += [
            f"{method} {route_id} (no such route any more)"
            for route_id, methods in expected.items()
            for method in methods
            if (route_id, method) not in seen
        ]
    if missing:
        raise MissingScopeCase(
            "No scope stated for: "
            + "; ".join(missing)
            + ". Add the route to tests/test_scope_matrix.py EXPECTED (and declare "
            "required_scope on the view when it needs more than read/write)."
        )
    return cases


CASES = scope_cases()


def test_every_api_route_states_its_scope():
    ids = {(route.id, method): scope for route, method, scope in CASES}
    assert ids[("api/v1/staff/", "POST")] == A
    assert ids[("api/v1/audit/", "GET")] == A
    assert ids[("api/v1/tenants/{tenant_slug}/sources/{pk}/rotate-key/", "POST")] == A
    assert len(CASES) >= 120


def test_a_route_missing_from_the_table_fails_the_suite():
    class TeamViewSet(TenantScopedViewSet, viewsets.ModelViewSet):
        scoped_model = Team

    extra = [path("api/v1/teams/<pk>/", TeamViewSet.as_view({"get": "retrieve"}))]
    with pytest.raises(MissingScopeCase, match="GET api/v1/teams/{pk}/"):
        scope_cases(urlpatterns=extra)


def test_no_user_token_route_is_left_unexplained():
    ids = {route.id for route in api_routes()}
    assert set(NO_TOKEN_ROUTES) <= ids


def url_of(route: Route, world) -> str:
    values = {
        "tenant_slug": world["a"].slug,
        "slug": world["a"].slug,
        "team_id": uuid.uuid4(),  # a team nobody has: the scope is checked first
        "oid": uuid.uuid4(),  # an observable nobody has, likewise
        "incident_pk": uuid.uuid4(),  # likewise an incident
        "session_id": uuid.uuid4(),  # a session nobody has, likewise
        # an object nobody has: the scope is checked before any lookup, and nothing changes
        "pk": 987654321
        if getattr(route.view, "lookup_value_converter", "") == "int"
        else uuid.uuid4(),
    }
    return route.url(**{name: values[name] for name in route.params})


def send(world, route: Route, method: str, scopes: frozenset[str]):
    from rest_framework.test import APIClient

    client = APIClient()
    raw = issue_token(world["mssp_admin"], scopes=scopes)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = getattr(client, method.lower())(url_of(route, world), data={}, format="json")
    try:
        body = response.json()
    except ValueError:
        body = {}
    return response.status_code, body


@pytest.mark.django_db
@pytest.mark.parametrize(
    "route,method,scope", CASES, ids=[f"{m} {r.id} needs {s}" for r, m, s in CASES]
)
def test_a_token_needs_the_routes_scope(route, method, scope, two_tenants_of_module, db):
    # The MSSP admin's role allows every scope: only the token can be the reason to refuse.
    two_tenants = two_tenants_of_module
    status, body = send(two_tenants, route, method, ALL_SCOPES - {scope})
    assert status == 403, (status, body)
    assert body["error"] == "insufficient_scope"
    assert body["required_scope"] == scope
    assert f"lacks the '{scope}' scope" in body["detail"]

    status, body = send(two_tenants, route, method, frozenset({scope}))
    assert status < 500, (status, body)
    assert body.get("error") != "insufficient_scope", (status, body)


@pytest.mark.django_db
def test_the_openapi_schema_states_each_operations_scope():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    stated = {}
    for route, method, scope in CASES:
        operation = schema["paths"]["/" + route.id.replace("{pk}", "{id}")][method.lower()]
        stated[(route.id, method)] = (operation.get("x-required-scope"), scope)
        assert f"Token scope: `{scope}`." in operation["description"]
    wrong = {case: found for case, found in stated.items() if found[0] != found[1]}
    assert not wrong, wrong
    for route_id in NO_TOKEN_ROUTES:
        for operation in schema["paths"]["/" + route_id].values():
            assert "x-required-scope" not in operation


# /scim/v2/ is outside /api/v1/: no user token of any scope is a SCIM token. Every route that
# needs one (tests/test_isolation_matrix.py classifies them) answers a user token 401.
@pytest.mark.django_db
def test_no_user_token_opens_a_scim_route(two_tenants_of_module):
    from rest_framework.test import APIClient

    two_tenants = two_tenants_of_module
    from tests.test_isolation_matrix import scim_routes

    raw = issue_token(two_tenants["mssp_admin"], scopes=ALL_SCOPES)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    routes = [r for r in scim_routes() if r[1] != "discovery"]
    assert routes
    for _pattern, kind, has_id in routes:
        url = "/scim/v2/" + ("Users" if kind == "user" else "Groups")
        if has_id:
            url += f"/{uuid.uuid4()}"
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(client, method)(url, data={}, format="json")
            if response.status_code == 405:
                continue
            assert response.status_code == 401, (method, url, response.content)
