"""/scim/v2/ (included from mssp/urls.py), with or without a trailing slash. A resource id
is any segment: a malformed one is a SCIM 404, and so is any path not listed here."""

from django.urls import path, re_path

from . import views

ID = r"(?P<resource_id>[^/]+)"

urlpatterns = [
    path("", views.RootView.as_view(), name="scim-root"),
    re_path(r"^ServiceProviderConfig/?$", views.ServiceProviderConfigView.as_view()),
    re_path(r"^ResourceTypes/?$", views.ResourceTypesView.as_view()),
    re_path(rf"^ResourceTypes/{ID}/?$", views.ResourceTypesView.as_view()),
    re_path(r"^Schemas/?$", views.SchemasView.as_view()),
    re_path(rf"^Schemas/{ID}/?$", views.SchemasView.as_view()),
    re_path(r"^Users/?$", views.UsersView.as_view(), name="scim-users"),
    re_path(rf"^Users/{ID}/?$", views.UsersView.as_view(), name="scim-user"),
    re_path(r"^Groups/?$", views.GroupsView.as_view(), name="scim-groups"),
    re_path(rf"^Groups/{ID}/?$", views.GroupsView.as_view(), name="scim-group"),
    re_path(r"^.*$", views.not_found),
]
