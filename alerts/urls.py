from django.urls import path

from . import views, views_hunts

urlpatterns = [
    path("console/", views.console, name="console"),
    path("console/bulk/", views.bulk, name="console-bulk"),
    path("incidents/", views.incidents, name="incidents"),
    path("incidents/<uuid:pk>/", views.incident_detail, name="incident"),
    path("incidents/<uuid:pk>/act/", views.incident_act, name="incident-act"),
    path("incidents/<uuid:pk>/comment/", views.incident_comment, name="incident-comment"),
    path("incidents/<uuid:pk>/contain/", views.incident_contain, name="incident-contain"),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/<uuid:pk>/", views.alert_detail, name="alert"),
    path(
        "alerts/<uuid:pk>/open-incident/",
        views_hunts.alert_open_incident,
        name="alert-open-incident",
    ),
    path("hunts/", views_hunts.hunts, name="hunts"),
    path("hunts/<uuid:pk>/", views_hunts.hunt_detail, name="hunt"),
    path("hunts/<uuid:pk>/run/", views_hunts.hunt_run_now, name="hunt-run"),
    path("hunts/<uuid:pk>/delete/", views_hunts.hunt_delete, name="hunt-delete"),
]
