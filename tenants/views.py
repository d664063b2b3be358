"""Portal pages of the tenants app: login, password, and `portal_view`, which every page uses."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import reverse_lazy

from . import audit, rls
from .access import access_for


def portal_view(view):
    """A logged-in page: computes the caller's Access, sets it as the transaction's tenant
    context (the request runs in one: ATOMIC_REQUESTS), and passes it to the view."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        access = access_for(request.user)
        rls.activate(access)
        request.access = access
        try:
            return view(request, access, *args, **kwargs)
        finally:
            rls.deactivate()

    return wrapper


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("password_change_done")

    def form_valid(self, form):
        response = super().form_valid(form)
        audit.record(
            "auth.password_changed",
            obj=self.request.user,
            request=self.request,
            tenant=access_for(self.request.user).customer_tenant_id,
            summary=f"{self.request.user.username} changed their password",
        )
        return response
