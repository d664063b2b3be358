"""SCIM test helpers: a tenant's SCIM token and a client that speaks application/scim+json."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from provisioning.actions import mint_token
from tenants.access import access_for
from tenants.rls import rls_bypass

SCIM = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimClient:
    def __init__(self, raw: str | None) -> None:
        self.client = APIClient()
        if raw:
            self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    def call(self, method: str, path: str, body=None, *, raw: bytes | None = None, **headers):
        url = path if path.startswith("/") else f"/scim/v2/{path}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        kwargs = {"content_type": headers.pop("content_type", SCIM), **headers}
        return getattr(self.client, method.lower())(url, data=data, **kwargs)

    def get(self, path, **headers):
        return self.call("GET", path, **headers)

    def post(self, path, body, **headers):
        return self.call("POST", path, body, **headers)

    def put(self, path, body, **headers):
        return self.call("PUT", path, body, **headers)

    def patch(self, path, body, **headers):
        return self.call("PATCH", path, body, **headers)

    def delete(self, path, **headers):
        return self.call("DELETE", path, **headers)


def new_token(tenant, admin, name="Entra ID"):
    with rls_bypass("test fixture"):
        minted = mint_token(tenant, actor=admin, access=access_for(admin), request=None, name=name)
    return minted.raw


@pytest.fixture
def scim(two_tenants):
    """tenant A's and tenant B's SCIM clients: scim["a"], scim["b"]."""
    w = two_tenants
    return {
        "a": ScimClient(new_token(w["a"], w["a_admin"])),
        "b": ScimClient(new_token(w["b"], w["b_admin"])),
        "none": ScimClient(None),
    }


def user_body(user_name, **extra):
    body = {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [
            {
                "value": user_name if "@" in user_name else f"{user_name}@example.com",
                "type": "work",
                "primary": True,
            }
        ],
        "active": True,
    }
    body.update(extra)
    return body


def patch_body(*operations):
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def is_scim_error(response, status, scim_type=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["schemas"] == [ERROR_SCHEMA], body
    assert body["status"] == str(status)
    assert body["detail"]
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body
