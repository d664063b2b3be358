from django.urls import path

from . import views_incident

urlpatterns = [
    path(
        "incidents/<uuid:pk>/escalate/", views_incident.incident_escalate, name="incident-escalate"
    ),
    path(
        "escalations/<uuid:pk>/withdraw/",
        views_incident.escalation_withdraw,
        name="escalation-withdraw",
    ),
]
