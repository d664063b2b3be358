def access(request):
    """The caller's Access on pages that computed it (portal_view)."""
    return {"access": getattr(request, "access", None)}
