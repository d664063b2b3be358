"""My notifications (/account/notifications/): every signed-in user's own contact methods, their
paging sequence (notification rules), and the pages that reached them lately.

Like the API's /api/v1/me/contact-methods/ and /api/v1/me/notification-rules/, the page shows
and changes only the caller's own rows: anyone else's id is the same 404 as a missing one.
Every change is the API's action (notifications.actions) through page_perform; each form runs
that action's serializer only to show its errors at their inputs. A contact method's secret
never reaches the page, not even back into the form after an error (notifications.forms).

The recent pages are tenant rows (Page): read inside the tenants the caller sees, so a page
about a tenant they no longer work is not shown."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from tenants.access import Access
from tenants.actions import Action, page_perform
from tenants.models import User
from tenants.views import portal_view

from .actions import CONTACT_METHOD_CREATE, CONTACT_METHOD_DELETE, RULE_CREATE, RULE_DELETE
from .forms import ContactMethodForm, NotificationRuleForm
from .models import ContactMethod, Delivery, NotificationRule, Page

PAGE = "my-notifications"
RECENT_PAGES = 20


@dataclass(frozen=True)
class Step:
    """A rule as the page says it: "Phone (SMS) after 5 min"."""

    rule: NotificationRule
    when: str

    @property
    def sentence(self) -> str:
        method = self.rule.contact_method
        return f"{method.label} ({method.get_kind_display()}) {self.when}"


@dataclass(frozen=True)
class PageSent:
    """A page to the caller and the deliveries it made, in the order they were written."""

    page: Page
    deliveries: list[Delivery]


def after(minutes: int) -> str:
    """A rule's delay in words: "at once", "after 5 min", "after 1 h 30 min"."""
    if minutes == 0:
        return "at once"
    hours, rest = divmod(minutes, 60)
    parts = ([f"{hours} h"] if hours else []) + ([f"{rest} min"] if rest else [])
    return "after " + " ".join(parts)


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)  # portal_view: signed in


def _method_or_404(user: User, method_id: uuid.UUID) -> ContactMethod:
    method: ContactMethod | None = ContactMethod.objects.filter(
        user_id=user.pk, pk=method_id
    ).first()
    if method is None:
        raise Http404
    return method


def _rule_or_404(user: User, rule_id: uuid.UUID) -> NotificationRule:
    rule: NotificationRule | None = NotificationRule.objects.filter(
        user_id=user.pk, pk=rule_id
    ).first()
    if rule is None:
        raise Http404
    return rule


def _recent_pages(access: Access, user: User) -> list[PageSent]:
    pages = list(
        Page.objects.for_tenants(access.tenant_ids)
        .filter(user_id=user.pk)
        .select_related("incident")
        .order_by("-created_at")[:RECENT_PAGES]
    )
    by_page: dict[uuid.UUID, list[Delivery]] = {page.pk: [] for page in pages}
    deliveries = (
        Delivery.objects.for_tenants(access.tenant_ids)
        .filter(page_id__in=list(by_page))
        .select_related("contact_method")
        .order_by("created_at")
    )
    for delivery in deliveries:
        if delivery.page_id is not None:
            by_page[delivery.page_id].append(delivery)
    return [PageSent(page, by_page[page.pk]) for page in pages]


def _page(
    request: HttpRequest,
    access: Access,
    *,
    method_form: ContactMethodForm | None = None,
    rule_form: NotificationRuleForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    methods = list(ContactMethod.objects.filter(user_id=user.pk).order_by("created_at"))
    rules = (
        NotificationRule.objects.filter(user_id=user.pk)
        .select_related("contact_method")
        .order_by("delay_minutes", "created_at")
    )
    steps = [Step(rule, after(rule.delay_minutes)) for rule in rules]
    context: dict[str, Any] = {
        "methods": methods,
        "steps": steps,
        "sequence": "; ".join(step.sentence for step in steps),
        "method_form": method_form or ContactMethodForm(),
        "rule_form": rule_form or NotificationRuleForm(methods=methods),
        "recent": _recent_pages(access, user),
        "recent_limit": RECENT_PAGES,
    }
    return render(request, "notifications/my_notifications.html", context, status=status)


@portal_view
def my_notifications(request: HttpRequest, access: Access) -> HttpResponse:
    """The page; its POST adds a contact method (as POST /api/v1/me/contact-methods/)."""
    if request.method != "POST":
        return _page(request, access)
    form = ContactMethodForm(request.POST, context={"access": access, "target": request.user})
    if form.is_valid():
        done, _ = page_perform(
            request, CONTACT_METHOD_CREATE, access=access, target=request.user, data=form.inputs()
        )
        if done:
            return redirect(PAGE)
    return _page(request, access, method_form=form, status=400)


@require_POST
@portal_view
def my_rule_add(request: HttpRequest, access: Access) -> HttpResponse:
    """As POST /api/v1/me/notification-rules/: the contact method must be one of yours."""
    methods = list(ContactMethod.objects.filter(user_id=_user(request).pk))
    context = {"access": access, "target": request.user}
    form = NotificationRuleForm(request.POST, methods=methods, context=context)
    if form.is_valid():
        done, _ = page_perform(
            request, RULE_CREATE, access=access, target=request.user, data=form.inputs()
        )
        if done:
            return redirect(PAGE)
    return _page(request, access, rule_form=form, status=400)


def _own_row_action(action: Action, find: Callable[[User, uuid.UUID], Any]) -> Any:
    """A button on one of your rows (remove): the row looked up among your own (anyone else's
    is a 404), the action performed, back to the page with its message. (notifications.views.
    _row_action is the same for a tenant's rows, behind tenant_settings_view.)"""

    @require_POST
    @portal_view
    def view(request: HttpRequest, access: Access, **row: uuid.UUID) -> HttpResponse:
        (row_id,) = row.values()
        target = find(_user(request), row_id)
        page_perform(request, action, access=access, target=target, data={})
        return redirect(PAGE)

    return view


my_contact_method_delete = _own_row_action(CONTACT_METHOD_DELETE, _method_or_404)
my_rule_delete = _own_row_action(RULE_DELETE, _rule_or_404)
