from .navigation import pages_for


def portal(request):
    """The caller's Access on pages that computed it (tenants.views.portal_view) and the
    navigation it may use."""
    access = getattr(request, "access", None)
    return {"access": access, "nav": pages_for(access, request.path)}
