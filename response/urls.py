"""Portal pages of response actions."""

from django.urls import path

from . import views

urlpatterns = [
    path("incidents/<uuid:pk>/respond/", views.request_action, name="response-request"),
    path("response-actions/<uuid:pk>/approve/", views.approve, name="response-approve"),
    path("response-actions/<uuid:pk>/reject/", views.reject, name="response-reject"),
    path("response-actions/<uuid:pk>/reverse/", views.reverse_action, name="response-reverse"),
    path("settings/response-actions/", views.contract_page, name="response-contract"),
]
