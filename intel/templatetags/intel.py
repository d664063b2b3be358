"""The incident page's intelligence panel (MSSP staff): its matches and the sightings of its
observables at the other customers the analyst works. A tag, so that the alerts app, whose
page includes it, needs nothing from the intel app."""

from __future__ import annotations

from django import template
from django.conf import settings

from ..selectors import get_matches, get_sightings

register = template.Library()


@register.simple_tag(takes_context=True)
def incident_intel(context, incident) -> dict:
    access = getattr(context.get("request"), "access", None)
    if access is None or not access.is_mssp_staff:
        return {"matches": [], "sightings": [], "days": settings.INTEL_SIGHTING_DAYS}
    matches = list(
        get_matches(access)
        .filter(incident_id=incident.pk)
        .select_related("tenant")
        .order_by("-matched_at")[:100]
    )
    return {
        "matches": matches,
        "sightings": get_sightings(access, incident),
        "days": settings.INTEL_SIGHTING_DAYS,
    }


@register.simple_tag(takes_context=True)
def alert_intel(context, alert) -> list:
    """The matches on one alert that the caller may see (a customer: never those of TLP:RED
    global indicators)."""
    access = getattr(context.get("request"), "access", None)
    if access is None or alert.tenant_id not in access.tenant_ids:
        return []
    return list(get_matches(access).filter(alert_id=alert.pk).order_by("-matched_at", "-id")[:50])
