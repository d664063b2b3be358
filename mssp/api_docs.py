"""The OpenAPI schema and its Swagger UI, for signed-in callers only.

The schema is no secret (the code is open), but a deployment's own schema tells an anonymous
visitor every route and version it runs, and the docs page is the one page that loads a large
third-party bundle: neither needs to face the internet. A script reads the schema with its API
token, a person reads the docs after logging in (README: API documentation).

The docs page runs under the portal's Content-Security-Policy: its inline init script and style
carry the response's nonce (templates/drf_spectacular/swagger_ui.html); it only adds data:
images, which Swagger UI's stylesheet uses for its icons.
"""

from __future__ import annotations

from csp.decorators import csp_update
from django.contrib.auth.decorators import login_required
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer


class SchemaView(SpectacularAPIView):
    def finalize_response(self, request, response, *args, **kwargs):
        # A refusal (401 for an anonymous caller) in the API's JSON error shape, not as YAML.
        if getattr(response, "exception", False):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class ApiDocsView(SpectacularSwaggerView):
    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        # drf-spectacular relaxes this for OAuth2 pop-ups, which the portal does not use.
        del response["Cross-Origin-Opener-Policy"]
        return response


api_docs = csp_update({"img-src": ["data:"]})(
    login_required(ApiDocsView.as_view(url_name="schema"))
)
