"""The SCIM 2.0 endpoints under /scim/v2/ (RFC 7644): Users, Groups and the discovery
documents. The tenant is the SCIM token's, set as the request's row-level security context
before anything is read; nothing in the path or body can name another."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants import rls
from tenants.access import Access
from tenants.api.errors import PayloadTooLarge
from tenants.api.parsers import SafeJSONParser

from .. import services
from ..models import ScimGroup, ScimToken
from . import filters, schemas
from .errors import ScimError, error_body


class ScimJSONParser(SafeJSONParser):
    """application/scim+json (and application/json), with SCIM's own body limit."""

    media_type = "application/scim+json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        if stream is None:
            return {}
        raw = stream.read(schemas.MAX_BODY_BYTES + 1)
        if len(raw) > schemas.MAX_BODY_BYTES:
            raise PayloadTooLarge()
        from tenants.api.parsers import loads

        return loads(raw)


class PlainJSONParser(ScimJSONParser):
    media_type = "application/json"


class ScimRenderer(JSONRenderer):
    media_type = "application/scim+json"
    format = "scim"


class ScimView(APIView):
    """Every SCIM endpoint: SCIM error bodies for every refusal, SCIM's media type."""

    authentication_classes = []  # the SCIM token, in initial()
    permission_classes = [AllowAny]
    throttle_classes = []
    parser_classes = [ScimJSONParser, PlainJSONParser]
    renderer_classes = [ScimRenderer, JSONRenderer]
    needs_token = True
    caller: services.Caller
    # Not part of the REST API's OpenAPI schema: SCIM describes itself (/Schemas,
    # /ResourceTypes, /ServiceProviderConfig; RFC 7644 §4).
    schema = None

    def base_url(self, request: Request) -> str:
        return request.build_absolute_uri(reverse("scim-root")).rstrip("/")

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if self.needs_token:
            self.caller = self.authenticate_token(request)

    def authenticate_token(self, request: Request) -> services.Caller:
        scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not raw:
            raise ScimError(401, "Send the tenant's SCIM token as Authorization: Bearer <token>.")
        if len(raw) > 200 or not raw.isascii():
            raise ScimError(401, "The SCIM token is not valid.")
        digest = ScimToken.digest_of(raw)
        rls.present_intake_key(digest)  # row-level security admits this one token's row
        token = (
            ScimToken.objects.dangerously_unscoped("lookup by the presented SCIM token")
            .select_related("tenant")
            .filter(digest=digest)
            .first()
        )
        if token is None:
            raise ScimError(401, "The SCIM token is not valid.")
        if token.revoked_at is not None:
            raise ScimError(401, "The SCIM token has been revoked.")
        if not token.tenant.is_active:
            raise ScimError(403, "This customer is suspended: provisioning is paused.")
        rls.activate(Access(user_id=None, tenant_ids=frozenset({token.tenant_id})))
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ScimToken.objects.for_tenant(token.tenant_id).filter(pk=token.pk).update(
                last_used_at=now
            )
        return services.Caller(token, token.tenant, request._request, self.base_url(request))

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ScimError):
            error = exc
        elif isinstance(exc, PayloadTooLarge | RequestDataTooBig):
            error = ScimError(
                413, f"The body is larger than {schemas.MAX_BODY_BYTES} bytes.", "tooMany"
            )
        elif isinstance(exc, exceptions.ParseError):
            error = ScimError(400, str(exc.detail), "invalidSyntax")
        elif isinstance(exc, Http404 | exceptions.NotFound):
            error = ScimError(404, "No such resource.")
        elif isinstance(exc, exceptions.APIException):
            error = ScimError(exc.status_code, str(exc.detail))
        else:
            raise exc
        response = Response(error.body(), status=error.status)
        if error.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="scim"'
        return response

    def finalize_response(
        self, request: Request, response: Any, *args: Any, **kwargs: Any
    ) -> Response:
        final: Response = super().finalize_response(request, response, *args, **kwargs)
        rls.deactivate()
        return final

    def body_object(self, request: Request) -> Any:
        data = request.data
        if not isinstance(data, dict):
            raise ScimError(400, "The body is a JSON object.", "invalidSyntax")
        return data


