"""OpenAPI descriptions of the portal's own authentication classes (drf-spectacular)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (POST /api/v1/auth/token/ or /api/v1/tokens/).",
        }


class PortalSessionScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.auth.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "The portal's session (pages calling the API); needs CSRF.",
        }
