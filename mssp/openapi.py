"""The OpenAPI schema's error responses: every operation documents the contract's JSON error
(`{"error": "<code>", "detail": "<human message>", ...}`, tenants.api.errors) for the 4xx
answers it can give, so a client generator, the docs and the API fuzz test (tests/test_api_fuzz.py)
know what a refusal looks like instead of finding only the success answer documented.

A drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]): one place
for what every view shares, instead of the same `responses={401: ..., 403: ...}` on each view.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "description": "The API's error shape (every 4xx answer).",
    "properties": {
        "error": {
            "type": "string",
            "description": "A machine-readable code: invalid, not_authenticated, forbidden, "
            "not_found, conflict, too_large, unsupported_media_type, throttled, ...",
        },
        "detail": {"type": "string", "description": "A one-line human message."},
        "fields": {
            "type": "object",
            "additionalProperties": {},
            "description": "400 only: the messages per field of the request.",
        },
        "retry_after": {"type": "integer", "description": "429 only: seconds to wait."},
    },
    "required": ["error", "detail"],
    "additionalProperties": {},
}

_ERROR = {"$ref": "#/components/schemas/Error"}

# Which operations can give which answer (below), and what it means.
DESCRIPTIONS = {
    "400": "Invalid input (`fields` names each problem).",
    "401": "No valid credentials: missing, unknown, expired or revoked token.",
    "403": "The caller's role or the token's scopes do not allow this.",
    "404": "No such object among the caller's tenants (another tenant's object is the same 404).",
    "4XX": "Any other refusal (conflict, body too large, unsupported media type, throttled, "
    "method not allowed ...), in the same shape.",
}


def _codes_for(operation: dict[str, Any]) -> list[str]:
    parameters = operation.get("parameters", [])
    codes = []
    if "requestBody" in operation or any(p.get("in") == "query" for p in parameters):
        codes.append("400")
    if operation.get("security") != [{}]:  # [{}]: anonymous allowed, e.g. the token exchange
        codes += ["401", "403"]
    if any(p.get("in") == "path" for p in parameters):
        codes.append("404")
    codes.append("4XX")
    return codes


def document_errors(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for code in _codes_for(operation):
                responses.setdefault(code, {"description": DESCRIPTIONS[code]})
            for code, response in responses.items():
                # A view's own description of a 4xx stays; its body is the error shape.
                if code.startswith("4") and "content" not in response:
                    response["content"] = {"application/json": {"schema": _ERROR}}
    return result
