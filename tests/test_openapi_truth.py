"""The OpenAPI schema tells the truth about real answers: each case here is one the API fuzz test
(tests/test_api_fuzz.py) found misdescribed, pinned as a plain test. A real answer of the
portal is validated against the schema's own description of that operation and status."""

from __future__ import annotations

import pytest
import requests
import schemathesis

from tests.test_api_fuzz import CHECKS
from tests.test_isolation_matrix import world, world_once  # noqa: F401  (the two populated tenants)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def api_schema(django_db_blocker):
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        raw = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(raw, config=schemathesis.Config())


def assert_documented(api_schema, method: str, template: str, response) -> None:
    """The Django test response is one the schema documents: status code, content type and
    body (the fuzz test's checks), else schemathesis' FailureGroup names what differs."""
    headers: dict[str, list[str]] = {}
    for name, value in response.items():
        headers.setdefault(name.lower(), []).append(value)
    path = response.request["PATH_INFO"]
    answer = schemathesis.Response(
        status_code=response.status_code,
        headers=headers,
        content=response.content,
        request=requests.Request(method, f"http://testserver{path}").prepare(),
        elapsed=0.0,
        verify=False,
    )
    operation = api_schema[template][method]
    case = api_schema.make_case(operation=operation, path=path)
    case.validate_response(answer, checks=CHECKS)


def test_an_unowned_unresolved_incident_is_as_documented(world, api, api_schema):  # noqa: F811
    # owner and owner_team are null, resolution "" until resolved (the schema said string/enum)
    response = api(world["a_admin"]).get(f"/api/v1/incidents/{world['a_incident'].pk}/")
    assert response.status_code == 200
    body = response.json()
    assert (body["owner"], body["owner_team"], body["resolution"]) == (None, None, "")
    assert_documented(api_schema, "GET", "/api/v1/incidents/{id}/", response)


def test_the_queue_with_an_unowned_incident_is_as_documented(world, api, api_schema):  # noqa: F811
    response = api(world["analyst_a"]).get("/api/v1/queue/")
    assert response.status_code == 200 and response.json()["results"]
    assert_documented(api_schema, "GET", "/api/v1/queue/", response)


def test_a_pending_escalation_is_as_documented(world, api, api_schema):  # noqa: F811
    # responded_by is null until someone answers
    response = api(world["a_admin"]).get(f"/api/v1/escalations/{world['a_escalation'].pk}/")
    assert response.status_code == 200
    assert response.json()["responded_by"] is None
    assert_documented(api_schema, "GET", "/api/v1/escalations/{id}/", response)


def test_a_scan_import_nobody_requested_is_as_documented(world, api, api_schema):  # noqa: F811
    # an import run by a worker (no requesting user): requested_by is null
    response = api(world["a_admin"]).get(f"/api/v1/findings/imports/{world['a_scan'].pk}/")
    assert response.status_code == 200
    assert response.json()["requested_by"] is None
    assert_documented(api_schema, "GET", "/api/v1/findings/imports/{id}/", response)


def test_an_indicator_import_nobody_requested_is_as_documented(world, api, api_schema):  # noqa: F811
    response = api(world["a_admin"]).get(f"/api/v1/intel/imports/{world['a_import'].pk}/")
    assert response.status_code == 200
    assert response.json()["created_by"] is None
    assert_documented(api_schema, "GET", "/api/v1/intel/imports/{id}/", response)


def test_an_sla_summary_with_no_clock_met_is_as_documented(world, api, api_schema):  # noqa: F811
    # no clock met yet: the means are null (the schema said number)
    response = api(world["a_admin"]).get("/api/v1/sla/summary/")
    assert response.status_code == 200
    assert response.json()["mtta_seconds"] is None
    assert_documented(api_schema, "GET", "/api/v1/sla/summary/", response)


