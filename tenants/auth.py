"""API authentication: bearer tokens (hashed at rest, scoped, expiring, revocable) and the
lockout answer for too many failed logins."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.throttling import AnonRateThrottle

from .models import ApiToken, User
from .network import client_ip

if TYPE_CHECKING:
    from rest_framework.request import Request

# last_used_at is bookkeeping, not a log: write it at most once a minute per token.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header is 'Bearer <token>'.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        return self.authenticate_token(raw)

    def authenticate_token(self, raw: str) -> tuple[User, ApiToken]:
        token = (
            ApiToken.objects.select_related("user").filter(digest=ApiToken.digest_of(raw)).first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token is not valid.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("The token has been revoked.")
        now = timezone.now()
        if token.expires_at is not None and token.expires_at <= now:
            raise exceptions.AuthenticationFailed("The token has expired.")
        if token.parent_id is not None and not _lineage_usable(token):
            # revoking a parent revokes its children (services.token_revoke); this also holds
            # when a parent was revoked some other way
            raise exceptions.AuthenticationFailed("The token has been revoked.")
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


def token_is_live(token: ApiToken) -> bool:
    """Neither revoked nor expired, nor is any token above it."""
    return token.is_usable and (token.parent_id is None or _lineage_usable(token))


def _lineage_usable(token: ApiToken) -> bool:
    """Every token above `token` (the ones that minted it, and theirs) is still usable."""
    seen = {token.pk}
    parent_id = token.parent_id
    while parent_id is not None and parent_id not in seen:
        seen.add(parent_id)
        parent = ApiToken.objects.filter(pk=parent_id).first()
        if parent is None or not parent.is_usable:
            return False
        parent_id = parent.parent_id
    return True


class SessionAuthentication(authentication.SessionAuthentication):
    """The portal's own pages call the API with their session (and CSRF token)."""


def token_scopes(request: HttpRequest | Request) -> frozenset[str] | None:
    """The scopes the request's token carries; None when the caller used a session."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        return auth.granted_scopes
    return None


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    detail = (
        "Too many failed logins for this account from this address. "
        f"Try again in {minutes} minutes."
    )
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"error": "locked_out", "detail": detail}, status=429)
    else:
        response = render(request, "registration/locked_out.html", {"detail": detail}, status=429)
    response["Retry-After"] = retry_after
    return response


class LoginThrottle(AnonRateThrottle):
    """Logins per client address (tenants.network's rule), the API's and the login page's
    together: the lockout counts failures per username and address, this catches one address
    trying many usernames."""

    scope = "login"
    rate = "30/min"

    def get_ident(self, request: Request) -> str:
        return client_ip(request) or "unknown"


def login_throttled(request: HttpRequest) -> HttpResponse | None:
    """The login page's answer when its address used up the budget; None otherwise."""
    throttle = LoginThrottle()
    # A page's plain HttpRequest and no view: the throttle reads only the request's address
    # and user, which a Django request has as a DRF one does.
    if throttle.allow_request(request, None):  # type: ignore[arg-type]
        return None
    wait = int(throttle.wait() or 60)
    detail = f"Too many sign-in attempts from this address. Try again in {wait} seconds."
    response = render(
        request,
        "registration/locked_out.html",
        {"title": "Too many sign-in attempts", "detail": detail},
        status=429,
    )
    response["Retry-After"] = str(wait)
    return response
