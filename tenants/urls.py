"""Portal pages of the tenants app: the settings pages (included from mssp/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("settings/members/", views.settings_members, name="settings-members"),
    path(
        "settings/members/<uuid:member_id>/role/",
        views.settings_member_role,
        name="settings-member-role",
    ),
    path(
        "settings/members/<uuid:member_id>/remove/",
        views.settings_member_remove,
        name="settings-member-remove",
    ),
    path(
        "settings/members/<uuid:member_id>/sessions/end/",
        views.settings_member_sessions_end,
        name="settings-member-sessions-end",
    ),
    path(
        "settings/members/<uuid:member_id>/second-factor/reset/",
        views.settings_member_second_factor_reset,
        name="settings-member-second-factor-reset",
    ),
    path("settings/sessions/", views.settings_sessions, name="settings-sessions"),
    path("settings/second-factor/", views.settings_second_factor, name="settings-second-factor"),
    path("account/sessions/", views.account_sessions, name="account-sessions"),
    path(
        "account/sessions/others/end/",
        views.account_sessions_end_others,
        name="account-sessions-end-others",
    ),
    path(
        "account/sessions/<uuid:session_id>/end/",
        views.account_session_end,
        name="account-session-end",
    ),
    path("staff/sessions/", views.staff_sessions, name="mssp-staff-sessions"),
    path("staff/<int:pk>/sessions/end/", views.staff_sessions_end, name="mssp-staff-sessions-end"),
    path(
        "staff/<int:pk>/sessions/<uuid:session_id>/end/",
        views.staff_session_end,
        name="mssp-staff-session-end",
    ),
    path(
        "staff/<int:pk>/second-factor/reset/",
        views.staff_second_factor_reset,
        name="mssp-staff-second-factor-reset",
    ),
    path("settings/tokens/", views.settings_tokens, name="settings-tokens"),
    path(
        "settings/tokens/<uuid:token_id>/revoke/",
        views.settings_token_revoke,
        name="settings-token-revoke",
    ),
    path("settings/contacts/", views.settings_contacts, name="settings-contacts"),
    path(
        "settings/contacts/<uuid:contact_id>/",
        views.settings_contact_edit,
        name="settings-contact-edit",
    ),
    path(
        "settings/contacts/<uuid:contact_id>/delete/",
        views.settings_contact_delete,
        name="settings-contact-delete",
    ),
    path("settings/audit/", views.settings_audit, name="settings-audit"),
]
