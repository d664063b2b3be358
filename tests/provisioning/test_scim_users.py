"""SCIM Users through the real HTTP stack: create, read, list, filter, replace, patch,
deactivate, delete; each change in the tenant's audit log with the SCIM token as its actor."""

from __future__ import annotations

import pytest

from provisioning.models import ScimUser
from tenants.models import AuditEvent, Membership, User
from tenants.rls import rls_bypass

from .conftest import USER_SCHEMA, is_scim_error, patch_body, user_body

pytestmark = pytest.mark.django_db


def audit_actions(tenant):
    with rls_bypass("test"):
        return list(
            AuditEvent.objects.for_tenant(tenant)
            .filter(action__startswith="scim.")
            .values_list("action", "actor_name")
        )


def test_create_then_get_a_user(scim, two_tenants):
    created = scim["a"].post("Users", user_body("bjensen@example.com", externalId="ext-1"))
    assert created.status_code == 201, created.content
    assert created["Content-Type"].startswith("application/scim+json")
    body = created.json()
    assert body["schemas"] == [USER_SCHEMA]
    assert body["userName"] == "bjensen@example.com"
    assert body["externalId"] == "ext-1"
    assert body["active"] is True
    assert body["name"]["givenName"] == "Barbara"
    assert body["emails"][0]["value"] == "bjensen@example.com"
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["location"].endswith(f"/scim/v2/Users/{body['id']}")
    assert created["Location"] == body["meta"]["location"]
    assert created["ETag"] == body["meta"]["version"]

    got = scim["a"].get(f"Users/{body['id']}")
    assert got.status_code == 200
    assert got.json()["userName"] == "bjensen@example.com"
    assert got["ETag"] == body["meta"]["version"]
    assert scim["a"].get(f"Users/{body['id']}", HTTP_IF_NONE_MATCH=got["ETag"]).status_code == 304

    with rls_bypass("test"):
        membership = Membership.objects.for_tenant(two_tenants["a"]).get(pk=body["id"])
    # the login is the tenant's own name: never another tenant's or a staff account
    assert membership.user.username == "tenant-a/bjensen@example.com"
    assert membership.role == "viewer"
    assert not membership.user.has_usable_password()
    actions = audit_actions(two_tenants["a"])
    assert ("scim.user_created", "SCIM token 'Entra ID' (" + actions[0][1].split("(")[1]) in actions
    assert actions[0][1].startswith("SCIM token 'Entra ID'")


