"""The landing page: each persona starts on the first page the navigation offers it (the
analyst's queue, the customer's dashboard); a user with none is told why."""

from __future__ import annotations

from django.shortcuts import redirect, render

from tenants.models import Membership, Tenant
from tenants.views import portal_view

from .navigation import pages_for


@portal_view
def home(request, access):
    pages = pages_for(access)["main"]
    if pages and access.tenant_ids:
        return redirect(pages[0]["url"])
    membership = None
    if access.is_customer:
        membership = (
            Membership.objects.for_tenant(access.customer_tenant_id)
            .filter(user=request.user)
            .first()
        )
    tenants = Tenant.objects.filter(pk__in=access.tenant_ids).order_by("name")
    return render(request, "home.html", {"tenants": list(tenants), "membership": membership})