@pytest.mark.parametrize(
    ("caller", "template", "row"),
    [
        ("a_admin", "/api/v1/incidents/{id}/comments/", "a_incident"),
        ("a_admin", "/api/v1/incidents/{id}/timeline/", "a_incident"),
        ("a_admin", "/api/v1/incidents/{id}/containment/", "a_incident"),
        ("a_admin", "/api/v1/findings/{id}/timeline/", "a_finding"),
        ("analyst_a", "/api/v1/hunts/{id}/runs/", "a_saved_hunt"),
    ],
)
def test_an_objects_own_lists_are_plain_lists_as_documented(
    world,  # noqa: F811
    api,
    api_schema,
    caller,
    template,
    row,
):
    """These answer a plain JSON array; the schema said a cursor page ({"results": ...})."""
    response = api(world[caller]).get(template.replace("{id}", str(world[row].pk)))
    assert response.status_code == 200 and isinstance(response.json(), list)
    assert_documented(api_schema, "GET", template, response)


# Read-only fields that are null for some rows (no such user, team or tenant: a global
# indicator, a scheduled report, a worker's import), found null by the fuzzer or declared
# alike (`default=None`) beside one it found; the schema said plain string.
NULLABLE = [
    ("Incident", "owner"),
    ("Incident", "owner_team"),
    ("Incident", "source_kind"),
    ("SuppressionRule", "owner"),
    ("Escalation", "team"),
    ("Escalation", "requested_by"),
    ("Escalation", "responded_by"),
    ("Report", "requested_by"),
    ("HuntRun", "run_by"),
    ("Indicator", "tenant"),
    ("Indicator", "created_by"),
    ("Import", "tenant"),
    ("Import", "created_by"),
    ("RetroHunt", "tenant"),
    ("ScanImport", "requested_by"),
]


@pytest.mark.parametrize(("component", "field"), NULLABLE)
def test_fields_that_can_be_null_say_so(api_schema, component, field):
    schema = api_schema.raw_schema["components"]["schemas"][component]["properties"][field]
    assert schema.get("nullable") is True, schema


@pytest.mark.parametrize(
    ("method", "template", "url"),
    [
        (
            "GET",
            "/api/v1/incidents/{id}/",
            "/api/v1/incidents/00000000-0000-0000-0000-000000000000/",
        ),
        ("GET", "/api/v1/incidents/", "/api/v1/incidents/?cursor=not-a-cursor"),
        ("POST", "/api/v1/incidents/{id}/transition/", None),
        ("GET", "/api/v1/staff/", "/api/v1/staff/"),
    ],
)
def test_error_answers_are_documented(world, api, api_schema, method, template, url):  # noqa: F811
    """404, 400 and 403 answers were undocumented (only the success was): every operation now
    documents the contract's JSON error for its 4xx answers."""
    from tests.factories import ingest_alerts

    client = api(world["a_admin"])  # the world's tenant A (the module builds it once)
    if url is None:  # a transition to a status that does not exist
        alert_id = ingest_alerts(world["a_source"], 1)[0]
        incident_id = client.get(f"/api/v1/alerts/{alert_id}/").json()["incident"]
        url = f"/api/v1/incidents/{incident_id}/transition/"
    response = client.generic(method, url, b'{"status": "nonsense"}', "application/json")
    assert 400 <= response.status_code < 500
    assert set(response.json()) >= {"error", "detail"}
    assert_documented(api_schema, method, template, response)


def test_the_error_shape_is_a_component_of_the_schema(api_schema):
    error = api_schema.raw_schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "detail"]
    operation = api_schema.raw_schema["paths"]["/api/v1/incidents/{id}/"]["get"]
    assert {"401", "403", "404", "4XX"} <= set(operation["responses"])
    login = api_schema.raw_schema["paths"]["/api/v1/auth/token/"]["post"]
    assert "401" not in login["responses"] and "400" in login["responses"]


def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    """`manage.py spectacular --fail-on-warn --validate`: a view drf-spectacular has to guess
    about (an undocumented serializer, a path parameter of unknown type) fails here, and the
    error responses the hook adds keep the schema valid OpenAPI 3."""
    from django.core.management import call_command
    from drf_spectacular.drainage import GENERATOR_STATS

    GENERATOR_STATS.reset()  # warnings of schemas generated earlier in this process
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    assert "/api/v1/incidents/{id}/:" in out.read_text()


