"""The intake sources settings page (included from mssp/urls.py); its siblings are in
tenants/urls.py."""

from django.urls import path

from . import views_settings as views

urlpatterns = [
    path("settings/sources/", views.settings_sources, name="settings-sources"),
    path(
        "settings/sources/<uuid:source_id>/",
        views.settings_source_edit,
        name="settings-source-edit",
    ),
    path(
        "settings/sources/<uuid:source_id>/rotate-key/",
        views.settings_source_rotate,
        name="settings-source-rotate",
    ),
    path(
        "settings/sources/<uuid:source_id>/revoke/",
        views.settings_source_revoke,
        name="settings-source-revoke",
    ),
]
