"""Portal pages of the tenants app: login, password, the settings pages (members, API tokens,
contacts, audit log), and `portal_view`, which every page uses."""

from __future__ import annotations

import json
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import wraps
from typing import Any, cast
from urllib.parse import urlencode

from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.paginator import Paginator
from django.db.models import Q
from django.forms import MultipleChoiceField
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse, reverse_lazy
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from . import audit, mfa, policy, rls, sessions
from .access import Access, access_for
from .actions import page_perform
from .administration import (
    CONTACT_CREATE,
    CONTACT_DELETE,
    CONTACT_UPDATE,
    DEVICE_NOTICES_SET,
    MEMBER_ADD,
    MEMBER_REMOVE,
    MEMBER_SET_ROLE,
    MFA_REQUIRED_SET,
    SECOND_FACTOR_RESET,
    SESSION_END,
    SESSION_LIMITS_SET,
    SESSIONS_END_OTHERS,
    STAFF_SESSION_END,
    TOKEN_ISSUE,
    TOKEN_REVOKE,
    USER_SESSIONS_END,
)
from .forms import (
    AuditFilterForm,
    ContactEditForm,
    ContactForm,
    MemberAddForm,
    MemberRoleForm,
    TokenCreateForm,
)
from .models import ApiToken, AuditEvent, Contact, Membership, Tenant, User, UserSession
from .selectors import get_staff_accounts
from .useragent import describe


def error_text(detail: Any) -> str:
    """A form's or serializer's errors (a DRF ValidationError, its detail, a dict of field
    errors, a list) as one human sentence for a page's message."""
    detail = getattr(detail, "detail", detail)
    if isinstance(detail, dict):
        return " ".join(
            f"{'' if field in ('detail', 'non_field_errors', '__all__') else field + ': '}"
            f"{' '.join(str(m) for m in (msgs if isinstance(msgs, list) else [msgs]))}"
            for field, msgs in detail.items()
        )
    if isinstance(detail, list):
        return " ".join(str(m) for m in detail)
    return str(detail)


def portal_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A logged-in page: computes the caller's Access, sets it as the transaction's tenant
    context (the request runs in one: ATOMIC_REQUESTS), and passes it to the view."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        access = access_for(request.user)
        rls.activate(access)
        request.access = access  # type: ignore[attr-defined]  # the project's own request attribute
        try:
            return view(request, access, *args, **kwargs)
        finally:
            rls.deactivate()

    return wrapper


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("password_change_done")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        user = cast(User, self.request.user)  # PasswordChangeView is login_required
        audit.record(
            "auth.password_changed",
            obj=user,
            request=self.request,
            tenant=access_for(self.request.user).customer_tenant_id,
            summary=f"{self.request.user.username} changed their password",
            data={"device": describe(self.request.META.get("HTTP_USER_AGENT", ""))},
        )
        return response


# --- settings pages ----------------------------------------------------------------------------
# A customer admin manages their own tenant here; an MSSP admin reaches the same pages for any
# tenant with ?tenant=<slug>. Everyone else is refused with a page that says why. Each change is
# the API's own action (tenants.administration): the same rule, serializer, service and audit
# entry; a page's form (tenants.forms) only shows each error at its input. Another tenant's
# object is the same 404 as a missing one.


@dataclass(frozen=True)
class SettingsScope:
    """The tenant a settings page administers, and how its links keep pointing at it."""

    tenant: Tenant
    query: str = ""  # "?tenant=<slug>" for an MSSP admin, "" for the tenant's own admins
    by_mssp: bool = False

    def url(self, name: str, *args: Any) -> str:
        return reverse(name, args=args) + self.query

    def tabs(self, current: str) -> list[dict[str, Any]]:
        pages = [
            ("Members", "settings-members"),
            ("Intake sources", "settings-sources"),
            ("Contacts", "settings-contacts"),
            ("Notifications", "settings-notifications"),
            ("Connectors", "settings-connectors"),  # connectors.views
            ("Sessions", "settings-sessions"),
            ("SCIM provisioning", "settings-scim"),  # provisioning.views
            ("Single sign-on", "settings-sso"),  # provisioning.sso_views
            ("Audit log", "settings-audit"),
        ]
        tabs = []
        for label, name in pages:
            try:
                url = self.url(name)
            except NoReverseMatch:
                continue
            tabs.append({"label": label, "url": url, "current": name == current})
        return tabs