def test_connectors_and_enrichment_are_as_documented(world, api, api_schema):  # noqa: F811
    """A connector never tested (last_test_* null), its empty call log, and an enrichment run
    on a private address (intel only: nothing leaves), with its null score and kind."""
    admin = api(world["a_admin"])
    connector = world["a_connector"]
    response = admin.get(f"/api/v1/connectors/{connector.pk}/")
    assert response.status_code == 200 and response.json()["last_test_ok"] is None
    assert_documented(api_schema, "GET", "/api/v1/connectors/{id}/", response)
    response = admin.get("/api/v1/connectors/?purpose=enrichment")
    assert_documented(api_schema, "GET", "/api/v1/connectors/", response)
    response = admin.get(f"/api/v1/connectors/{connector.pk}/calls/")
    assert_documented(api_schema, "GET", "/api/v1/connectors/{id}/calls/", response)
    response = admin.get("/api/v1/connectors/kinds/")
    assert_documented(api_schema, "GET", "/api/v1/connectors/kinds/", response)
    incident, observable = world["a_incident"], world["a_observable"]
    template = "/api/v1/incidents/{id}/observables/{oid}/enrich/"
    response = api(world["analyst_a"]).post(
        f"/api/v1/incidents/{incident.pk}/observables/{observable.pk}/enrich/", {}, format="json"
    )
    assert response.status_code == 200 and response.json()["skipped"]
    assert response.json()["enrichments"][0]["kind"] is None
    assert_documented(api_schema, "POST", template, response)
    response = admin.get(f"/api/v1/incidents/{incident.pk}/enrichments/")
    assert response.status_code == 200 and response.json()[0]["source"] == "intel"
    assert_documented(api_schema, "GET", "/api/v1/incidents/{id}/enrichments/", response)


def test_the_mssps_own_single_sign_on_is_as_documented(world, api, api_schema):  # noqa: F811
    """The MSSP's provider (null where a tenant's has values: no metadata read), its domains
    and its group-to-staff-role mappings, and the 403 everyone but its admins gets."""
    from provisioning.models import IdentityProvider
    from tenants.rls import rls_bypass

    with rls_bypass("test fixture"):
        IdentityProvider.objects.create(
            tenant=None, issuer="https://login.mssp.example", client_id="portal"
        )
    admin = api(world["mssp_admin"])
    for template in (
        "/api/v1/mssp/sso/",
        "/api/v1/mssp/sso-domains/",
        "/api/v1/mssp/sso-group-roles/",
    ):
        response = admin.get(template)
        assert response.status_code == 200, response.content
        assert_documented(api_schema, "GET", template, response)
        refused = api(world["analyst_a"]).get(template)
        assert refused.status_code == 403
        assert_documented(api_schema, "GET", template, refused)
    template = "/api/v1/mssp/sso-domains/{id}/"
    response = admin.get(template.replace("{id}", str(world["mssp_sso_domain"].pk)))
    assert response.status_code == 200 and response.json()["domain"] == "mssp-secret.example"
    assert_documented(api_schema, "GET", template, response)


def test_a_response_action_awaiting_approval_is_as_documented(world, api, api_schema):  # noqa: F811
    """Unanswered and not run: decided_at, started_at, finished_at, respond_by's clock set,
    lifted_at null; the incident's list, the contract, and a viewer's refused approval."""
    admin = api(world["a_admin"])
    action = world["a_response"]
    response = admin.get(f"/api/v1/actions/{action.pk}/")
    assert response.status_code == 200 and response.json()["decided_at"] is None
    assert_documented(api_schema, "GET", "/api/v1/actions/{id}/", response)
    response = admin.get(f"/api/v1/incidents/{world['a_incident'].pk}/actions/")
    assert response.status_code == 200 and response.json()[0]["status"] == "awaiting_approval"
    assert_documented(api_schema, "GET", "/api/v1/incidents/{id}/actions/", response)
    response = admin.get("/api/v1/actions/?status=awaiting_approval")
    assert_documented(api_schema, "GET", "/api/v1/actions/", response)
    response = admin.get("/api/v1/action-policies/")
    assert response.status_code == 200 and response.json()["results"][0]["updated_by"] is None
    assert_documented(api_schema, "GET", "/api/v1/action-policies/", response)
    refused = api(world["a_viewer"]).post(
        f"/api/v1/actions/{action.pk}/approve/", {}, format="json"
    )
    assert refused.status_code == 403
    assert_documented(api_schema, "POST", "/api/v1/actions/{id}/approve/", refused)
