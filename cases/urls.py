"""Portal pages of case work."""

from django.urls import path

from . import views, views_custom_fields

urlpatterns = [
    path("incidents/<uuid:pk>/tasks/", views.task_add, name="case-task-add"),
    path("incidents/<uuid:pk>/apply-template/", views.apply_template, name="apply-template"),
    path("incidents/<uuid:pk>/evidence/", views.attachment_add, name="evidence-add"),
    path("incidents/<uuid:pk>/classify/", views.classify, name="incident-classify"),
    path(
        "incidents/<uuid:pk>/evidence/<uuid:attachment>/",
        views.attachment_detail,
        name="evidence",
    ),
    path(
        "incidents/<uuid:pk>/evidence/<uuid:attachment>/download/",
        views.attachment_download,
        name="evidence-download",
    ),
    path(
        "incidents/<uuid:pk>/evidence/<uuid:attachment>/delete/",
        views.attachment_delete,
        name="evidence-delete",
    ),
    path("tasks/<uuid:pk>/edit/", views.task_edit, name="case-task-edit"),
    path("tasks/<uuid:pk>/status/", views.task_status, name="case-task-status"),
    path(
        "incidents/<uuid:pk>/fields/",
        views_custom_fields.incident_fields,
        name="incident-fields",
    ),
    path("settings/incident-fields/", views_custom_fields.fields_page, name="custom-fields"),
    path(
        "settings/incident-fields/<uuid:pk>/",
        views_custom_fields.field_edit,
        name="custom-field-edit",
    ),
    path("settings/case-templates/", views.templates, name="case-templates"),
    path("settings/case-templates/new/", views.template_new, name="case-template-new"),
    path("settings/case-templates/<uuid:pk>/", views.template_edit, name="case-template-edit"),
    path(
        "settings/case-templates/<uuid:pk>/delete/",
        views.template_delete,
        name="case-template-delete",
    ),
]
