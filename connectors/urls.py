"""Portal pages of connectors."""

from django.urls import path

from . import views

urlpatterns = [
    path("settings/connectors/", views.settings_connectors, name="settings-connectors"),
    path("settings/connectors/new/", views.settings_connector_new, name="settings-connector-new"),
    path(
        "settings/connectors/<uuid:connector_id>/",
        views.settings_connector_edit,
        name="settings-connector-edit",
    ),
    path(
        "settings/connectors/<uuid:connector_id>/test/",
        views.settings_connector_test,
        name="settings-connector-test",
    ),
    path(
        "settings/connectors/<uuid:connector_id>/delete/",
        views.settings_connector_delete,
        name="settings-connector-delete",
    ),
    path(
        "incidents/<uuid:pk>/observables/<uuid:oid>/enrich/",
        views.enrich_observable,
        name="observable-enrich",
    ),
]
