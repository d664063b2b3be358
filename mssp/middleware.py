"""Request hygiene that applies to every URL before any view runs."""

from __future__ import annotations

from django.http import HttpResponseBadRequest, JsonResponse

NUL_DETAIL = "The URL contains a NUL (%00) character."


class RejectNulMiddleware:
    """PostgreSQL cannot store or compare text with NUL characters: a query string or path that
    carries one would fail deep inside a query. Refuse it at the door with a 400."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()
        ):
            if request.path.startswith("/api/"):
                return JsonResponse({"error": "invalid", "detail": NUL_DETAIL}, status=400)
            return HttpResponseBadRequest(NUL_DETAIL)
        return self.get_response(request)