def _page(request: Request) -> tuple[int, int]:
    try:
        start = int(request.query_params.get("startIndex", "1"))
        count = int(request.query_params.get("count", str(schemas.MAX_RESULTS)))
    except ValueError:
        raise ScimError(400, "startIndex and count are integers.", "invalidValue") from None
    return max(start, 1), min(max(count, 0), schemas.MAX_RESULTS)


def _project(document: dict[str, Any], request: Request) -> dict[str, Any]:
    """`attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) on top-level attributes."""
    wanted = request.query_params.get("attributes", "")
    excluded = request.query_params.get("excludedAttributes", "")
    if wanted:
        keep = {name.strip().rsplit(":", 1)[-1].lower() for name in wanted.split(",")}
        keep |= {"schemas", "id", "meta"}
        document = {k: v for k, v in document.items() if k.lower() in keep}
    if excluded:
        drop = {name.strip().rsplit(":", 1)[-1].lower() for name in excluded.split(",")}
        drop -= {"schemas", "id"}
        document = {k: v for k, v in document.items() if k.lower() not in drop}
    return document


def list_response(resources: list[dict[str, Any]], total: int, start: int) -> dict[str, Any]:
    return {
        "schemas": [schemas.LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def _one(document: dict[str, Any], request: Request, status: int = 200) -> Response:
    response = Response(_project(document, request), status=status)
    response["ETag"] = document["meta"]["version"]
    if status == 201:
        response["Location"] = document["meta"]["location"]
    return response


def _check_version(request: Request, document: dict[str, Any]) -> None:
    """If-Match (RFC 7644 §3.14): a change to a version the client has not seen is refused."""
    expected = request.META.get("HTTP_IF_MATCH", "").strip()
    if (
        expected
        and expected != "*"
        and document["meta"]["version"] not in {tag.strip() for tag in expected.split(",")}
    ):
        raise ScimError(412, "The resource changed since you read it.", "invalidVers")


class ResourceView(ScimView):
    """A SCIM resource type: list + create on the collection, read/replace/patch/delete on
    one. Subclasses say how to find, show and change their rows."""

    resource: ClassVar[str]

    def rows(self) -> Any:
        raise NotImplementedError

    def filter_attrs(self) -> dict[str, Callable[[str, Any], Any]]:
        raise NotImplementedError

    def document(self, obj: Any, request: Request) -> dict[str, Any]:
        raise NotImplementedError

    def get_one(self, resource_id: str) -> Any:
        try:
            key = uuid.UUID(resource_id)
        except ValueError:
            key = None  # as absent as a missing one
        obj = self.rows().filter(pk=key).first() if key is not None else None
        if obj is None:
            raise ScimError(404, f"No such {self.resource}.")
        return obj

    def list_or_get(self, request: Request, resource_id: str | None) -> Response:
        if resource_id is not None:
            document = self.document(self.get_one(resource_id), request)
            if request.META.get("HTTP_IF_NONE_MATCH", "").strip() == document["meta"]["version"]:
                return Response(status=304)
            return _one(document, request)
        start, count = _page(request)
        rows = self.rows()
        text = request.query_params.get("filter")
        if text is not None:
            rows = rows.filter(filters.to_q(filters.parse(text), self.filter_attrs())).distinct()
        total = rows.count()
        page = list(rows[start - 1 : start - 1 + count]) if count else []
        resources = [_project(self.document(obj, request), request) for obj in page]
        return Response(list_response(resources, total, start))


class UsersView(ResourceView):
    resource = "User"

    def rows(self) -> Any:
        return services.members(self.caller)

    def filter_attrs(self) -> Any:
        return services.user_filter_attrs(self.caller)

    def document(self, obj: Any, request: Request) -> dict[str, Any]:
        return services.user_document(self.caller, obj)

    def get(self, request: Request, resource_id: str | None = None) -> Response:
        return self.list_or_get(request, resource_id)

    def post(self, request: Request, resource_id: str | None = None) -> Response:
        if resource_id is not None:
            raise exceptions.MethodNotAllowed("POST")
        membership = services.create_user(self.caller, self.body_object(request))
        return _one(self.document(membership, request), request, status=201)

    def put(self, request: Request, resource_id: str | None = None) -> Response:
        membership = self._changing(request, resource_id)
        membership = services.replace_user(self.caller, membership, self.body_object(request))
        return _one(self.document(membership, request), request)

    def patch(self, request: Request, resource_id: str | None = None) -> Response:
        membership = self._changing(request, resource_id)
        membership = services.patch_user(self.caller, membership, self.body_object(request))
        return _one(self.document(membership, request), request)

    def delete(self, request: Request, resource_id: str | None = None) -> Response:
        membership = self._changing(request, resource_id)
        services.delete_user(self.caller, membership)
        return Response(status=204)

    def _changing(self, request: Request, resource_id: str | None) -> Any:
        if resource_id is None:
            raise exceptions.MethodNotAllowed(request.method or "")
        obj = self.get_one(resource_id)
        _check_version(request, self.document(obj, request))
        return obj


class GroupsView(ResourceView):
    resource = "Group"

    def rows(self) -> Any:
        return services.groups(self.caller)

    def filter_attrs(self) -> Any:
        return services.group_filter_attrs()

    def document(self, obj: Any, request: Request) -> dict[str, Any]:
        excluded = request.query_params.get("excludedAttributes", "").lower()
        return services.group_document(
            self.caller, obj, with_members="members" not in excluded.split(",")
        )

    def get(self, request: Request, resource_id: str | None = None) -> Response:
        return self.list_or_get(request, resource_id)

    def post(self, request: Request, resource_id: str | None = None) -> Response:
        if resource_id is not None:
            raise exceptions.MethodNotAllowed("POST")
        group = services.create_group(self.caller, self.body_object(request))
        return _one(services.group_document(self.caller, group), request, status=201)

    def put(self, request: Request, resource_id: str | None = None) -> Response:
        group = self._changing(request, resource_id)
        group = services.replace_group(self.caller, group, self.body_object(request))
        return _one(services.group_document(self.caller, group), request)

    def patch(self, request: Request, resource_id: str | None = None) -> Response:
        group = self._changing(request, resource_id)
        group = services.patch_group(self.caller, group, self.body_object(request))
        return _one(services.group_document(self.caller, group), request)

    def delete(self, request: Request, resource_id: str | None = None) -> Response:
        services.delete_group(self.caller, self._changing(request, resource_id))
        return Response(status=204)

    def _changing(self, request: Request, resource_id: str | None) -> ScimGroup:
        if resource_id is None:
            raise exceptions.MethodNotAllowed(request.method or "")
        group: ScimGroup = self.get_one(resource_id)
        _check_version(request, services.group_document(self.caller, group))
        return group


class DiscoveryView(ScimView):
    """No tenant data: readable without a token (RFC 7644 §4 allows either)."""

    needs_token = False

    def docs_url(self, request: Request) -> str:
        return request.build_absolute_uri("/api/docs/")


class ServiceProviderConfigView(DiscoveryView):
    def get(self, request: Request) -> Response:
        return Response(
            schemas.service_provider_config(self.base_url(request), self.docs_url(request))
        )


class ResourceTypesView(DiscoveryView):
    def get(self, request: Request, resource_id: str | None = None) -> Response:
        found = schemas.resource_types(self.base_url(request))
        if resource_id is not None:
            for item in found:
                if item["id"] == resource_id:
                    return Response(item)
            raise ScimError(404, f"No resource type {resource_id[:64]!r}.")
        return Response(list_response(found, len(found), 1))


class SchemasView(DiscoveryView):
    def get(self, request: Request, resource_id: str | None = None) -> Response:
        found = schemas.schemas(self.base_url(request))
        if resource_id is not None:
            for item in found:
                if item["id"] == resource_id:
                    return Response(item)
            raise ScimError(404, f"No schema {resource_id[:100]!r}.")
        return Response(list_response(found, len(found), 1))


class RootView(DiscoveryView):
    """/scim/v2/ itself: where a client's base URL points; lists nothing."""

    def get(self, request: Request) -> Response:
        raise ScimError(
            404, "Use /Users, /Groups, /ServiceProviderConfig, /ResourceTypes, /Schemas."
        )


def not_found(request: Any, *args: Any, **kwargs: Any) -> Any:
    from django.http import JsonResponse

    return JsonResponse(
        error_body(404, "No such SCIM endpoint."), status=404, content_type="application/scim+json"
    )
