"""The resources this service provider has, their attributes (RFC 7643 §4, §8.7), and the
discovery documents built from them: /Schemas, /ResourceTypes, /ServiceProviderConfig."""

from __future__ import annotations

from typing import Any

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SP_CONFIG = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"

MAX_RESULTS = 200  # the most resources one list page returns (`count` above it is capped)
MAX_OPERATIONS = 1000  # PATCH operations in one request
MAX_BODY_BYTES = 512 * 1024  # a SCIM request body


def attr(
    name: str,
    type_: str = "string",
    *,
    multi: bool = False,
    required: bool = False,
    mutability: str = "readWrite",
    case_exact: bool = False,
    uniqueness: str = "none",
    sub: list[dict[str, Any]] | None = None,
    returned: str = "default",
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "type": type_,
        "multiValued": multi,
        "description": "",
        "required": required,
        "caseExact": case_exact,
        "mutability": mutability,
        "returned": returned,
        "uniqueness": uniqueness,
    }
    if sub:
        out["subAttributes"] = sub
    return out


def _multi(name: str, *, value_type: str = "string") -> dict[str, Any]:
    return attr(
        name,
        "complex",
        multi=True,
        sub=[
            attr("value", value_type),
            attr("display"),
            attr("type"),
            attr("primary", "boolean"),
        ],
    )


USER_ATTRIBUTES = [
    attr("userName", required=True, uniqueness="server"),
    attr(
        "name",
        "complex",
        sub=[
            attr("formatted"),
            attr("familyName"),
            attr("givenName"),
            attr("middleName"),
            attr("honorificPrefix"),
            attr("honorificSuffix"),
        ],
    ),
    attr("displayName"),
    attr("nickName"),
    attr("profileUrl", "reference"),
    attr("title"),
    attr("userType"),
    attr("preferredLanguage"),
    attr("locale"),
    attr("timezone"),
    attr("active", "boolean"),
    attr("password", mutability="writeOnly", returned="never"),
    _multi("emails"),
    _multi("phoneNumbers"),
    _multi("ims"),
    _multi("photos", value_type="reference"),
    attr(
        "addresses",
        "complex",
        multi=True,
        sub=[
            attr("formatted"),
            attr("streetAddress"),
            attr("locality"),
            attr("region"),
            attr("postalCode"),
            attr("country"),
            attr("type"),
            attr("primary", "boolean"),
        ],
    ),
    attr(
        "groups",
        "complex",
        multi=True,
        mutability="readOnly",
        sub=[attr("value"), attr("$ref", "reference"), attr("display"), attr("type")],
    ),
    _multi("entitlements"),
    _multi("roles"),
    _multi("x509Certificates", value_type="binary"),
]

ENTERPRISE_ATTRIBUTES = [
    attr("employeeNumber"),
    attr("costCenter"),
    attr("organization"),
    attr("division"),
    attr("department"),
    attr(
        "manager",
        "complex",
        sub=[attr("value"), attr("$ref", "reference"), attr("displayName", mutability="readOnly")],
    ),
]

GROUP_ATTRIBUTES = [
    attr("displayName", required=True, uniqueness="server"),
    attr(
        "members",
        "complex",
        multi=True,
        sub=[
            attr("value", mutability="immutable"),
            attr("$ref", "reference", mutability="immutable"),
            attr("display", mutability="readOnly"),
            attr("type", mutability="immutable"),
        ],
    ),
]

# Attributes every resource has (RFC 7643 §3.1): `id` and `meta` are the server's.
COMMON = ("schemas", "id", "externalId", "meta")


def canonical_names(attributes: list[dict[str, Any]]) -> dict[str, str]:
    """lower-cased name -> its spelling in the schema (attribute names are case-insensitive)."""
    return {a["name"].lower(): a["name"] for a in attributes} | {
        name.lower(): name for name in COMMON
    }


def sub_names(attributes: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        a["name"].lower(): {s["name"].lower(): s["name"] for s in a.get("subAttributes", [])}
        for a in attributes
    }


def _schema(
    uri: str, name: str, description: str, attributes: list[dict[str, Any]], base: str
) -> dict[str, Any]:
    return {
        "schemas": [SCHEMA],
        "id": uri,
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{uri}"},
    }


def schemas(base: str) -> list[dict[str, Any]]:
    return [
        _schema(USER, "User", "A member of the tenant", USER_ATTRIBUTES, base),
        _schema(ENTERPRISE, "EnterpriseUser", "Enterprise User", ENTERPRISE_ATTRIBUTES, base),
        _schema(GROUP, "Group", "A group of the tenant's members", GROUP_ATTRIBUTES, base),
    ]


def resource_types(base: str) -> list[dict[str, Any]]:
    return [
        {
            "schemas": [RESOURCE_TYPE],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A member of the token's tenant",
            "schema": USER,
            "schemaExtensions": [{"schema": ENTERPRISE, "required": False}],
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
        },
        {
            "schemas": [RESOURCE_TYPE],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A group of the token's tenant; mapped groups give roles",
            "schema": GROUP,
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"},
        },
    ]


def service_provider_config(base: str, docs: str) -> dict[str, Any]:
    return {
        "schemas": [SP_CONFIG],
        "documentationUri": docs,
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "The tenant's SCIM token (Settings › SCIM provisioning), "
                "sent as Authorization: Bearer <token>.",
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                "documentationUri": docs,
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base}/ServiceProviderConfig",
        },
    }