def settings_render(
    request: HttpRequest,
    scope: SettingsScope,
    template: str,
    context: dict[str, Any],
    *,
    page: str,
    status: int = 200,
) -> HttpResponse:
    context = {"scope": scope, "tenant": scope.tenant, "tabs": scope.tabs(page), **context}
    return render(request, template, context, status=status)


def forbidden_page(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "tenants/settings_forbidden.html", {"reason": reason}, status=403)


def shown_once(response: HttpResponse) -> HttpResponse:
    """A page carrying a secret: no cache, no back-button copy of it."""
    add_never_cache_headers(response)
    return response


def tenant_settings_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page of one tenant's settings: view(request, access, scope, ...)."""

    @portal_view
    @wraps(view)
    def wrapper(request: HttpRequest, access: Access, *args: Any, **kwargs: Any) -> HttpResponse:
        slug = request.GET.get("tenant", "")
        if not policy.opens_tenant_settings(access):
            return forbidden_page(
                request,
                "These settings are managed by your organisation's admins. Ask one of them to "
                "make the change, or to give you the admin role.",
            )
        if access.is_customer_admin:
            # a customer admin is a customer: their tenant id is set
            tenant = Tenant.objects.get(pk=cast(int, access.customer_tenant_id))
            if slug and slug != tenant.slug:
                raise Http404
            scope = SettingsScope(tenant)
        else:  # an MSSP admin, for any tenant
            if not slug:
                if request.method != "GET":
                    raise Http404
                tenants = Tenant.objects.filter(pk__in=access.tenant_ids).order_by("name")
                return render(
                    request,
                    "tenants/settings_choose_tenant.html",
                    {"tenants": list(tenants), "path": request.path},
                )
            chosen = Tenant.objects.filter(slug=slug[:63], pk__in=access.tenant_ids).first()
            if chosen is None:
                raise Http404
            scope = SettingsScope(chosen, "?" + urlencode({"tenant": chosen.slug}), by_mssp=True)
        return view(request, access, scope, *args, **kwargs)

    return wrapper


def _member_or_404(scope: SettingsScope, member_id: uuid.UUID) -> Membership:
    membership: Membership | None = (
        Membership.objects.for_tenant(scope.tenant)
        .select_related("user", "tenant")
        .filter(pk=member_id)
        .first()
    )
    if membership is None:
        raise Http404
    return membership


def _members_page(
    request: HttpRequest,
    scope: SettingsScope,
    form: MemberAddForm,
    *,
    role_error: tuple[uuid.UUID, list[Any]] | None = None,
    status: int = 200,
) -> HttpResponse:
    members = list(
        Membership.objects.for_tenant(scope.tenant)
        .select_related("user")
        .order_by("user__username")
    )
    if not scope.by_mssp:  # a customer admin's new members get the tenant's prefix
        login = f"{scope.tenant.slug}/<username>"
        form.fields["username"].help_text = f"Letters, digits and @ . + - _ only: {login}."
    with_factor = set(
        Authenticator.objects.filter(
            user_id__in=[m.user_id for m in members], type__in=mfa.FACTOR_TYPES
        ).values_list("user_id", flat=True)
    )
    for member in members:
        member.has_second_factor = member.user_id in with_factor
        member.role_form = MemberRoleForm(
            initial={"role": member.role}, auto_id=f"id_{member.pk}_%s"
        )
        member.role_errors = role_error[1] if role_error and role_error[0] == member.pk else []
        member.is_self = member.user_id == request.user.pk
    return settings_render(
        request,
        scope,
        "tenants/settings_members.html",
        {"members": members, "form": form, "roles": Membership.Role.choices},
        page="settings-members",
        status=status,
    )


