"""The SCIM provisioning and single sign-on pages (included from mssp/urls.py)."""

from django.urls import path

from . import mssp_sso_views, sso_views, views

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

# Single sign-on (provisioning.sso_views): signing in, the provider's return, the settings page.
urlpatterns += [
    path("login/sso/", sso_views.sso_start, name="sso-start"),
    path("login/sso/reauthenticate/", sso_views.sso_reauthenticate, name="sso-reauthenticate"),
    path("sso/oidc/<str:provider_id>/callback/", sso_views.sso_callback, name="sso-oidc-callback"),
    path("sso/saml/<str:provider_id>/acs/", sso_views.saml_acs, name="sso-saml-acs"),
    path("sso/saml/<str:provider_id>/acs/finish/", sso_views.saml_finish, name="sso-saml-finish"),
    path("sso/saml/<str:provider_id>/metadata/", sso_views.saml_metadata, name="sso-saml-metadata"),
    path("settings/sso/", sso_views.settings_sso, name="settings-sso"),
    path("settings/sso/remove/", sso_views.settings_sso_remove, name="settings-sso-remove"),
    path(
        "settings/sso/domains/",
        sso_views.settings_sso_domain_claim,
        name="settings-sso-domain-claim",
    ),
    path(
        "settings/sso/domains/<uuid:domain_id>/verify/",
        sso_views.settings_sso_domain_verify,
        name="settings-sso-domain-verify",
    ),
    path(
        "settings/sso/domains/<uuid:domain_id>/check/",
        sso_views.settings_sso_domain_check,
        name="settings-sso-domain-check",
    ),
    path(
        "settings/sso/domains/<uuid:domain_id>/remove/",
        sso_views.settings_sso_domain_remove,
        name="settings-sso-domain-remove",
    ),
]

# The MSSP's own single sign-on (provisioning.mssp_sso_views): MSSP admins only.
urlpatterns += [
    path("staff/sso/", mssp_sso_views.staff_sso, name="mssp-staff-sso"),
    path("staff/sso/remove/", mssp_sso_views.staff_sso_remove, name="mssp-staff-sso-remove"),
    path(
        "staff/sso/domains/",
        mssp_sso_views.staff_sso_domain_claim,
        name="mssp-staff-sso-domain-claim",
    ),
    path(
        "staff/sso/domains/<uuid:domain_id>/check/",
        mssp_sso_views.staff_sso_domain_check,
        name="mssp-staff-sso-domain-check",
    ),
    path(
        "staff/sso/domains/<uuid:domain_id>/remove/",
        mssp_sso_views.staff_sso_domain_remove,
        name="mssp-staff-sso-domain-remove",
    ),
    path("staff/sso/groups/", mssp_sso_views.staff_sso_group_add, name="mssp-staff-sso-group-add"),
    path(
        "staff/sso/groups/<uuid:mapping_id>/remove/",
        mssp_sso_views.staff_sso_group_remove,
        name="mssp-staff-sso-group-remove",
    ),
]
