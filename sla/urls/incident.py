"""The incident page's SLA actions: escalate an incident, withdraw an escalation."""

from django.urls import path

from ..views import incident

urlpatterns = [
    path("incidents/<uuid:pk>/escalate/", incident.incident_escalate, name="incident-escalate"),
    path(
        "escalations/<uuid:pk>/withdraw/",
        incident.escalation_withdraw,
        name="escalation-withdraw",
    ),
]
