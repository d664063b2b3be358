from .navigation import pages_for


def portal(request):
    """The caller's Access on pages that computed it (tenants.views.portal_view) and the
    navigation it may use."""
    access = getattr(request, "access", None)
    return {"access": access, "nav": pages_for(access, request.path)}


def csp_nonce(request):
    """The response's Content-Security-Policy nonce (django-csp), for the few inline scripts
    and styles a page may carry (`nonce="{{ csp_nonce }}"`); django-htmx's tags read it too.
    Lazy: a response whose page never asks for it has no nonce in its policy."""
    return {"csp_nonce": getattr(request, "csp_nonce", None)}
