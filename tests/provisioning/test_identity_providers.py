"""Entra ID's and Okta's SCIM clients, replayed over real HTTP against a live server with the
requests they send, as their documentation shows them (Microsoft: "Develop a SCIM endpoint",
the provisioning service's request sequence; Okta: "SCIM 2.0 protocol reference"), including
their quirks: Entra's capitalised ops and `emails[type eq "work"].value` paths, its manager as
a bare id, `id` and `meta` in a POST body; Okta's path-less replace of `{"active": false}`,
a password and an empty `groups` in a create, `members[value eq "..."]` removal."""

from __future__ import annotations

import httpx
import pytest

from tenants.models import Membership
from tenants.rls import rls_bypass

from .conftest import GROUP_SCHEMA, PATCH_SCHEMA, USER_SCHEMA, new_token

pytestmark = pytest.mark.django_db(transaction=True)
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def client(live_server, raw, content_type):
    # One connection a request: a kept-alive one would outlive the test in the live server's
    # thread, and close its database connection after the test's is gone.
    return httpx.Client(
        base_url=f"{live_server.url}/scim/v2",
        headers={
            "Authorization": f"Bearer {raw}",
            "Content-Type": content_type,
            "Connection": "close",
        },
        timeout=30,
    )


def patch(*operations):
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def role_of(tenant, membership_id):
    with rls_bypass("test"):
        return Membership.objects.for_tenant(tenant).get(pk=membership_id).role


def test_entra_id_provisioning_cycle(live_server, two_tenants):
    w = two_tenants
    from provisioning.models import GroupRoleMapping

    with rls_bypass("test"):
        GroupRoleMapping.objects.create(
            tenant=w["a"], group_name="SOC Responders", role="responder"
        )
    entra = client(
        live_server, new_token(w["a"], w["a_admin"]), "application/scim+json; charset=utf-8"
    )
    user_name = "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"
    found = entra.get("/Users", params={"filter": f'userName eq "{user_name}"'})
    assert found.status_code == 200 and found.json()["totalResults"] == 0
    created = entra.post(
        "/Users",
        json={
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": user_name,
            "active": True,
            "emails": [
                {
                    "primary": True,
                    "type": "work",
                    "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2b@testuser.com",
                }
            ],
            "meta": {"resourceType": "User"},
            "name": {
                "formatted": "givenName familyName",
                "familyName": "familyName",
                "givenName": "givenName",
            },
            "roles": [],
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith("application/scim+json")
    user_id = created.json()["id"]
    assert entra.get(f"/Users/{user_id}").json()["userName"] == user_name
    again = entra.post("/Users", json=created.json() | {"schemas": [USER_SCHEMA]})
    assert again.status_code == 409 and again.json()["scimType"] == "uniqueness"
    updated = entra.patch(
        f"/Users/{user_id}",
        json=patch(
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "updatedEmail@microsoft.com",
            },
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {
                "op": "Add",
                "path": f"{ENTERPRISE}:manager",
                "value": "2819c223-7f76-453a-919d-413861904646",
            },
        ),
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["emails"][0]["value"] == "updatedEmail@microsoft.com"
    assert body["name"]["familyName"] == "updatedFamilyName"
    assert body[ENTERPRISE]["manager"] == "2819c223-7f76-453a-919d-413861904646"

    group = entra.post(
        "/Groups",
        json={
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "id": "c4f7b0d8-0000-0000-0000-000000000000",  # the client's; the server's wins
            "displayName": "SOC Responders",
            "meta": {"resourceType": "Group"},
            "members": [],
            "schemas": [GROUP_SCHEMA],
        },
    )
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    assert group_id != "c4f7b0d8-0000-0000-0000-000000000000"
    listed = entra.get(
        "/Groups",
        params={"excludedAttributes": "members", "filter": 'displayName eq "SOC Responders"'},
    ).json()
    assert listed["totalResults"] == 1 and "members" not in listed["Resources"][0]
    added = entra.patch(
        f"/Groups/{group_id}",
        json=patch({"op": "Add", "path": "members", "value": [{"$ref": None, "value": user_id}]}),
    )
    assert added.status_code == 200, added.text
    assert role_of(w["a"], user_id) == "responder"
    removed = entra.patch(
        f"/Groups/{group_id}",
        json=patch(
            {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": user_id}]}
        ),
    )
    assert removed.status_code == 200
    assert role_of(w["a"], user_id) == "viewer"
    renamed = entra.patch(
        f"/Groups/{group_id}",
        json=patch({"op": "Replace", "path": "displayName", "value": "SOC Responders EMEA"}),
    )
    assert renamed.json()["displayName"] == "SOC Responders EMEA"
    disabled = entra.patch(
        f"/Users/{user_id}", json=patch({"op": "Replace", "path": "active", "value": False})
    )
    assert disabled.json()["active"] is False
    assert entra.delete(f"/Users/{user_id}").status_code == 204
    assert entra.get(f"/Users/{user_id}").status_code == 404
    assert entra.delete(f"/Groups/{group_id}").status_code == 204


def test_okta_provisioning_cycle(live_server, two_tenants):
    w = two_tenants
    okta = client(live_server, new_token(w["a"], w["a_admin"], name="Okta"), "application/json")
    listed = okta.get(
        "/Users",
        params={"filter": 'userName eq "test.user@okta.local"', "startIndex": 1, "count": 100},
    )
    assert listed.json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }
    created = okta.post(
        "/Users",
        json={
            "schemas": [USER_SCHEMA],
            "userName": "test.user@okta.local",
            "name": {"givenName": "Test", "familyName": "User"},
            "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
            "displayName": "Test User",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "password": "1mz050nq",
            "active": True,
        },
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert "password" not in user
    user_id = user["id"]
    replaced = okta.put(
        f"/Users/{user_id}",
        json={
            "schemas": [USER_SCHEMA],
            "id": user_id,
            "userName": "test.user@okta.local",
            "name": {"givenName": "Another", "familyName": "User"},
            "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
            "displayName": "Another User",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "active": True,
            "meta": {"resourceType": "User"},
        },
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"]["givenName"] == "Another"
    group = okta.post(
        "/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "Test SCIMv2", "members": []}
    )
    group_id = group.json()["id"]
    okta_patch = okta.patch(
        f"/Groups/{group_id}",
        json=patch(
            {"op": "replace", "value": {"id": group_id, "displayName": "Test SCIMv2"}},
            {
                "op": "add",
                "path": "members",
                "value": [{"value": user_id, "display": "test.user@okta.local"}],
            },
        ),
    )
    assert okta_patch.status_code == 200, okta_patch.text
    assert [m["value"] for m in okta_patch.json()["members"]] == [user_id]
    dropped = okta.patch(
        f"/Groups/{group_id}",
        json=patch({"op": "remove", "path": f'members[value eq "{user_id}"]'}),
    )
    assert dropped.json()["members"] == []
    deactivated = okta.patch(
        f"/Users/{user_id}", json=patch({"op": "replace", "value": {"active": False}})
    )
    assert deactivated.status_code == 200 and deactivated.json()["active"] is False
    assert okta.delete(f"/Groups/{group_id}").status_code == 204
    # a malformed body over the wire is a SCIM 400, never a 500
    broken = okta.post("/Users", content=b'{"schemas": [')
    assert broken.status_code == 400
    assert broken.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
