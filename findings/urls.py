from django.urls import path

from . import views

urlpatterns = [
    path("findings/", views.finding_list, name="findings"),
    path("findings/imports/", views.import_list, name="finding-imports"),
    path("findings/imports/upload/", views.import_upload, name="finding-import-upload"),
    path("findings/imports/<uuid:pk>/", views.import_detail, name="finding-import"),
    path("findings/engagements/", views.engagement_create, name="finding-engagement-create"),
    path("findings/<uuid:pk>/", views.finding_detail, name="finding"),
    path("findings/<uuid:pk>/act/", views.finding_act, name="finding-act"),
]
