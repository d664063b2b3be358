"""The SCIM provisioning settings pages (included from mssp/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("settings/scim/", views.settings_scim, name="settings-scim"),
    path(
        "settings/scim/tokens/", views.settings_scim_token_create, name="settings-scim-token-create"
    ),
    path(
        "settings/scim/tokens/<uuid:token_id>/revoke/",
        views.settings_scim_token_revoke,
        name="settings-scim-token-revoke",
    ),
    path(
        "settings/scim/mappings/", views.settings_scim_mapping_add, name="settings-scim-mapping-add"
    ),
    path(
        "settings/scim/mappings/<uuid:mapping_id>/remove/",
        views.settings_scim_mapping_remove,
        name="settings-scim-mapping-remove",
    ),
]
