"""The contract's error shape: {"error": "<code>", "detail": "<human message>", ...}, 4xx."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


def _first_message(detail: Any) -> str:
    """A one-line human summary of DRF's nested validation detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            message = _first_message(value)
            return message if key in ("non_field_errors", "detail") else f"{key}: {message}"
        return "Invalid input."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid input."
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc) or "The request was malformed.")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.ValidationError):
        body: dict[str, Any] = {
            "error": "invalid",
            "detail": _first_message(exc.detail),
            "fields": exc.detail,
        }
    else:
        detail = getattr(exc, "detail", None)
        custom_code = getattr(exc, "error_code", None)
        body = {"error": custom_code or code, "detail": _first_message(detail) if detail else ""}
        body.update(getattr(exc, "extra", None) or {})  # e.g. insufficient_scope's scope
        # DRF's Throttled sets `wait` (seconds, or None); its stubs leave the attribute out.
        wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
        if wait:
            body["retry_after"] = int(wait)
    response.data = body
    return response


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than this endpoint accepts."
    default_code = "too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def error_response(
    status_code: int, detail: str, code: str | None = None, **extra: Any
) -> Response:
    return Response(
        {"error": code or CODES.get(status_code, "error"), "detail": detail, **extra},
        status=status_code,
    )


# Django-level handlers for /api/ paths that never reach a DRF view (unknown URL, crash).
def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"error": "not_found", "detail": "Not found."}, status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {"error": "server_error", "detail": "Something went wrong on our side; it is logged."},
        status=500,
    )
