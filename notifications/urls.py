"""The notifications settings page (included from mssp/urls.py); its siblings are in
tenants/urls.py and alerts/urls/settings.py."""

from django.urls import path

from . import account, team_views, views
from .inbound_opsgenie import webhook as opsgenie_webhook
from .inbound_pagerduty import webhook as pagerduty_webhook

urlpatterns = [
    path("settings/notifications/", views.settings_notifications, name="settings-notifications"),
    path(
        "settings/notifications/channels/<uuid:channel_id>/",
        views.settings_channel_edit,
        name="settings-channel-edit",
    ),
    path(
        "settings/notifications/channels/<uuid:channel_id>/test/",
        views.settings_channel_test,
        name="settings-channel-test",
    ),
    path(
        "settings/notifications/channels/<uuid:channel_id>/delete/",
        views.settings_channel_delete,
        name="settings-channel-delete",
    ),
    path(
        "settings/notifications/subscriptions/",
        views.settings_subscription_add,
        name="settings-subscription-add",
    ),
    path(
        "settings/notifications/subscriptions/<uuid:subscription_id>/delete/",
        views.settings_subscription_delete,
        name="settings-subscription-delete",
    ),
    path(
        "settings/notifications/deliveries/<uuid:delivery_id>/retry/",
        views.settings_delivery_retry,
        name="settings-delivery-retry",
    ),
    # an MSSP team's own channels (notifications.team_views): MSSP admins and managers
    path("settings/teams/", team_views.settings_teams, name="settings-teams"),
    path("settings/teams/<uuid:team_id>/", team_views.settings_team, name="settings-team"),
    path(
        "settings/teams/<uuid:team_id>/channels/<uuid:channel_id>/",
        team_views.settings_team_channel_edit,
        name="settings-team-channel-edit",
    ),
    path(
        "settings/teams/<uuid:team_id>/channels/<uuid:channel_id>/test/",
        team_views.settings_team_channel_test,
        name="settings-team-channel-test",
    ),
    path(
        "settings/teams/<uuid:team_id>/channels/<uuid:channel_id>/delete/",
        team_views.settings_team_channel_delete,
        name="settings-team-channel-delete",
    ),
    path(
        "settings/teams/<uuid:team_id>/deliveries/<uuid:delivery_id>/retry/",
        team_views.settings_team_delivery_retry,
        name="settings-team-delivery-retry",
    ),
    # My notifications (notifications.account): every user's own contact methods, notification
    # rules and recent pages
    path("account/notifications/", account.my_notifications, name="my-notifications"),
    path(
        "account/notifications/contact-methods/<uuid:method_id>/delete/",
        account.my_contact_method_delete,
        name="my-contact-method-delete",
    ),
    path("account/notifications/rules/", account.my_rule_add, name="my-rule-add"),
    path(
        "account/notifications/rules/<uuid:rule_id>/delete/",
        account.my_rule_delete,
        name="my-rule-delete",
    ),
    # What PagerDuty and Opsgenie send back (notifications.inbound): no session, the channel's
    # webhook secret instead
    path(
        "integrations/pagerduty/<uuid:channel_id>/",
        pagerduty_webhook,
        name="inbound-pagerduty",
    ),
    path(
        "integrations/opsgenie/<uuid:channel_id>/",
        opsgenie_webhook,
        name="inbound-opsgenie",
    ),
]
