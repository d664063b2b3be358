"""Portal pages of the SLA app: the in-house inbox, the manager's SLA health, the customer's
dashboard and the escalation policy view. The incident page's escalate and withdraw are in
`sla.urls.incident` (mounted beside the incident pages)."""

from django.urls import path

from ..views import dashboard, escalation_policy, health, inbox

urlpatterns = [
    path("inbox/", inbox.inbox, name="inbox"),
    path("inbox/escalations/<uuid:pk>/accept/", inbox.inbox_accept, name="inbox-accept"),
    path("inbox/escalations/<uuid:pk>/decline/", inbox.inbox_decline, name="inbox-decline"),
    path("inbox/escalations/<uuid:pk>/withdraw/", inbox.inbox_withdraw, name="inbox-withdraw"),
    path("inbox/incidents/<uuid:pk>/assistance/", inbox.inbox_assistance, name="inbox-assistance"),
    path("manager/", health.sla_health, name="sla-health"),
    path("manager/staff/<int:pk>/tenants/", health.staff_tenants, name="sla-health-staff"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path(
        "settings/escalation/",
        escalation_policy.escalation_policy,
        name="settings-escalation",
    ),
]
