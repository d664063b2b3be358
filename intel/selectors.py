"""Reads shared by the intel API and pages."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from alerts.models import Incident, IncidentObservable, ObservableTag
from tenants.access import Access
from tenants.models import Tenant

from . import sightings
from .models import Indicator, IndicatorImport, IndicatorMatch, RetroHunt, Sighting

MAX_SIGHTING_OBSERVABLES = 50
MAX_SIGHTING_ROWS = 20_000
LINKS_PER_TENANT = 5


def get_indicators(access: Access) -> QuerySet:
    """Staff: global indicators and those of their tenants; customers: their tenant's own."""
    if access.is_mssp_staff:
        return Indicator.objects.dangerously_unscoped("staff read global indicators").filter(
            Q(tenant_id__in=sorted(access.tenant_ids)) | Q(tenant__isnull=True)
        )
    return Indicator.objects.for_tenants(access.tenant_ids)


def get_imports(access: Access) -> QuerySet:
    """Without the uploaded document (megabytes, kept until the import is done): pages and
    their progress polls read the counts only."""
    if access.is_mssp_staff:
        imports = IndicatorImport.objects.dangerously_unscoped("staff read global imports").filter(
            Q(tenant_id__in=sorted(access.tenant_ids)) | Q(tenant__isnull=True)
        )
    else:
        imports = IndicatorImport.objects.for_tenants(access.tenant_ids)
    return imports.defer("content")


def get_hunts(access: Access) -> QuerySet:
    if access.is_mssp_staff:
        return RetroHunt.objects.dangerously_unscoped("staff read global hunts").filter(
            Q(tenant_id__in=sorted(access.tenant_ids)) | Q(tenant__isnull=True)
        )
    return RetroHunt.objects.for_tenants(access.tenant_ids)


def shown_to(hunts: list[RetroHunt], access: Access) -> list[RetroHunt]:
    """The hunts with what `access` may be shown of their progress (RetroHunt.seen_by: over
    the tenants it works only) as `shown_scanned` and `shown_progress`, for the pages."""
    for hunt in hunts:
        hunt.shown_scanned, hunt.shown_progress = hunt.seen_by(access.tenant_ids)
    return hunts


def get_matches(access: Access) -> QuerySet:
    """The matches on the caller's tenants' alerts; a customer never sees those of TLP:RED
    global indicators."""
    matches = IndicatorMatch.objects.for_tenants(access.tenant_ids)
    if not access.is_mssp_staff:
        matches = matches.filter(customer_visible=True)
    return matches


def incident_observables(incident: Incident, limit: int = 100) -> list[tuple[str, str]]:
    """The incident's observables (alerts.IncidentObservable: its alerts' and those added by
    hand), but those tagged not an IOC: nothing to look for at other customers."""
    rows = (
        IncidentObservable.objects.for_tenant(incident.tenant_id)
        .filter(incident=incident)
        .exclude(tag=ObservableTag.NOT_IOC)
        .order_by("type", "value")
        .values_list("type", "value")[:limit]
    )
    return list(rows)


def get_sightings(access: Access, incident: Incident, days: int | None = None) -> list[dict]:
    """For each observable of the incident: how many *other* tenants among those the caller
    works saw it in their alerts of the last `days` (INTEL_SIGHTING_DAYS), with links to
    their incidents (or alerts). MSSP staff only: anyone else gets nothing, not even a count.
    """
    if not access.is_mssp_staff:
        return []
    observables = incident_observables(incident)[:MAX_SIGHTING_OBSERVABLES]
    others = sorted(access.tenant_ids - {incident.tenant_id})
    keys = {sightings.key_of(kind, value): (kind, value) for kind, value in observables}
    result: dict[tuple[str, str], dict] = {key: {} for key in observables}
    if keys and others:
        rows = (
            Sighting.objects.for_tenants(others)
            .filter(key__in=sorted(keys), day__gte=sightings.since(days))
            .order_by("-day", "-seen_at")
            .values_list("key", "tenant_id", "incident_id", "alert_id", "seen_at")[
                :MAX_SIGHTING_ROWS
            ]
        )
        for key, tenant_id, incident_id, alert_id, seen_at in rows:
            links = result[keys[key]].setdefault(tenant_id, [])
            target = ("incident", incident_id) if incident_id else ("alert", alert_id)
            if len(links) < LINKS_PER_TENANT and target not in [
                (link["kind"], link["id"]) for link in links
            ]:
                links.append({"kind": target[0], "id": target[1], "at": seen_at})
    tenants = {
        pk: (slug, name)
        for pk, slug, name in Tenant.objects.filter(pk__in=others).values_list("pk", "slug", "name")
    }
    return [
        {
            "type": kind,
            "value": value,
            "tenants": len(per_tenant),
            "seen": [
                {"tenant": tenants[t][0], "tenant_name": tenants[t][1], "links": links}
                for t, links in sorted(per_tenant.items(), key=lambda kv: tenants[kv[0]][1])
            ],
        }
        for (kind, value), per_tenant in result.items()
    ]
