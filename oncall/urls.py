"""The on-call pages (oncall.views), included from mssp/urls.py."""

from django.urls import path

from . import views

urlpatterns = [
    path("oncall/", views.schedules, name="oncall"),
    path("oncall/new/", views.schedule_new, name="oncall-schedule-new"),
    path("oncall/<uuid:schedule_id>/", views.schedule_detail, name="oncall-schedule"),
    path("oncall/<uuid:schedule_id>/edit/", views.schedule_edit, name="oncall-schedule-edit"),
    path("oncall/<uuid:schedule_id>/delete/", views.schedule_delete, name="oncall-schedule-delete"),
    path("oncall/<uuid:schedule_id>/overrides/", views.override_add, name="oncall-override-add"),
    path(
        "oncall/<uuid:schedule_id>/overrides/<uuid:override_id>/delete/",
        views.override_delete,
        name="oncall-override-delete",
    ),
    path("oncall/<uuid:schedule_id>/import/", views.calendar_import, name="oncall-import"),
    path("oncall/<uuid:schedule_id>/feed-link/", views.feed_link_create, name="oncall-feed-link"),
    path(
        "oncall/<uuid:schedule_id>/feed-link/delete/",
        views.feed_link_delete,
        name="oncall-feed-link-delete",
    ),
    # A calendar app's subscription: the token is the credential (oncall.feeds).
    path("oncall/feed/<str:token>.ics", views.feed, name="oncall-feed"),
]
