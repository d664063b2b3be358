"""Every signed-in request's session (tenants.sessions): one that was ended or is past its idle
or absolute limit is signed out here, before any view, and sent to the login page with a
sentence saying why (the API answers 401); a live one is marked seen. Then the second factor
(tenants.mfa): a session of an account that must have one, and has not given it, reaches only
enrolment or the code page."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse

from . import mfa, sessions
from .models import User

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


class SecondFactorMiddleware:
    """Holds a password-only session of an account that must have a second factor: pages go
    to enrolment (no factor yet) or to the code page (a factor this session has not given),
    the API answers 403 with a sentence saying so. The Django admin asks it of everyone. The
    live stream's sockets refuse such a session themselves (tenants.consumers)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            isinstance(user, User)
            and not request.headers.get("Authorization", "").lower().startswith("bearer ")
            and not self.allowed(request.path)
            and not mfa.session_passed(request)
            and (request.path.startswith("/admin/") or mfa.must_have(user))
        ):
            return self.held(request, user)
        return self.get_response(request)

    @staticmethod
    def allowed(path: str) -> bool:
        """What a held session may still open: enrolment, the code page, logging out."""
        return path in {
            reverse("mfa_activate_totp"),
            reverse("mfa_add_webauthn"),
            reverse("mfa_reauthenticate"),
            reverse("mfa_reauthenticate_webauthn"),
            reverse("mfa_view_recovery_codes"),
            reverse("logout"),
            reverse("account_logout"),
            reverse("login"),
        } or path.startswith((settings.STATIC_URL or "/static/", "/healthz"))

    def held(self, request: HttpRequest, user: User) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"error": "second_factor_required", "detail": mfa.gate_message(user)}, status=403
            )
        target = mfa.gate_target(user)
        if request.method == "GET":
            target += "?" + urlencode({"next": request.get_full_path()})
        if not mfa.has_factor(user):
            messages.info(request, f"{mfa.why_must(user)}. Set one up to continue.")
        response = HttpResponseRedirect(target)
        if request.headers.get("HX-Request"):
            response["HX-Redirect"] = target
        return response
