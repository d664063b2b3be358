"""Portal pages of the SLA app: the in-house inbox, the manager's SLA health, the customer's
dashboard and the escalation policy view."""

from django.urls import path

from . import views

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/escalations/<uuid:pk>/accept/", views.inbox_accept, name="inbox-accept"),
    path("inbox/escalations/<uuid:pk>/decline/", views.inbox_decline, name="inbox-decline"),
    path("inbox/escalations/<uuid:pk>/withdraw/", views.inbox_withdraw, name="inbox-withdraw"),
    path("inbox/incidents/<uuid:pk>/assistance/", views.inbox_assistance, name="inbox-assistance"),
    path("manager/", views.sla_health, name="sla-health"),
    path("manager/staff/<int:pk>/tenants/", views.staff_tenants, name="sla-health-staff"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("settings/escalation/", views.escalation_policy, name="settings-escalation"),
]
