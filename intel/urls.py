from django.urls import path

from . import views

urlpatterns = [
    path("intel/", views.indicators, name="intel"),
    path("intel/add/", views.indicator_add, name="intel-indicator-add"),
    path("intel/indicators/<uuid:pk>/", views.indicator_detail, name="intel-indicator"),
    path(
        "intel/indicators/<uuid:pk>/revoke/", views.indicator_revoke, name="intel-indicator-revoke"
    ),
    path("intel/matches/<uuid:pk>/raise/", views.match_raise, name="intel-match-raise"),
    path("intel/imports/", views.imports, name="intel-imports"),
    path("intel/imports/<uuid:pk>/", views.import_detail, name="intel-import"),
    path("intel/hunts/", views.hunts, name="intel-hunts"),
    path("intel/hunts/<uuid:pk>/", views.hunt_detail, name="intel-hunt"),
]
