"""SCIM Groups: create, read, list, filter, replace, patch members as Entra ID and Okta send
them, delete; and the group -> role mapping re-computing members' roles at once."""

from __future__ import annotations

import pytest

from provisioning.actions import SCIM_MAPPING_ADD, SCIM_MAPPING_REMOVE
from provisioning.models import GroupRoleMapping
from tenants.access import access_for
from tenants.actions import perform
from tenants.models import AuditEvent, Membership
from tenants.rls import rls_bypass

from .conftest import GROUP_SCHEMA, is_scim_error, patch_body, user_body

pytestmark = pytest.mark.django_db


def group_body(name, *member_ids, **extra):
    return {
        "schemas": [GROUP_SCHEMA],
        "displayName": name,
        "members": [{"value": m} for m in member_ids],
        **extra,
    }


def role_of(tenant, membership_id):
    with rls_bypass("test"):
        return Membership.objects.for_tenant(tenant).get(pk=membership_id).role


def map_group(w, group_name, role, tenant="a"):
    admin = w[f"{tenant}_admin"]
    with rls_bypass("test"):
        return perform(
            SCIM_MAPPING_ADD,
            access=access_for(admin),
            target=w[tenant],
            data={"group_name": group_name, "role": role},
            actor=admin,
        )


@pytest.fixture
def people(scim):
    return [scim["a"].post("Users", user_body(f"p{n}")).json()["id"] for n in range(3)]


def test_create_get_list_filter_a_group(scim, people):
    created = scim["a"].post("Groups", group_body("SOC Responders", people[0], externalId="g-1"))
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["schemas"] == [GROUP_SCHEMA]
    assert body["displayName"] == "SOC Responders"
    assert [m["value"] for m in body["members"]] == [people[0]]
    assert body["members"][0]["display"] == "p0"
    assert body["meta"]["resourceType"] == "Group"
    assert created["ETag"] == body["meta"]["version"]
    got = scim["a"].get(f"Groups/{body['id']}").json()
    assert got["displayName"] == "SOC Responders"
    found = scim["a"].get('Groups?filter=displayName eq "soc responders"').json()
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == body["id"]
    assert scim["a"].get('Groups?filter=externalId eq "g-1"').json()["totalResults"] == 1
    slim = scim["a"].get("Groups?excludedAttributes=members").json()["Resources"][0]
    assert "members" not in slim
    # the user shows the group it is in
    user = scim["a"].get(f"Users/{people[0]}").json()
    assert user["groups"][0]["value"] == body["id"]


def test_the_same_group_name_twice_is_a_409(scim):
    assert scim["a"].post("Groups", group_body("Admins")).status_code == 201
    is_scim_error(scim["a"].post("Groups", group_body("ADMINS")), 409, "uniqueness")


def test_members_added_and_removed_as_entra_sends_them(scim, people):
    group_id = scim["a"].post("Groups", group_body("Team")).json()["id"]
    added = scim["a"].patch(
        f"Groups/{group_id}",
        patch_body(
            {"op": "Add", "path": "members", "value": [{"value": people[0]}, {"value": people[1]}]}
        ),
    )
    assert added.status_code == 200, added.content
    assert {m["value"] for m in added.json()["members"]} == {people[0], people[1]}
    removed = scim["a"].patch(
        f"Groups/{group_id}",
        patch_body({"op": "Remove", "path": "members", "value": [{"value": people[0]}]}),
    )
    assert [m["value"] for m in removed.json()["members"]] == [people[1]]
    renamed = scim["a"].patch(
        f"Groups/{group_id}",
        patch_body({"op": "Replace", "path": "displayName", "value": "Team 2"}),
    )
    assert renamed.json()["displayName"] == "Team 2"


def test_members_changed_as_okta_sends_them(scim, people):
    group_id = scim["a"].post("Groups", group_body("Okta group", people[0])).json()["id"]
    replaced = scim["a"].patch(
        f"Groups/{group_id}",
        patch_body(
            {
                "op": "replace",
                "value": {"id": group_id, "displayName": "Okta group"},
            },
            {"op": "add", "path": "members", "value": [{"value": people[2], "display": "p2"}]},
        ),
    )
    assert {m["value"] for m in replaced.json()["members"]} == {people[0], people[2]}
    dropped = scim["a"].patch(
        f"Groups/{group_id}",
        patch_body({"op": "remove", "path": f'members[value eq "{people[0]}"]'}),
    )
    assert [m["value"] for m in dropped.json()["members"]] == [people[2]]
    put = scim["a"].put(f"Groups/{group_id}", group_body("Okta group", people[1]))
    assert [m["value"] for m in put.json()["members"]] == [people[1]]


