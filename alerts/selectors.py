"""Reads that the API and the portal pages share, so that both list incidents in the same
order. Who may do what is alerts.policy."""

from __future__ import annotations

from django.db.models import Subquery

from tenants.models import Tenant, User

# Least SLA time left first (respond_by, written by the SLA app), then severity, then age.
URGENCY = ("respond_by", "-severity_rank", "created_at", "id")

# The queue's count stops here ("1,000+"): counting costs one index entry a row, and a queue
# longer than this reads the same to an analyst (25 ms at a 10,000 cap over 1 million alerts,
# 3 ms at this one: docs/PERFORMANCE.md, queue at scale).
QUEUE_COUNT_CAP = 1_000


def pin_list_filters(params, user, queryset):
    """The ?tenant=<slug> and ?owner=<username>|me filters (IncidentFilter) join on the slug or
    username, which hides from PostgreSQL that they name one tenant or one owner. Repeating them
    as an id equality (a scalar subquery for a name) lets one tenant's or one owner's urgency
    index return the page in order; the filters still apply, so the rows are the same."""
    slug = params.get("tenant")
    if slug:
        tenant = Tenant.objects.filter(slug=slug).order_by().values("pk")[:1]
        queryset = queryset.filter(tenant_id=Subquery(tenant))
    owner = params.get("owner")
    if owner == "me":
        queryset = queryset.filter(owner_id=user.pk)
    elif owner and owner != "none" and len(owner) <= 150:
        owner_id = User.objects.filter(username=owner).order_by().values("pk")[:1]
        queryset = queryset.filter(owner_id=Subquery(owner_id))
    return queryset
