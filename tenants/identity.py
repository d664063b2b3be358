"""The portal's django-allauth: its adapters, the login form and page, and what allauth's
second-factor events do here (the session's record, the audit log, axes' failure count).

Single sign-on (allauth.socialaccount) extends the same adapter: a login through an identity
provider is one more authentication method allauth records in the session.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.account.internal.flows.login import record_authentication
from allauth.account.views import LoginView as AllauthLoginView
from allauth.core import context
from allauth.mfa import signals as mfa_signals
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.forms import ActivateTOTPForm as AllauthActivateTOTPForm
from allauth.mfa.webauthn.forms import AddWebAuthnForm as AllauthAddWebAuthnForm
from allauth.mfa.webauthn.forms import (
    AuthenticateWebAuthnForm as AllauthAuthenticateWebAuthnForm,
)
from allauth.mfa.webauthn.forms import (
    ReauthenticateWebAuthnForm as AllauthReauthenticateWebAuthnForm,
)
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.functional import cached_property

from . import audit, mfa, sealed
from .auth import login_throttled
from .models import User
from .sessions import tenant_of
from .useragent import describe


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Accounts are made by admins (and by SSO and SCIM), never by their owners."""
        return False

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        """allauth's own sensitive steps (enrolling, removing a factor, new recovery codes)
        follow the step-up rule of the portal's dangerous actions (tenants.mfa.stepped_up):
        the login counts while it is recent."""
        request = context.request
        return request is None or not mfa.stepped_up(request)

    def get_reauthentication_methods(self, user: Any) -> list[dict[str, Any]]:
        """The second factor when the account has one; the password otherwise; the identity
        provider for an account without a factor that signs in there (tenants.mfa)."""
        request = context.request
        if request is not None and request.user == user and mfa.reauthenticates_at_idp(request):
            return [
                {
                    "id": "sso_reauthenticate",
                    "description": "Sign in again at your identity provider",
                    "url": reverse("sso-reauthenticate"),
                }
            ]
        methods = super().get_reauthentication_methods(user)
        second = [m for m in methods if str(m["id"]).startswith("mfa_reauthenticate")]
        # an account with a second factor steps up with it (a code, or a security key: allauth
        # names that one "mfa_reauthenticate:webauthn"), never with the password alone
        return second or methods


class MFAAdapter(DefaultMFAAdapter):
    """TOTP secrets are sealed at rest like the other secrets the portal holds."""

    def encrypt(self, text: str) -> str:
        return sealed.seal({"totp": text})

    def decrypt(self, encrypted_text: str) -> str:
        return sealed.unseal(encrypted_text).get("totp", "")

    def build_totp_svg(self, url: str) -> str:
        """The QR code as an <svg> element for the page itself: under the portal's CSP an
        image from a data: URL would not show."""
        svg = super().build_totp_svg(url)
        return svg[svg.find("<svg") :]


