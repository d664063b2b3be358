"""POST /api/v1/intake/{source}/: alerts from SIEMs and sensors, authenticated by the intake
key of one source (which decides the tenant). 202 only after the alerts are committed (the
request's transaction, ATOMIC_REQUESTS): stored, or, with INTAKE_MODE "log", in the durable
intake log with their ids (alerts.intake.log). A thin adapter of alerts.intake.receive."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from tenants.api.base import ScopedAPIView
from tenants.api.errors import error_response

from ..intake import KINDS
from ..intake.base import IntakeRefused
from ..intake.guard import SIGNATURE_HEADER, TIMESTAMP_HEADER
from ..intake.receive import receive


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
    def post(self, request, source: str) -> Response:
        # The adapter only reads the request and writes the answer; alerts.intake.receive
        # decides everything in between.
        scheme, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        try:
            receipt = receive(
                source,
                key if scheme.lower() == "bearer" else "",
                lambda: request.body,  # RequestDataTooBig over the size limit -> 413
                content_type=request.content_type,
                signature=request.META.get(SIGNATURE_HEADER, ""),
                timestamp=request.META.get(TIMESTAMP_HEADER, ""),
            )
        except IntakeRefused as refused:
            response = error_response(
                refused.status, refused.detail, code=refused.code, **refused.extra
            )
            for name, value in refused.headers.items():
                response[name] = value
            return response
        body: dict = {
            "accepted": receipt.accepted,
            "alerts": receipt.alert_ids,
            "duplicates": receipt.duplicates,
        }
        if receipt.rejected:
            body["rejected"] = [rejection.as_dict() for rejection in receipt.rejected]
        return Response(body, status=receipt.status)
