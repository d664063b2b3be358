"""/api/v1/tenants/{slug}/scim-tokens/ and scim-group-roles/: the settings page's actions
through the API, for the tenant's customer admins and MSSP admins only."""

from __future__ import annotations

import pytest

from provisioning.models import ScimToken
from tenants.rls import rls_bypass

from .conftest import ScimClient

pytestmark = pytest.mark.django_db


def test_mint_list_use_revoke(two_tenants, api):
    w = two_tenants
    client = api(w["a_admin"])
    created = client.post("/api/v1/tenants/tenant-a/scim-tokens/", {"name": "Okta"}, format="json")
    assert created.status_code == 201, created.content
    raw = created.json()["token"]
    assert raw.startswith("mssp_scim_")
    listed = client.get("/api/v1/tenants/tenant-a/scim-tokens/").json()
    assert [t["name"] for t in listed["results"]] == ["Okta"]
    assert "token" not in listed["results"][0]
    assert ScimClient(raw).get("Users").status_code == 200
    token_id = created.json()["id"]
    assert client.delete(f"/api/v1/tenants/tenant-a/scim-tokens/{token_id}/").status_code == 204
    assert ScimClient(raw).get("Users").status_code == 401
    again = client.delete(f"/api/v1/tenants/tenant-a/scim-tokens/{token_id}/")
    assert again.status_code == 409


def test_group_roles(two_tenants, api):
    client = api(two_tenants["a_admin"])
    url = "/api/v1/tenants/tenant-a/scim-group-roles/"
    created = client.post(url, {"group_name": "SOC", "role": "responder"}, format="json")
    assert created.status_code == 201
    assert (
        client.post(url, {"group_name": "soc", "role": "admin"}, format="json").status_code == 400
    )
    assert client.post(url, {"group_name": "X", "role": "root"}, format="json").status_code == 400
    assert client.post(url, ["not", "an", "object"], format="json").status_code == 400
    assert [m["group_name"] for m in client.get(url).json()["results"]] == ["SOC"]
    assert client.delete(f"{url}{created.json()['id']}/").status_code == 204


def test_only_admins(two_tenants, api):
    w = two_tenants
    for who in ("a_viewer", "a_responder", "analyst_a"):
        client = api(w[who])
        assert client.get("/api/v1/tenants/tenant-a/scim-tokens/").status_code == 403
        answer = client.post("/api/v1/tenants/tenant-a/scim-tokens/", {"name": "x"}, format="json")
        assert answer.status_code == 403
    assert api(w["a_admin"]).get("/api/v1/tenants/tenant-b/scim-tokens/").status_code == 404
    mssp = api(w["mssp_admin"])
    assert (
        mssp.post("/api/v1/tenants/tenant-b/scim-tokens/", {"name": "B"}, format="json").status_code
        == 201
    )
    with rls_bypass("test"):
        assert ScimToken.objects.for_tenant(w["b"]).count() == 1
