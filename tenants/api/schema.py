"""OpenAPI descriptions of the portal's own authentication classes and of the token scope each
operation needs (drf-spectacular)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from ..auth import BearerTokenAuthentication
from ..permissions import required_scope

if TYPE_CHECKING:
    from drf_spectacular.plumbing import ComponentRegistry


# drf-spectacular registers extensions in an unannotated __init_subclass__.
class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "tenants.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (POST /api/v1/auth/token/ or /api/v1/tokens/).",
        }


class PortalSessionScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "tenants.auth.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "The portal's session (pages calling the API); needs CSRF.",
        }


class ScopedAutoSchema(AutoSchema):
    """Each operation a token may call names the scope it needs (tenants.permissions):
    `x-required-scope`, and a line of its description."""

    def get_operation(
        self,
        path: str,
        path_regex: str,
        path_prefix: str,
        method: str,
        registry: ComponentRegistry,
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None or BearerTokenAuthentication not in getattr(
            self.view, "authentication_classes", ()
        ):
            return operation  # the token exchange, intake (a source's key): no user token
        scope = required_scope(self.view, SimpleNamespace(method=method.upper()))
        operation["x-required-scope"] = scope
        line = f"Token scope: `{scope}`."
        operation["description"] = f"{operation.get('description', '')}\n\n{line}".strip()
        return operation