def test_list_paginates_with_start_index_and_count(scim, two_tenants):
    for n in range(3):
        assert scim["a"].post("Users", user_body(f"user{n}")).status_code == 201
    page = scim["a"].get("Users?startIndex=2&count=2").json()
    assert page["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    # tenant A's three fixture members and the three new ones
    assert page["totalResults"] == 6
    assert page["startIndex"] == 2
    assert page["itemsPerPage"] == 2 == len(page["Resources"])
    assert scim["a"].get("Users?count=0").json()["Resources"] == []


def test_filters(scim, two_tenants):
    scim["a"].post("Users", user_body("alice@example.com", externalId="A-1"))
    scim["a"].post("Users", user_body("bob@example.com", externalId="B-2"))

    def names(query):
        response = scim["a"].get(f"Users?filter={query}")
        assert response.status_code == 200, response.content
        return [r["userName"] for r in response.json()["Resources"]]

    assert names('userName eq "ALICE@example.com"') == ["alice@example.com"]
    assert names('externalId eq "B-2"') == ["bob@example.com"]
    assert names('externalId eq "b-2"') == []  # externalId is case-exact
    assert names('userName sw "bob" or userName sw "alice"') == [
        "alice@example.com",
        "bob@example.com",
    ]
    assert names('userName eq "nobody"') == []
    # a fixture member added in the portal is found by their name without the tenant prefix
    viewer = two_tenants["a_viewer"].username
    assert names(f'userName eq "{viewer}"') == [viewer]


@pytest.mark.parametrize(
    "query",
    [
        "userName eq",
        'userName xx "a"',
        'password eq "x"',
        "userName eq bob",
        '(userName eq "a"',
        'userName eq "a" and',
        "a" * 1200,
    ],
)
def test_a_bad_filter_is_a_scim_400(scim, query):
    is_scim_error(scim["a"].get("Users", QUERY_STRING=f"filter={query}"), 400, "invalidFilter")


def test_the_same_user_name_twice_is_a_409(scim):
    assert scim["a"].post("Users", user_body("carol")).status_code == 201
    is_scim_error(scim["a"].post("Users", user_body("CAROL")), 409, "uniqueness")


def test_replace_with_put(scim, two_tenants):
    user_id = scim["a"].post("Users", user_body("dave")).json()["id"]
    replaced = scim["a"].put(
        f"Users/{user_id}",
        user_body(
            "dave",
            name={"givenName": "David", "familyName": "Smith"},
            displayName="David Smith",
            title="Analyst",
        ),
    )
    assert replaced.status_code == 200, replaced.content
    body = replaced.json()
    assert body["name"]["givenName"] == "David"
    assert body["displayName"] == "David Smith"
    assert body["title"] == "Analyst"
    with rls_bypass("test"):
        assert User.objects.get(username="tenant-a/dave").first_name == "David"
    assert "scim.user_updated" in [a for a, _ in audit_actions(two_tenants["a"])]


def test_patch_as_entra_and_okta_send_it(scim):
    user_id = scim["a"].post("Users", user_body("erin")).json()["id"]
    entra = scim["a"].patch(
        f"Users/{user_id}",
        patch_body(
            {"op": "Replace", "path": "name.givenName", "value": "Erin"},
            {"op": "Add", "path": 'emails[type eq "work"].value', "value": "erin@new.example"},
            {
                "op": "Add",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "value": "SOC",
            },
        ),
    )
    assert entra.status_code == 200, entra.content
    body = entra.json()
    assert body["name"]["givenName"] == "Erin"
    assert body["emails"][0]["value"] == "erin@new.example"
    assert body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] == {
        "department": "SOC"
    }
    okta = scim["a"].patch(
        f"Users/{user_id}",
        patch_body({"op": "replace", "value": {"name": {"givenName": "E.", "familyName": "J."}}}),
    )
    assert okta.status_code == 200
    assert okta.json()["name"]["familyName"] == "J."
    removed = scim["a"].patch(
        f"Users/{user_id}",
        patch_body(
            {
                "op": "remove",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            }
        ),
    )
    assert removed.status_code == 200
    assert "department" not in removed.json().get(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", {}
    )


@pytest.mark.parametrize(
    "operation, scim_type",
    [
        ({"op": "replace", "path": "nosuch", "value": 1}, "invalidPath"),
        ({"op": "jump", "path": "active", "value": False}, "invalidSyntax"),
        ({"op": "remove"}, "noTarget"),
        ({"op": "replace", "path": "active", "value": "maybe"}, "invalidValue"),
        ({"op": "replace", "path": 'emails[type eq "work"', "value": "x"}, None),
        ({"op": "replace", "path": "userName", "value": ""}, "invalidValue"),
    ],
)
def test_a_bad_patch_is_a_scim_400(scim, operation, scim_type):
    user_id = scim["a"].post("Users", user_body("frank")).json()["id"]
    is_scim_error(scim["a"].patch(f"Users/{user_id}", patch_body(operation)), 400, scim_type)


def test_if_match_refuses_a_stale_version(scim):
    created = scim["a"].post("Users", user_body("gina"))
    user_id, tag = created.json()["id"], created["ETag"]
    ok = scim["a"].patch(
        f"Users/{user_id}",
        patch_body({"op": "replace", "path": "displayName", "value": "G"}),
        HTTP_IF_MATCH=tag,
    )
    assert ok.status_code == 200
    assert ok["ETag"] != tag
    stale = scim["a"].patch(
        f"Users/{user_id}",
        patch_body({"op": "replace", "path": "displayName", "value": "H"}),
        HTTP_IF_MATCH=tag,
    )
    is_scim_error(stale, 412, "invalidVers")