def test_delete_a_group(scim, people, two_tenants):
    group_id = scim["a"].post("Groups", group_body("Gone", people[0])).json()["id"]
    assert scim["a"].delete(f"Groups/{group_id}").status_code == 204
    is_scim_error(scim["a"].get(f"Groups/{group_id}"), 404)
    with rls_bypass("test"):
        actions = set(
            AuditEvent.objects.for_tenant(two_tenants["a"]).values_list("action", flat=True)
        )
    assert {"scim.group_created", "scim.group_deleted"} <= actions


def test_unknown_members_are_refused_and_nothing_is_added(scim, people):
    group_id = scim["a"].post("Groups", group_body("G", people[0])).json()["id"]
    answer = scim["a"].patch(
        f"Groups/{group_id}",
        patch_body(
            {"op": "add", "path": "members", "value": [{"value": people[1]}, {"value": "nope"}]}
        ),
    )
    is_scim_error(answer, 400, "invalidValue")
    assert [m["value"] for m in scim["a"].get(f"Groups/{group_id}").json()["members"]] == [
        people[0]
    ]


def test_group_membership_recomputes_the_role_at_once(scim, people, two_tenants):
    w = two_tenants
    map_group(w, "SOC Responders", "responder")
    map_group(w, "Portal Admins", "admin")
    assert role_of(w["a"], people[0]) == "viewer"
    responders = scim["a"].post("Groups", group_body("soc responders", people[0])).json()["id"]
    assert role_of(w["a"], people[0]) == "responder"
    admins = scim["a"].post("Groups", group_body("Portal Admins")).json()["id"]
    scim["a"].patch(
        f"Groups/{admins}",
        patch_body({"op": "add", "path": "members", "value": [{"value": people[0]}]}),
    )
    assert role_of(w["a"], people[0]) == "admin"  # the highest mapped role wins
    scim["a"].patch(
        f"Groups/{admins}",
        patch_body({"op": "remove", "path": f'members[value eq "{people[0]}"]'}),
    )
    assert role_of(w["a"], people[0]) == "responder"
    scim["a"].delete(f"Groups/{responders}")
    assert role_of(w["a"], people[0]) == "viewer"  # no mapped group: the least role
    with rls_bypass("test"):
        assert AuditEvent.objects.for_tenant(w["a"]).filter(action="scim.role_changed").count() == 4


def test_a_new_user_gets_the_least_role_and_a_new_mapping_applies_at_once(
    scim, people, two_tenants
):
    w = two_tenants
    scim["a"].post("Groups", group_body("Responders", people[1]))
    assert role_of(w["a"], people[1]) == "viewer"  # nothing mapped yet: roles stay
    mapping = map_group(w, "responders", "responder")
    assert role_of(w["a"], people[1]) == "responder"
    admin = w["a_admin"]
    with rls_bypass("test"):
        perform(SCIM_MAPPING_REMOVE, access=access_for(admin), target=mapping, actor=admin)
        assert not GroupRoleMapping.objects.for_tenant(w["a"]).exists()


def test_the_last_admin_is_never_demoted_by_a_mapping(scim, two_tenants):
    w = two_tenants
    with rls_bypass("test"):
        admin_membership = Membership.objects.for_tenant(w["a"]).get(user=w["a_admin"])
    map_group(w, "Viewers", "viewer")
    scim["a"].post("Groups", group_body("Viewers", str(admin_membership.pk)))
    assert role_of(w["a"], admin_membership.pk) == "admin"
    with rls_bypass("test"):
        assert AuditEvent.objects.for_tenant(w["a"]).filter(action="scim.role_kept").exists()


def test_a_mapping_is_refused_to_a_viewer_and_to_another_tenants_admin(two_tenants):
    from tenants.actions import Refused

    w = two_tenants
    for who in ("a_viewer", "b_admin"):
        with pytest.raises(Refused), rls_bypass("test"):
            perform(
                SCIM_MAPPING_ADD,
                access=access_for(w[who]),
                target=w["a"],
                data={"group_name": "X", "role": "admin"},
                actor=w[who],
            )


def test_a_name_taken_between_the_check_and_the_save_is_a_409(scim, monkeypatch):
    """Two identity-provider requests racing for one group name: the database's constraint
    decides, and the loser gets a SCIM 409, not a 500."""
    from provisioning import services

    assert scim["a"].post("Groups", group_body("Raced")).status_code == 201
    monkeypatch.setattr(services, "_check_group_name", lambda *args: None)
    is_scim_error(scim["a"].post("Groups", group_body("raced")), 409, "uniqueness")
    other = scim["a"].post("Groups", group_body("Other")).json()["id"]
    is_scim_error(
        scim["a"].patch(
            f"Groups/{other}",
            patch_body({"op": "replace", "path": "displayName", "value": "RACED"}),
        ),
        409,
        "uniqueness",
    )
