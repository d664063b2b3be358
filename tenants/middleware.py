"""Every signed-in request's session (tenants.sessions): one that was ended or is past its idle
or absolute limit is signed out here, before any view, and sent to the login page with a
sentence saying why (the API answers 401); a live one is marked seen."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse

from . import sessions

SIGNING_OUT_ATTR = "_mssp_session_ended"  # the logout below is not the user's own


class SessionActivityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        reason = sessions.check_request(request)
        if reason:
            response = self.signed_out(request, reason)
        else:
            response = self.get_response(request)
        sessions.set_device_cookie(request, response)
        return response

    def signed_out(self, request: HttpRequest, reason: str) -> HttpResponse:
        detail = sessions.ENDED_MESSAGES.get(reason, sessions.ENDED_MESSAGES["user"])
        setattr(request, SIGNING_OUT_ATTR, reason)
        logout(request)
        if request.path.startswith("/api/"):
            return JsonResponse({"error": "session_ended", "detail": detail}, status=401)
        messages.warning(request, detail)
        login = str(settings.LOGIN_URL)
        if request.method == "GET":
            login += "?" + urlencode({"next": request.get_full_path()})
        response = HttpResponseRedirect(login)
        if request.headers.get("HX-Request"):
            response["HX-Redirect"] = login  # an htmx fragment: the whole page goes
        return response
