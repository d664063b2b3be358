"""The Django admin site, for MSSP admins only, with the admin's tenant context set."""

from functools import wraps

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class MsspAdminSite(admin.AdminSite):
    site_header = "MSSP portal administration"
    site_title = "MSSP portal admin"

    def has_permission(self, request) -> bool:
        user = request.user
        return user.is_active and getattr(user, "is_mssp_admin", False)

    def admin_view(self, view, cacheable=False):
        from tenants import rls
        from tenants.access import access_for

        @wraps(view)
        def scoped(request, *args, **kwargs):
            # Runs inside the request's transaction (ATOMIC_REQUESTS wraps this callable), so
            # the admin's tenant context holds for the view and, rendered here rather than after
            # the transaction, for the template's queries too.
            if not request.user.is_authenticated:
                return view(request, *args, **kwargs)
            rls.activate(access_for(request.user))
            try:
                response = view(request, *args, **kwargs)
                if hasattr(response, "render") and not response.is_rendered:
                    response.render()
                return response
            finally:
                rls.deactivate()

        return super().admin_view(scoped, cacheable)


class MsspAdminConfig(AdminConfig):
    default_site = "mssp.admin.MsspAdminSite"
