from allauth.account import views as allauth_views
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from notifications.answers import answer
from notifications.slack import interactions as slack_interactions
from tenants import identity
from tenants import views as portal

from . import views
from .api_docs import SchemaView, api_docs
from .health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("", views.home, name="home"),
    path("login/", identity.LoginView.as_view(), name="login"),
    # allauth (tenants.identity): its login answers at /login/ too; the second factor's pages
    # (enrolment, the code at login, recovery codes) under accounts/2fa/. No sign-up, and the
    # password pages stay the portal's own.
    path("accounts/login/", identity.LoginView.as_view(), name="account_login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="account_logout"),
    path("accounts/inactive/", allauth_views.account_inactive, name="account_inactive"),
    path("accounts/reauthenticate/", allauth_views.reauthenticate, name="account_reauthenticate"),
    path("accounts/2fa/", include("allauth.mfa.urls")),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", portal.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("admin/", admin.site.urls),
    # a message's one-click answer (notifications.links)
    path("answer/<str:token>/", answer, name="notification-answer"),
    # a Slack app's button clicks (notifications.slack): signed by Slack, no session
    path("integrations/slack/interactions/", slack_interactions, name="slack-interactions"),
    path("", include("reports.urls")),
    path("", include("findings.urls")),
    path("", include("intel.urls")),
    path("", include("alerts.urls")),
    path("", include("cases.urls")),
    path("", include("response.urls")),
    path("", include("connectors.urls")),
    path("", include("sla.urls.incident")),
    path("", include("tenants.urls")),
    path("", include("provisioning.urls")),
    path("", include("alerts.urls.settings")),
    path("", include("notifications.urls")),
    path("", include("oncall.urls")),
    path("", include("sla.urls")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("api/v1/", include("mssp.api_urls")),
    # SCIM 2.0 provisioning: the SCIM token decides the tenant (provisioning.scim)
    path("scim/v2/", include("provisioning.scim.urls")),
]

handler404 = "mssp.errors.not_found"
handler500 = "mssp.errors.server_error"
