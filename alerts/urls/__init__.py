"""Portal pages of the alerts app (the intake sources' settings pages: alerts.urls.settings)."""

from django.urls import path

from ..views import hunts, incidents

urlpatterns = [
    path("console/", incidents.console, name="console"),
    path("console/bulk/", incidents.bulk, name="console-bulk"),
    path("incidents/", incidents.incidents, name="incidents"),
    path("incidents/export/", incidents.incidents_export, name="incidents-export"),
    path("incidents/new/", incidents.incident_new, name="incident-new"),
    path("incidents/<uuid:pk>/", incidents.incident_detail, name="incident"),
    path(
        "incidents/<uuid:pk>/promote/", incidents.incident_promote, name="incident-promote-alerts"
    ),
    path("incidents/<uuid:pk>/act/", incidents.incident_act, name="incident-act"),
    path("incidents/<uuid:pk>/comment/", incidents.incident_comment, name="incident-comment"),
    path("incidents/<uuid:pk>/contain/", incidents.incident_contain, name="incident-contain"),
    path(
        "incidents/<uuid:pk>/observables/",
        incidents.observable_add,
        name="incident-observable-add",
    ),
    path(
        "incidents/<uuid:pk>/observables/<uuid:oid>/",
        incidents.observable_edit,
        name="incident-observable-edit",
    ),
    path(
        "incidents/<uuid:pk>/observables/<uuid:oid>/remove/",
        incidents.observable_remove,
        name="incident-observable-remove",
    ),
    path("alerts/", incidents.alerts, name="alerts"),
    path("alerts/<uuid:pk>/", incidents.alert_detail, name="alert"),
    path(
        "alerts/<uuid:pk>/open-incident/",
        hunts.alert_open_incident,
        name="alert-open-incident",
    ),
    path("hunts/", hunts.hunts, name="hunts"),
    path("hunts/<uuid:pk>/", hunts.hunt_detail, name="hunt"),
    path("hunts/<uuid:pk>/run/", hunts.hunt_run_now, name="hunt-run"),
    path("hunts/<uuid:pk>/delete/", hunts.hunt_delete, name="hunt-delete"),
]
