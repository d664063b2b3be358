"""The portal's navigation: one list of pages, each shown only to the callers who may use it
(the page itself checks again on the server). Apps add their pages here, in the order they
appear; `mssp/` is where the apps are wired together, so the list lives here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter

from django.urls import NoReverseMatch, reverse

from cases.custom_fields import manages_custom_fields
from intel.policy import may_use_intel
from notifications.policy import manages_team_channels
from oncall.policy import may_open_schedules
from provisioning.policy import manages_mssp_sso
from response.policy import reads_contracts
from tenants.access import Access
from tenants.policy import opens_tenant_settings, reads_staff_sessions


@dataclass(frozen=True)
class Page:
    label: str
    url_name: str
    shown_to: Callable[[Access], bool]
    group: str = "main"  # "main" (top bar) or "settings" (the customer admin's menu)


# Each page is shown exactly when its own view lets the caller in: an entry asks the view's
# question, an Access role question (`role(...)`) or the app policy the view itself calls.
role = attrgetter


# Each view asks the same: the queue and hunts `is_mssp_staff`, the inbox and the escalation
# policy page `is_customer_worker` (sla.views), SLA health `is_supervisor`, the settings pages
# tenants.policy.opens_tenant_settings (tenants.views.tenant_settings_view), the intel pages
# intel.policy.may_use_intel (intel.views), on call oncall.policy.may_open_schedules, team
# channels notifications.policy.manages_team_channels (notifications.team_views), staff
# sessions tenants.policy.reads_staff_sessions (tenants.views.staff_admin_view), the MSSP's
# single sign-on provisioning.policy.manages_mssp_sso (provisioning.mssp_sso_views), the
# response contract response.policy.reads_contracts (response.views).
PAGES: list[Page] = [
    Page("Queue", "console", role("is_mssp_staff")),
    Page("Dashboard", "dashboard", role("is_authenticated")),  # staff pick one of their customers
    Page("Inbox", "inbox", role("is_customer_worker")),
    Page("Incidents", "incidents", role("is_authenticated")),
    Page("Alerts", "alerts", role("is_authenticated")),
    Page("SLA health", "sla-health", role("is_supervisor")),
    Page("Findings", "findings", role("is_authenticated")),
    Page("Reports", "reports", role("is_authenticated")),
    Page("Intel", "intel", may_use_intel),
    Page("Hunts", "hunts", role("is_mssp_staff")),
    Page("On call", "oncall", may_open_schedules),
    Page("Members", "settings-members", opens_tenant_settings, "settings"),
    Page("Intake sources", "settings-sources", opens_tenant_settings, "settings"),
    Page("Contacts", "settings-contacts", opens_tenant_settings, "settings"),
    Page("Notifications", "settings-notifications", opens_tenant_settings, "settings"),
    Page("Connectors", "settings-connectors", opens_tenant_settings, "settings"),
    Page("Team channels", "settings-teams", manages_team_channels, "settings"),
    Page("Case templates", "case-templates", role("is_supervisor"), "settings"),
    Page("Incident fields", "custom-fields", manages_custom_fields, "settings"),
    Page("Escalation policy", "settings-escalation", role("is_customer_worker"), "settings"),
    Page("Response actions", "response-contract", reads_contracts, "settings"),
    Page("Audit log", "settings-audit", opens_tenant_settings, "settings"),
    Page("Staff sessions", "mssp-staff-sessions", reads_staff_sessions, "settings"),
    Page("Staff single sign-on", "mssp-staff-sso", manages_mssp_sso, "settings"),
    Page("API tokens", "settings-tokens", role("is_authenticated"), "settings"),
    Page("Sessions", "account-sessions", role("is_authenticated"), "settings"),
    Page("My notifications", "my-notifications", role("is_authenticated"), "settings"),
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