def test_deactivate_and_reactivate(scim, two_tenants):
    user_id = scim["a"].post("Users", user_body("hank")).json()["id"]
    off = scim["a"].patch(
        f"Users/{user_id}", patch_body({"op": "Replace", "path": "active", "value": "False"})
    )
    assert off.status_code == 200
    assert off.json()["active"] is False
    with rls_bypass("test"):
        assert not User.objects.get(username="tenant-a/hank").is_active
    # still listed, as inactive (RFC 7643 §4.1.1)
    listed = scim["a"].get('Users?filter=userName eq "hank"').json()["Resources"]
    assert listed[0]["active"] is False
    on = scim["a"].patch(
        f"Users/{user_id}", patch_body({"op": "replace", "value": {"active": True}})
    )
    assert on.json()["active"] is True
    actions = [a for a, _ in audit_actions(two_tenants["a"])]
    assert "scim.user_deactivated" in actions and "scim.user_reactivated" in actions


def test_delete_removes_the_member_and_frees_the_name(scim, two_tenants):
    user_id = scim["a"].post("Users", user_body("ivy")).json()["id"]
    assert scim["a"].delete(f"Users/{user_id}").status_code == 204
    is_scim_error(scim["a"].get(f"Users/{user_id}"), 404)
    with rls_bypass("test"):
        assert not Membership.objects.for_tenant(two_tenants["a"]).filter(pk=user_id).exists()
        assert not ScimUser.objects.for_tenant(two_tenants["a"]).exists()
    again = scim["a"].post("Users", user_body("ivy"))
    assert again.status_code == 201
    assert again.json()["id"] != user_id
    assert "scim.user_deleted" in [a for a, _ in audit_actions(two_tenants["a"])]


def test_unknown_ids_and_paths_are_scim_404s(scim):
    is_scim_error(scim["a"].get("Users/not-a-uuid"), 404)
    is_scim_error(scim["a"].get("Users/0190d6a4-0000-7000-8000-000000000000"), 404)
    is_scim_error(scim["a"].get("Nonsense"), 404)


def test_a_new_active_user_with_an_address_gets_a_set_password_link(
    scim, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert scim["a"].post("Users", user_body("mail.me@example.com")).status_code == 201
        created = scim["a"].post("Users", user_body("asleep@example.com", active=False))
        assert created.status_code == 201
    assert [m.to for m in mailoutbox] == [["mail.me@example.com"]]
    assert "/reset/" in mailoutbox[0].body


def test_attributes_and_excluded_attributes(scim):
    scim["a"].post("Users", user_body("kim"))
    only = scim["a"].get('Users?filter=userName eq "kim"&attributes=userName').json()
    assert set(only["Resources"][0]) == {"schemas", "id", "meta", "userName"}
    without = scim["a"].get('Users?filter=userName eq "kim"&excludedAttributes=emails,name').json()
    assert "emails" not in without["Resources"][0] and "name" not in without["Resources"][0]
    assert without["Resources"][0]["userName"] == "kim"


def test_filters_with_not_and_parentheses(scim):
    scim["a"].post("Users", user_body("lee", externalId="L"))
    scim["a"].post("Users", user_body("lou", externalId="M"))
    response = scim["a"].get(
        'Users?filter=(userName sw "l" and not (externalId eq "L")) or userName eq "nobody"'
    )
    assert [r["userName"] for r in response.json()["Resources"]] == ["lou"]


def test_scim_changes_are_in_the_tenants_audit_log_for_its_admin(scim, two_tenants, api):
    scim["a"].post("Users", user_body("audited"))
    rows = (
        api(two_tenants["a_admin"]).get("/api/v1/audit/?action__startswith=scim.").json()["results"]
    )
    entry = next(r for r in rows if r["action"] == "scim.user_created")
    assert "audited" in entry["summary"]
    assert "SCIM token" in str(entry)
    other = (
        api(two_tenants["b_admin"]).get("/api/v1/audit/?action__startswith=scim.").json()["results"]
    )
    assert not [r for r in other if r["action"] == "scim.user_created"]
