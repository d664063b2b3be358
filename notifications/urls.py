"""The notifications settings page (included from mssp/urls.py); its siblings are in
tenants/urls.py and alerts/urls/settings.py."""

from django.urls import path

from . import views

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
]
