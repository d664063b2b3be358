"""The intake sources settings page (included from mssp/urls.py); its siblings are in
tenants/urls.py."""

from django.urls import path

from ..views import sources

urlpatterns = [
    path("settings/sources/", sources.settings_sources, name="settings-sources"),
    path(
        "settings/sources/<uuid:source_id>/",
        sources.settings_source_edit,
        name="settings-source-edit",
    ),
    path(
        "settings/sources/<uuid:source_id>/rotate-key/",
        sources.settings_source_rotate,
        name="settings-source-rotate",
    ),
    path(
        "settings/sources/<uuid:source_id>/revoke/",
        sources.settings_source_revoke,
        name="settings-source-revoke",
    ),
]
