"""The portal's navigation: one list of pages, each shown only to the callers who may use it
(the page itself checks again on the server). Apps add their pages here, in the order they
appear; `mssp/` is where the apps are wired together, so the list lives here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from tenants.access import Access
from tenants.models import Membership, StaffRole


@dataclass(frozen=True)
class Page:
    label: str
    url_name: str
    shown_to: Callable[[Access], bool]
    group: str = "main"  # "main" (top bar) or "settings" (the customer admin's menu)


def staff(access: Access) -> bool:
    return access.is_mssp_staff


def supervisor(access: Access) -> bool:
    return access.is_superuser or access.staff_role in (
        StaffRole.LEAD,
        StaffRole.MANAGER,
        StaffRole.ADMIN,
    )


def responder(access: Access) -> bool:
    return access.customer_role in (Membership.Role.RESPONDER, Membership.Role.ADMIN)


def tenant_admin(access: Access) -> bool:
    """A customer admin for their tenant; an MSSP admin for any (the page asks which)."""
    return access.is_customer_admin or access.is_mssp_admin


def intel_user(access: Access) -> bool:
    return access.is_mssp_staff or access.is_customer_admin


def anyone(access: Access) -> bool:
    return access.is_authenticated


PAGES: list[Page] = [
    Page("Queue", "console", staff),
    Page("Dashboard", "dashboard", anyone),  # MSSP staff pick one of their customers
    Page("Inbox", "inbox", responder),
    Page("Incidents", "incidents", anyone),
    Page("Alerts", "alerts", anyone),
    Page("SLA health", "sla-health", supervisor),
    Page("Findings", "findings", anyone),
    Page("Reports", "reports", anyone),
    Page("Intel", "intel", intel_user),
    Page("Hunts", "hunts", staff),
    Page("Members", "settings-members", tenant_admin, "settings"),
    Page("Intake sources", "settings-sources", tenant_admin, "settings"),
    Page("Contacts", "settings-contacts", tenant_admin, "settings"),
    Page("Escalation policy", "settings-escalation", responder, "settings"),
    Page("Audit log", "settings-audit", tenant_admin, "settings"),
    Page("API tokens", "settings-tokens", anyone, "settings"),
]


def pages_for(access: Access | None, current_path: str = "") -> dict[str, list[dict]]:
    """The pages `access` may open, by group, marking the current one. A page whose view is
    not installed is left out (tests.test_pages checks that every entry resolves)."""
    menu: dict[str, list[dict]] = {"main": [], "settings": []}
    if access is None or not access.is_authenticated:
        return menu
    for page in PAGES:
        if not page.shown_to(access):
            continue
        try:
            url = reverse(page.url_name)
        except NoReverseMatch:
            continue
        menu[page.group].append(
            {"label": page.label, "url": url, "current": current_path.startswith(url)}
        )
    return menu
