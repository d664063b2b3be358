"""Bad input to /scim/v2/ is a SCIM 4xx error body, never a 500: malformed JSON, wrong or
missing schemas, unknown attributes, oversized bodies, wrong media types and methods, and
requests without a valid token."""

from __future__ import annotations

import pytest

from provisioning.actions import SCIM_TOKEN_REVOKE
from provisioning.models import ScimToken
from provisioning.scim.schemas import MAX_BODY_BYTES
from tenants.access import access_for
from tenants.actions import perform
from tenants.models import Tenant
from tenants.rls import rls_bypass

from .conftest import GROUP_SCHEMA, ScimClient, is_scim_error, new_token, user_body

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "raw",
    [b"{", b"[]", b"null", b'"text"', b"\xff\xfe", b'{"a": NaN}', b"[" * 100 + b"]" * 100],
)
def test_malformed_bodies(scim, raw):
    response = scim["a"].call("POST", "Users", raw=raw)
    is_scim_error(response, 400)


@pytest.mark.parametrize(
    "body, scim_type",
    [
        ({"userName": "x"}, "invalidSyntax"),  # no schemas
        ({"schemas": [GROUP_SCHEMA], "userName": "x"}, "invalidSyntax"),
        (user_body("x", schemas=[user_body("x")["schemas"][0], "urn:evil"]), "invalidSyntax"),
        (user_body("x", favouriteColour="blue"), "invalidSyntax"),
        (user_body("x", active="sometimes"), "invalidValue"),
        (user_body("has space"), "invalidValue"),
        (user_body("x", emails=[{"value": "not-an-address"}]), "invalidValue"),
        (user_body("x", name="Barbara"), "invalidValue"),
        (user_body("x" * 101), "invalidValue"),
        ({"schemas": [user_body("x")["schemas"][0]]}, "invalidValue"),  # no userName
    ],
)
def test_wrong_users_are_refused(scim, body, scim_type):
    is_scim_error(scim["a"].post("Users", body), 400, scim_type)


def test_wrong_groups_are_refused(scim):
    is_scim_error(scim["a"].post("Groups", {"schemas": [GROUP_SCHEMA]}), 400, "invalidValue")
    is_scim_error(
        scim["a"].post("Groups", {"schemas": [GROUP_SCHEMA], "displayName": "G", "owner": "x"}),
        400,
        "invalidSyntax",
    )
    is_scim_error(
        scim["a"].post("Groups", {"schemas": [GROUP_SCHEMA], "displayName": "G", "members": "x"}),
        400,
    )


def test_an_oversized_body_is_a_413(scim):
    big = user_body("big", title="x" * (MAX_BODY_BYTES + 10))
    is_scim_error(scim["a"].post("Users", big), 413)


def test_media_types_and_methods(scim):
    is_scim_error(
        scim["a"].call("POST", "Users", raw=b"userName=x", content_type="text/plain"), 415
    )
    plain_json = scim["a"].call("POST", "Users", user_body("json"), content_type="application/json")
    assert plain_json.status_code == 201
    is_scim_error(
        scim["a"].call("POST", "Users/00000000-0000-0000-0000-000000000000", user_body("y")), 405
    )
    is_scim_error(scim["a"].call("DELETE", "Users"), 405)


def test_a_bad_start_index_or_count(scim):
    is_scim_error(scim["a"].get("Users?startIndex=one"), 400, "invalidValue")
    # below 1 is read as 1, a count above the maximum as the maximum (RFC 7644 §3.4.2.4)
    assert scim["a"].get("Users?startIndex=-5&count=100000").json()["startIndex"] == 1


def test_no_token_a_wrong_token_a_revoked_token(scim, two_tenants):
    for client in (scim["none"], ScimClient("mssp_scim_wrong"), ScimClient("x" * 500)):
        response = client.get("Users")
        is_scim_error(response, 401)
        assert response["WWW-Authenticate"].startswith("Bearer")
    w = two_tenants
    raw = new_token(w["a"], w["a_admin"], name="to revoke")
    assert ScimClient(raw).get("Users").status_code == 200
    with rls_bypass("test"):
        token = ScimToken.objects.for_tenant(w["a"]).get(name="to revoke")
        perform(
            SCIM_TOKEN_REVOKE, access=access_for(w["a_admin"]), target=token, actor=w["a_admin"]
        )
    is_scim_error(ScimClient(raw).get("Users"), 401)


def test_a_user_api_token_is_not_a_scim_token(two_tenants, api):
    from tests.factories import issue_token

    raw = issue_token(two_tenants["a_admin"])
    is_scim_error(ScimClient(raw).get("Users"), 401)


def test_a_suspended_tenants_token_is_refused(scim, two_tenants):
    Tenant.objects.filter(pk=two_tenants["a"].pk).update(status="suspended")
    is_scim_error(scim["a"].get("Users"), 403)


def test_discovery_documents(scim):
    config = scim["none"].get("ServiceProviderConfig").json()
    assert config["patch"]["supported"] is True
    assert config["filter"] == {"supported": True, "maxResults": 200}
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = scim["none"].get("ResourceTypes").json()
    assert {r["id"] for r in types["Resources"]} == {"User", "Group"}
    assert scim["none"].get("ResourceTypes/User").json()["endpoint"] == "/Users"
    found = scim["none"].get("Schemas").json()
    ids = {s["id"] for s in found["Resources"]}
    assert "urn:ietf:params:scim:schemas:core:2.0:User" in ids
    user_schema = scim["none"].get("Schemas/urn:ietf:params:scim:schemas:core:2.0:User").json()
    assert any(a["name"] == "userName" for a in user_schema["attributes"])
    is_scim_error(scim["none"].get("Schemas/urn:nope"), 404)