class LoginForm(AllauthLoginForm):
    """allauth's login form with the field named `username`, as the lockout (axes) and the
    API's token login call it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"] = self.fields.pop("login")
        self.order_fields(["username", "password"])

    def clean_username(self) -> str:
        username = str(self.cleaned_data["username"]).strip()
        self.cleaned_data["login"] = username  # allauth's own name for it
        return username


class ActivateTOTPForm(AllauthActivateTOTPForm):
    """Enrolment: the code that activates the app is this session's second factor, given now
    (allauth's own signal of it comes only after the commit)."""

    def clean_code(self) -> str:
        code = str(super().clean_code())
        request = context.request
        record_authentication(request, self.user, "mfa", type="totp", enrolled=True)
        mfa.mark_session(request)
        return code


# What fido2 raises for a credential that is not one (a field missing, bad base64 or CBOR, a
# wrong type), where allauth catches only some: the form's "incorrect code" error, never a 500.
MALFORMED_CREDENTIAL = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _refuse_malformed() -> ValidationError:
    error: ValidationError = get_mfa_adapter().validation_error("incorrect_code")
    return error


class AddWebAuthnForm(AllauthAddWebAuthnForm):
    """Enrolling a security key: the key that signed the registration was used now, so it is
    this session's second factor (as ActivateTOTPForm for an app)."""

    def clean(self) -> dict[str, Any]:
        try:
            cleaned: dict[str, Any] = super().clean()
        except MALFORMED_CREDENTIAL:
            raise _refuse_malformed() from None
        if not self.errors and cleaned.get("credential"):
            request = context.request
            record_authentication(request, self.user, "mfa", type="webauthn", enrolled=True)
            mfa.mark_session(request)
        return cleaned


class AuthenticateWebAuthnForm(AllauthAuthenticateWebAuthnForm):
    """A security key's answer at login. The page offers a key only to an account that has
    one."""

    def clean_credential(self) -> Authenticator:
        try:
            authenticator: Authenticator = super().clean_credential()
        except MALFORMED_CREDENTIAL:
            raise _refuse_malformed() from None
        return authenticator

    @cached_property
    def has_keys(self) -> bool:
        return bool(
            Authenticator.objects.filter(
                user_id=self.user.pk, type=Authenticator.Type.WEBAUTHN
            ).exists()
        )


class ReauthenticateWebAuthnForm(AllauthReauthenticateWebAuthnForm):
    """A security key's answer at step-up; a malformed one is refused like a wrong one."""

    def clean_credential(self) -> Authenticator:
        try:
            authenticator: Authenticator = super().clean_credential()
        except MALFORMED_CREDENTIAL:
            raise _refuse_malformed() from None
        return authenticator


class LoginView(AllauthLoginView):
    """/login/: allauth's login, throttled per address like the API's token login."""

    template_name = "account/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return login_throttled(request) or super().post(request, *args, **kwargs)


# --- allauth's second-factor events ----------------------------------------------------------
def _audit(request: HttpRequest | None, user: User, action: str, summary: str, **data: Any) -> None:
    tenant = tenant_of(user)
    audit.record(
        action,
        actor=user,
        tenant=tenant,
        obj=user,
        request=request,
        summary=summary,
        data={
            "device": describe(request.META.get("HTTP_USER_AGENT", "")) if request else "",
            **data,
        },
    )


def _kind(authenticator: Authenticator) -> str:
    return str(Authenticator.Type(authenticator.type).label)


@receiver(mfa_signals.authenticator_added)
def enrolled(
    sender: object, request: HttpRequest, user: User, authenticator: Authenticator, **kwargs: Any
) -> None:
    _audit(
        request,
        user,
        "auth.mfa_enrolled",
        f"{user.username} added a second factor ({_kind(authenticator)})",
        type=authenticator.type,
    )


@receiver(mfa_signals.authenticator_removed)
def removed(
    sender: object, request: HttpRequest, user: User, authenticator: Authenticator, **kwargs: Any
) -> None:
    _audit(
        request,
        user,
        "auth.mfa_removed",
        f"{user.username} removed a second factor ({_kind(authenticator)})",
        type=authenticator.type,
    )


@receiver(mfa_signals.authenticator_reset)
def reset(
    sender: object, request: HttpRequest, user: User, authenticator: Authenticator, **kwargs: Any
) -> None:
    _audit(
        request,
        user,
        "auth.recovery_codes_regenerated",
        f"{user.username} generated new recovery codes",
        type=authenticator.type,
    )


@receiver(mfa_signals.authenticator_used)
def used(
    sender: object,
    request: HttpRequest,
    user: User,
    authenticator: Authenticator,
    reauthenticated: bool = False,
    **kwargs: Any,
) -> None:
    """At login, the session's record is made afterwards and reads allauth's record of this
    (tenants.sessions.started); inside a session, the session has given it now."""
    if request.user.is_authenticated and request.user.pk == user.pk:
        mfa.mark_session(request)
    if authenticator.type == Authenticator.Type.RECOVERY_CODES:
        _audit(
            request,
            user,
            "auth.recovery_code_used",
            f"{user.username} used a recovery code",
            reauthenticated=reauthenticated,
        )
    elif reauthenticated:
        _audit(
            request,
            user,
            "auth.step_up",
            f"{user.username} confirmed their second factor ({_kind(authenticator)})",
            type=authenticator.type,
        )


@receiver(mfa_signals.authentication_failed)
def code_refused(sender: object, request: HttpRequest, user: User, **kwargs: Any) -> None:
    """A wrong second-factor code is a failed login: audited, and counted by axes towards the
    account's lockout like a wrong password."""
    user_login_failed.send(
        sender=__name__, credentials={"username": user.username}, request=request
    )
