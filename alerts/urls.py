from django.urls import path

from . import views

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
]
