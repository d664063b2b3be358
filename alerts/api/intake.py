"""POST /api/v1/intake/{source}/: alerts from SIEMs and sensors, authenticated by the intake
key of one source (which decides the tenant). 202 only after the alerts are committed."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from tenants import rls
from tenants.access import Access
from tenants.api.base import ScopedAPIView
from tenants.api.errors import error_response

from .. import ingest
from ..intake import KINDS, source_module
from ..intake.base import BodyError, RecordError
from ..intake.guard import IntakeRefused, source_for_key, take_quota, verify_signature


class IntakeAcceptedSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    alerts = serializers.ListField(child=serializers.UUIDField())
    duplicates = serializers.IntegerField()
    rejected = serializers.ListField(child=serializers.DictField(), required=False)


class IntakeView(ScopedAPIView):
    """Accepts one alert (a JSON object), a batch (a JSON array or NDJSON) or, for `cef`,
    CEF lines as text/plain, in the source's own format. Redelivered alerts are not stored
    twice. Optional HMAC signing per source; a per-customer quota answers 429 + Retry-After."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    parser_classes: list = []  # the body is read raw: each source parses its own format

    @extend_schema(
        request={
            "application/json": OpenApiTypes.OBJECT,
            "application/x-ndjson": OpenApiTypes.STR,
            "text/plain": OpenApiTypes.STR,
        },
        parameters=[OpenApiParameter("source", str, OpenApiParameter.PATH, enum=list(KINDS))],
        responses={
            202: IntakeAcceptedSerializer,
            400: OpenApiResponse(description="nothing in the body could be accepted"),
            401: OpenApiResponse(description="missing, invalid or revoked intake key"),
            413: OpenApiResponse(description="body or batch too large"),
            415: OpenApiResponse(description="content type this source does not take"),
            429: OpenApiResponse(description="the customer's quota is used up"),
        },
        auth=[{"bearerAuth": []}],
    )
    def post(self, request, source: str):
        try:
            return self._ingest(request, source)
        except IntakeRefused as refused:
            response = error_response(refused.status, refused.detail, code=refused.code)
            for name, value in refused.headers.items():
                response[name] = value
            return response

    def _ingest(self, request, kind: str) -> Response:
        if kind not in KINDS:
            raise Http404
        module = source_module(kind)
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != "bearer" or not raw_key.strip():
            raise IntakeRefused(
                401,
                "not_authenticated",
                "Send the source's intake key: Authorization: Bearer <key>.",
            )
        source = source_for_key(raw_key.strip())
        if source.kind != kind:
            raise IntakeRefused(
                400,
                "wrong_source",
                f"This key belongs to a {source.kind} source; post to "
                f"/api/v1/intake/{source.kind}/.",
            )
        rls.activate(Access(user_id=None, tenant_ids=frozenset({source.tenant_id})))
        content_type = request.content_type.split(";")[0].strip().lower()
        if content_type not in module.CONTENT_TYPES:
            raise IntakeRefused(
                415,
                "unsupported_media_type",
                f"{kind} takes {', '.join(sorted(module.CONTENT_TYPES))}, "
                f"not {content_type or 'no content type'}.",
            )
        body = request.body  # RequestDataTooBig above DATA_UPLOAD_MAX_MEMORY_SIZE -> 413
        verify_signature(source, request.META, body)
        try:
            records = module.records(body, content_type)
        except BodyError as exc:
            raise IntakeRefused(400, "invalid", str(exc)) from None
        if len(records) > settings.INTAKE_MAX_BATCH:
            raise IntakeRefused(
                413,
                "batch_too_large",
                f"{len(records)} records in one request; at most {settings.INTAKE_MAX_BATCH}.",
            )
        if not records:
            raise IntakeRefused(400, "invalid", "The body carries no alert.")
        take_quota(source, len(records))
        parsed, rejected = [], []
        for index, record in enumerate(records):
            try:
                if isinstance(record, RecordError):
                    raise record
                parsed.append(module.parse(record))
            except RecordError as exc:
                rejected.append({"index": index, "error": str(exc)})
        if not parsed:
            return error_response(
                400,
                "No record in the body could be accepted.",
                code="invalid",
                accepted=0,
                rejected=rejected,
            )
        result = ingest.ingest(source, parsed)
        body = {
            "accepted": len(parsed),
            "alerts": result.alert_ids,
            "duplicates": result.duplicates,
        }
        if rejected:
            body["rejected"] = rejected
        return Response(body, status=202)