@tenant_settings_view
def settings_members(request: HttpRequest, access: Access, scope: SettingsScope) -> HttpResponse:
    if request.method != "POST":
        return _members_page(request, scope, MemberAddForm())
    form = MemberAddForm(request.POST, context={"tenant": scope.tenant, "access": access})
    if form.is_valid():
        done, _ = page_perform(
            request, MEMBER_ADD, access=access, target=scope.tenant, data=form.inputs()
        )
        if done:
            return redirect(scope.url("settings-members"))
    return _members_page(request, scope, form, status=400)


@require_POST
@tenant_settings_view
def settings_member_role(
    request: HttpRequest, access: Access, scope: SettingsScope, member_id: uuid.UUID
) -> HttpResponse:
    membership = _member_or_404(scope, member_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
        return _members_page(
            request, scope, MemberAddForm(), role_error=(membership.pk, errors), status=400
        )
    done, _ = page_perform(
        request, MEMBER_SET_ROLE, access=access, target=membership, data=form.inputs()
    )
    if not done:  # the tenant's last admin
        return _members_page(request, scope, MemberAddForm(), status=400)
    if membership.user_id == request.user.pk and membership.role != Membership.Role.ADMIN:
        return redirect("home")  # no longer an admin: these pages are closed to them now
    return redirect(scope.url("settings-members"))


@require_POST
@tenant_settings_view
def settings_member_remove(
    request: HttpRequest, access: Access, scope: SettingsScope, member_id: uuid.UUID
) -> HttpResponse:
    membership = _member_or_404(scope, member_id)
    done, _ = page_perform(request, MEMBER_REMOVE, access=access, target=membership)
    if not done:  # themselves
        return _members_page(request, scope, MemberAddForm(), status=400)
    return redirect(scope.url("settings-members"))


# --- API tokens (every user, their own) ---------------------------------------------------------
TOKENS_PER_PAGE = 50


def _tokens_page(
    request: HttpRequest,
    form: TokenCreateForm,
    *,
    created: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = cast(User, request.user)  # portal_view: signed in
    tokens = ApiToken.objects.filter(user_id=user.pk).order_by("-created_at", "-id")
    page = Paginator(tokens, TOKENS_PER_PAGE).get_page(request.GET.get("page"))
    now = timezone.now()
    for token in page:
        # a flag for the template only, not a field of the model
        token.is_expired = token.expires_at is not None and token.expires_at <= now  # type: ignore[attr-defined]
    response = render(
        request,
        "tenants/settings_tokens.html",
        {
            "page": page,
            "form": form,
            "can_create": bool(cast(MultipleChoiceField, form.fields["scopes"]).choices),
            "created": created,
        },
        status=status,
    )
    return shown_once(response) if created else response


@portal_view
def settings_tokens(request: HttpRequest, access: Access) -> HttpResponse:
    allowed = policy.scopes_allowed(access)
    if request.method != "POST":
        return _tokens_page(request, TokenCreateForm(allowed_scopes=allowed))
    form = TokenCreateForm(request.POST, allowed_scopes=allowed)
    if form.is_valid():
        done, issued = page_perform(
            request, TOKEN_ISSUE, access=access, target=request.user, data=form.inputs()
        )
        if done:
            created = {
                "title": f"Token '{issued.token.name}' created",
                "secret": issued.raw,
                "what": "Send it in the Authorization header as: Bearer, a space, then the token.",
            }
            blank = TokenCreateForm(allowed_scopes=allowed)
            return _tokens_page(request, blank, created=created)
    return _tokens_page(request, form, status=400)


@require_POST
@portal_view
def settings_token_revoke(
    request: HttpRequest, access: Access, token_id: uuid.UUID
) -> HttpResponse:
    user = cast(User, request.user)  # portal_view: signed in
    token = ApiToken.objects.filter(user_id=user.pk, pk=token_id).first()
    if token is None:
        raise Http404
    if token.revoked_at is not None:
        messages.info(request, f"'{token.name}' was already revoked.")
    else:
        page_perform(request, TOKEN_REVOKE, access=access, target=token)
    return redirect("settings-tokens")


# --- contacts ----------------------------------------------------------------------------------
def _contact_or_404(scope: SettingsScope, contact_id: uuid.UUID) -> Contact:
    contact: Contact | None = Contact.objects.for_tenant(scope.tenant).filter(pk=contact_id).first()
    if contact is None:
        raise Http404
    return contact


@tenant_settings_view
def settings_contacts(request: HttpRequest, access: Access, scope: SettingsScope) -> HttpResponse:
    form = ContactForm()
    if request.method == "POST":
        form = ContactForm(request.POST)
        if form.is_valid():
            done, _ = page_perform(
                request, CONTACT_CREATE, access=access, target=scope.tenant, data=form.inputs()
            )
            if done:
                return redirect(scope.url("settings-contacts"))
    contacts = list(Contact.objects.for_tenant(scope.tenant).order_by("name", "id"))
    return settings_render(
        request,
        scope,
        "tenants/settings_contacts.html",
        {"contacts": contacts, "form": form},
        page="settings-contacts",
        status=400 if form.is_bound else 200,
    )


@tenant_settings_view
def settings_contact_edit(
    request: HttpRequest, access: Access, scope: SettingsScope, contact_id: uuid.UUID
) -> HttpResponse:
    contact = _contact_or_404(scope, contact_id)
    form = ContactEditForm(instance=contact)
    if request.method == "POST":
        form = ContactEditForm(request.POST, instance=contact)
        if form.is_valid():
            done, _ = page_perform(
                request, CONTACT_UPDATE, access=access, target=contact, data=form.inputs()
            )
            if done:
                return redirect(scope.url("settings-contacts"))
    return settings_render(
        request,
        scope,
        "tenants/settings_contact_edit.html",
        {"contact": contact, "form": form},
        page="settings-contacts",
        status=400 if form.is_bound else 200,
    )


@require_POST
@tenant_settings_view
def settings_contact_delete(
    request: HttpRequest, access: Access, scope: SettingsScope, contact_id: uuid.UUID
) -> HttpResponse:
    contact = _contact_or_404(scope, contact_id)
    page_perform(request, CONTACT_DELETE, access=access, target=contact)
    return redirect(scope.url("settings-contacts"))


# --- audit log ---------------------------------------------------------------------------------
AUDIT_PAGE_SIZE = 50


def _audit_cursor(event: AuditEvent) -> str:
    return f"{event.at.isoformat()}|{event.pk}"


def _parse_audit_cursor(value: str) -> tuple[datetime, uuid.UUID] | None:
    at, _, pk = value.partition("|")
    try:
        moment = datetime.fromisoformat(at)
        return (moment, uuid.UUID(pk)) if moment.tzinfo is not None else None
    except ValueError:
        return None


@tenant_settings_view
def settings_audit(request: HttpRequest, access: Access, scope: SettingsScope) -> HttpResponse:
    """Newest first, 50 a page, keyset-paginated on (at, id): as fast on page 1,000 as on 1."""
    tz = zoneinfo.ZoneInfo(scope.tenant.timezone)
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.for_tenant(scope.tenant)
    filtered = False
    status = 200
    if form.is_bound and not form.is_valid():
        events, status = events.none(), 400
    elif form.is_bound:
        data = form.cleaned_data
        if data["action"]:
            events = events.filter(action__startswith=data["action"])
        if data["actor"]:
            events = events.filter(actor_name=data["actor"])
        if data["since"]:
            events = events.filter(at__gte=datetime.combine(data["since"], time.min, tzinfo=tz))
        if data["until"]:
            end = datetime.combine(data["until"] + timedelta(days=1), time.min, tzinfo=tz)
            events = events.filter(at__lt=end)
        filtered = any(data[k] for k in ("action", "actor", "since", "until"))
        if data["cursor"]:
            after = _parse_audit_cursor(data["cursor"])
            if after is None:
                form.add_error("cursor", "This page link is damaged; start from the newest.")
                events, status = events.none(), 400
            else:
                at, pk = after
                events = events.filter(Q(at__lt=at) | Q(at=at, id__lt=pk))
    rows = list(events.order_by("-at", "-id")[: AUDIT_PAGE_SIZE + 1])
    older = None
    if len(rows) > AUDIT_PAGE_SIZE:
        rows = rows[:AUDIT_PAGE_SIZE]
        params = {k: v for k, v in request.GET.items() if k not in ("cursor", "tenant")}
        params["cursor"] = _audit_cursor(rows[-1])
        older = scope.url("settings-audit") + ("&" if scope.query else "?") + urlencode(params)
    for row in rows:
        row.data_text = json.dumps(row.data, indent=1, ensure_ascii=False, default=str)[:4000]
    newest = scope.url("settings-audit")
    if filtered:
        params = {k: v for k, v in request.GET.items() if k not in ("cursor", "tenant")}
        newest += ("&" if scope.query else "?") + urlencode(params)
    return settings_render(
        request,
        scope,
        "tenants/settings_audit.html",
        {
            "events": rows,
            "form": form,
            "filtered": filtered,
            "older": older,
            "newest": newest if form.is_bound and form.cleaned_data.get("cursor") else None,
            "tz": tz,
        },
        page="settings-audit",
        status=status,
    )


# --- sessions (tenants.sessions): every user their own; admins their members' -----------------
@portal_view
def account_sessions(request: HttpRequest, access: Access) -> HttpResponse:
    """The caller's signed-in sessions, and the new-device e-mail switch (POST)."""
    user = cast(User, request.user)  # portal_view: signed in
    if request.method == "POST":
        data = {"notify_new_device": request.POST.get("notify_new_device") == "on"}
        page_perform(request, DEVICE_NOTICES_SET, access=access, target=user, data=data)
        return redirect("account-sessions")
    current = str(request.session.get(sessions.SESSION_RECORD, ""))
    rows = sessions.live_sessions(user.pk)
    for row in rows:
        row.is_current = str(row.pk) == current  # type: ignore[attr-defined]
        row.expires_at = sessions.deadline(row)  # type: ignore[attr-defined]
    return render(
        request,
        "tenants/account_sessions.html",
        {
            "sessions": rows,
            "others": sum(1 for row in rows if str(row.pk) != current),
            "limits": sessions.limits_of(rows[0]) if rows else sessions.mssp_limits(),
            "notify_new_device": user.notify_new_device,
            "has_email": bool(user.email),
        },
    )


@require_POST
@portal_view
def account_session_end(
    request: HttpRequest, access: Access, session_id: uuid.UUID
) -> HttpResponse:
    record = UserSession.objects.filter(pk=session_id, user_id=access.user_id or 0).first()
    if record is None or not sessions.is_live(record):
        raise Http404
    page_perform(request, SESSION_END, access=access, target=record, data={})
    # Ending the session this request came with signs it out on its next request (the
    # middleware): the login page, with the sentence that says why.
    return redirect("account-sessions")


@require_POST
@portal_view
def account_sessions_end_others(request: HttpRequest, access: Access) -> HttpResponse:
    page_perform(request, SESSIONS_END_OTHERS, access=access, target=request.user, data={})
    return redirect("account-sessions")


@require_POST
@tenant_settings_view
def settings_member_sessions_end(
    request: HttpRequest, access: Access, scope: SettingsScope, member_id: uuid.UUID
) -> HttpResponse:
    membership = _member_or_404(scope, member_id)
    page_perform(request, USER_SESSIONS_END, access=access, target=membership, data={})
    return redirect(scope.url("settings-members"))


@require_POST
@tenant_settings_view
def settings_member_second_factor_reset(
    request: HttpRequest, access: Access, scope: SettingsScope, member_id: uuid.UUID
) -> HttpResponse:
    """A member lost their device: their second factor is deleted, their sessions ended."""
    membership = _member_or_404(scope, member_id)
    page_perform(request, SECOND_FACTOR_RESET, access=access, target=membership, data={})
    return redirect(scope.url("settings-members"))


@require_POST
@tenant_settings_view
def settings_second_factor(
    request: HttpRequest, access: Access, scope: SettingsScope
) -> HttpResponse:
    """Whether every member must have a second factor (the form on the sessions page)."""
    data = {"mfa_required": request.POST.get("mfa_required") == "on"}
    page_perform(request, MFA_REQUIRED_SET, access=access, target=scope.tenant, data=data)
    return redirect(scope.url("settings-sessions"))


@tenant_settings_view
def settings_sessions(request: HttpRequest, access: Access, scope: SettingsScope) -> HttpResponse:
    """The tenant's session limits: stricter than the MSSP's, never looser."""
    status = 200
    if request.method == "POST":
        done, _ = page_perform(request, SESSION_LIMITS_SET, access=access, target=scope.tenant)
        if done:
            return redirect(scope.url("settings-sessions"))
        status = 400
        scope.tenant.refresh_from_db()
    return settings_render(
        request,
        scope,
        "tenants/settings_sessions.html",
        {
            "mssp": sessions.mssp_limits(),
            "effective": sessions.tenant_limits(scope.tenant),
            "posted": request.POST if request.method == "POST" else None,
        },
        page="settings-sessions",
        status=status,
    )


# --- MSSP staff sessions (MSSP admins) -----------------------------------------------------------
STAFF_SESSIONS_REFUSED = "Only MSSP admins see and end the sessions of MSSP staff."


def staff_admin_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page of the MSSP admins' staff administration; everyone else gets the page saying
    why (customers never see it in the navigation either)."""

    @portal_view
    @wraps(view)
    def wrapper(request: HttpRequest, access: Access, *args: Any, **kwargs: Any) -> HttpResponse:
        if not policy.reads_staff_sessions(access):
            return forbidden_page(request, STAFF_SESSIONS_REFUSED)
        return view(request, access, *args, **kwargs)

    return wrapper


def _staff_member_or_404(pk: int) -> User:
    member = get_staff_accounts().filter(pk=pk).first()
    if member is None:
        raise Http404
    return member


@staff_admin_view
def staff_sessions(request: HttpRequest, access: Access) -> HttpResponse:
    """Each staff member's live sessions (device, address, signed in, last seen), to end one or
    all; and their second factor, to reset. The staff API's actions do each change."""
    staff = list(get_staff_accounts().order_by("username"))
    live = sessions.live_sessions_of([member.pk for member in staff])
    with_factor = set(
        Authenticator.objects.filter(
            user_id__in=[member.pk for member in staff], type__in=mfa.FACTOR_TYPES
        ).values_list("user_id", flat=True)
    )
    current = str(request.session.get(sessions.SESSION_RECORD, ""))
    rows = []
    for member in staff:
        member_sessions = live.get(member.pk, [])
        for row in member_sessions:
            row.is_current = str(row.pk) == current  # type: ignore[attr-defined]
        rows.append(
            {
                "user": member,
                "sessions": member_sessions,
                "has_second_factor": member.pk in with_factor,
                "is_self": member.pk == request.user.pk,
            }
        )
    return render(
        request,
        "tenants/staff_sessions.html",
        {
            "signed_in": [row for row in rows if row["sessions"]],
            "signed_out": [row for row in rows if not row["sessions"]],
        },
    )


@require_POST
@staff_admin_view
def staff_session_end(
    request: HttpRequest, access: Access, pk: int, session_id: uuid.UUID
) -> HttpResponse:
    member = _staff_member_or_404(pk)
    record = next((r for r in sessions.live_sessions(member.pk) if r.pk == session_id), None)
    if record is None:
        raise Http404
    page_perform(request, STAFF_SESSION_END, access=access, target=record, data={})
    return redirect("mssp-staff-sessions")


@require_POST
@staff_admin_view
def staff_sessions_end(request: HttpRequest, access: Access, pk: int) -> HttpResponse:
    member = _staff_member_or_404(pk)
    page_perform(request, USER_SESSIONS_END, access=access, target=member, data={})
    return redirect("mssp-staff-sessions")


@require_POST
@staff_admin_view
def staff_second_factor_reset(request: HttpRequest, access: Access, pk: int) -> HttpResponse:
    member = _staff_member_or_404(pk)
    page_perform(request, SECOND_FACTOR_RESET, access=access, target=member, data={})
    return redirect("mssp-staff-sessions")
