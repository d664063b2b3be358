"""SCIM errors (RFC 7644 §3.12): `urn:ietf:params:scim:api:messages:2.0:Error` bodies."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """A 4xx answer with a SCIM error body; `scim_type` is the RFC's detail error keyword
    (invalidFilter, invalidSyntax, invalidPath, invalidValue, uniqueness, mutability,
    noTarget, tooMany, invalidVers) or "" when none applies."""

    def __init__(self, status: int, detail: str, scim_type: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.detail, self.scim_type)


def error_body(status: int, detail: str, scim_type: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return body


def bad_request(detail: str, scim_type: str = "invalidValue") -> ScimError:
    return ScimError(400, detail, scim_type)
