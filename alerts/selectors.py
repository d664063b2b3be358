"""Reads that the API and the portal pages share, so that both list incidents in the same
order. Who may do what is alerts.policy."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, F, Max, Min, Q, Subquery, Sum
from django.utils import timezone

from tenants.access import Access
from tenants.models import Tenant, User

from . import policy, tlp
from .models import Comment, Incident, IncidentEvent, IncidentObservable, ObservableTag, Visibility

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


def get_incidents(access: Access):
    """The incidents the caller may see: of its tenants, and (a customer) those their TLP
    allows them (alerts.tlp: a RED incident is gone from a customer's lists, pages and counts,
    an AMBER one from a viewer's)."""
    return tlp.visible_incidents(access, Incident.objects.for_tenants(access.tenant_ids))


# --- the incident's story: timeline and comments ------------------------------------------------


def get_timeline(access: Access, incident: Incident):
    """The incident's timeline entries the caller may see: a customer the shared ones only
    (an internal entry, an internal comment's or task's, is the MSSP's) that their TLP allows
    them (alerts.tlp)."""
    rows = IncidentEvent.objects.for_tenant(incident.tenant_id).filter(incident=incident)
    if not access.is_mssp_staff:
        rows = tlp.visible(access, rows.filter(visibility=Visibility.SHARED))
    return rows


def get_comments(access: Access, incident: Incident):
    """The incident's comments the caller may see: a customer the shared ones its TLP allows."""
    rows = Comment.objects.for_tenant(incident.tenant_id).filter(incident=incident)
    if not access.is_mssp_staff:
        rows = tlp.visible(access, rows.filter(visibility=Visibility.SHARED))
    return rows.order_by("created_at", "id")


# --- observables: sightings and similar incidents ----------------------------------------------
# Every read below is bigint equality on IncidentObservable's (tenant, key, incident) index:
# leakproof, so row-level security leaves it usable (a jsonb search of the alerts is not; see
# docs/PERFORMANCE.md, "Intake with threat intelligence").

MAX_OBSERVABLES = 500  # listed on an incident (its page, its API answer)
SIMILAR_DAYS = 90  # similar incidents: seen within this many days
SIMILAR_LIMIT = 10
SIMILAR_KEYS = 200  # of this incident's observables, the first this many are compared
IOC_WEIGHT = 3  # a shared IOC counts as this many shared observables


def get_observables(access: Access, incident: Incident) -> list[IncidentObservable]:
    rows = IncidentObservable.objects.for_tenant(incident.tenant_id).filter(incident=incident)
    rows = policy.visible_observables(access, rows).select_related("added_by")
    return list(rows.order_by("type", "value", "id")[:MAX_OBSERVABLES])


def _live(rows):
    """Rows of incidents that still stand (a merged incident's observables are the survivor's)."""
    return rows.filter(incident__merged_into__isnull=True)


def get_sightings(access: Access, incident: Incident, keys: list[int]) -> dict[int, dict]:
    """For each key: how many of this customer's incidents carry it, how many of their alerts,
    first and last seen. A customer counts the shared observables only."""
    if not keys:
        return {}
    rows = IncidentObservable.objects.for_tenant(incident.tenant_id).filter(key__in=keys)
    rows = _live(policy.visible_observables(access, rows))
    found = (
        rows.order_by()
        .values("key")
        .annotate(
            incidents=Count("incident", distinct=True),
            alerts=Sum("alert_count"),
            first_seen=Min("first_seen"),
            last_seen=Max("last_seen"),
        )
    )
    return {row.pop("key"): row for row in found}


def get_sightings_elsewhere(access: Access, incident: Incident, keys: list[int]) -> dict[int, dict]:
    """MSSP staff only: for each key, the other customers (among those the caller works) whose
    incidents carry it, and how many. Anyone else gets nothing, not even a count. Callers pass
    the keys of observables whose PAP allows comparing them across customers (alerts.tlp), and
    the other customers' PAP:RED ones are never counted."""
    others = sorted(access.tenant_ids - {incident.tenant_id})
    if not access.is_mssp_staff or not others or not keys:
        return {}
    rows = _live(IncidentObservable.objects.for_tenants(others).filter(key__in=keys))
    rows = rows.exclude(pap__in=tlp.pap_barred(tlp.Use.CROSS_CUSTOMER))
    found = (
        rows.order_by()
        .values("key", "tenant_id")
        .annotate(incidents=Count("incident", distinct=True), last_seen=Max("last_seen"))
    )
    names = dict(Tenant.objects.filter(pk__in=others).values_list("pk", "slug"))
    result: dict[int, dict] = {}
    for row in found:
        entry = result.setdefault(row["key"], {"tenants": 0, "incidents": 0, "seen": []})
        entry["tenants"] += 1
        entry["incidents"] += row["incidents"]
        entry["seen"].append(
            {
                "tenant": names[row["tenant_id"]],
                "incidents": row["incidents"],
                "last_seen": row["last_seen"],
            }
        )
    for entry in result.values():
        entry["seen"].sort(key=lambda seen: seen["tenant"])
    return result


def get_similar(
    access: Access, incident: Incident, *, elsewhere: bool = False, limit: int = SIMILAR_LIMIT
) -> list[dict]:
    """Incidents sharing observables with this one, seen within SIMILAR_DAYS, ranked by how
    many they share (an IOC, tagged here or there, counting IOC_WEIGHT); observables tagged
    not an IOC are left out on either side. Of this customer's (`elsewhere`: MSSP staff only,
    the other customers' they work). A customer compares shared observables only."""
    if elsewhere:
        tenant_ids = sorted(access.tenant_ids - {incident.tenant_id})
        if not access.is_mssp_staff or not tenant_ids:
            return []
    else:
        tenant_ids = [incident.tenant_id]
    mine = policy.visible_observables(
        access, IncidentObservable.objects.for_tenant(incident.tenant_id).filter(incident=incident)
    ).exclude(tag=ObservableTag.NOT_IOC)
    if elsewhere:  # PAP:RED stays with its customer (alerts.tlp)
        mine = mine.exclude(pap__in=tlp.pap_barred(tlp.Use.CROSS_CUSTOMER))
    pairs = list(mine.order_by("-tag", "key").values_list("key", "tag")[:SIMILAR_KEYS])
    keys = [key for key, _ in pairs]
    if not keys:
        return []
    ioc = Q(tag=ObservableTag.IOC)
    ioc_keys = [key for key, tag in pairs if tag == ObservableTag.IOC]
    if ioc_keys:
        ioc |= Q(key__in=ioc_keys)
    rows = IncidentObservable.objects.for_tenants(tenant_ids).filter(
        key__in=keys, incident__last_seen__gte=timezone.now() - timedelta(days=SIMILAR_DAYS)
    )
    rows = _live(policy.visible_observables(access, rows)).exclude(incident_id=incident.pk)
    rows = rows.exclude(tag=ObservableTag.NOT_IOC)
    if elsewhere:
        rows = rows.exclude(pap__in=tlp.pap_barred(tlp.Use.CROSS_CUSTOMER))
    ranked = list(
        rows.order_by()
        .values("incident_id")
        .annotate(
            shared=Count("key", distinct=True),
            iocs=Count("key", distinct=True, filter=ioc),
        )
        .annotate(score=F("shared") + (IOC_WEIGHT - 1) * F("iocs"))
        .order_by("-score", "-iocs", "-incident__last_seen", "incident_id")[:limit]
    )
    if not ranked:
        return []
    ids = [row["incident_id"] for row in ranked]
    incidents = Incident.objects.for_tenants(tenant_ids).select_related("tenant").in_bulk(ids)
    values: dict = {}
    for incident_id, kind, value in (
        rows.filter(incident_id__in=ids)
        .values_list("incident_id", "type", "value")
        .order_by("incident_id", "-tag", "type", "value")
    ):
        shown = values.setdefault(incident_id, [])
        if len(shown) < 5:
            shown.append({"type": kind, "value": value})
    return [
        {
            "incident": incidents[row["incident_id"]],
            "shared": row["shared"],
            "iocs": row["iocs"],
            "score": row["score"],
            "observables": values.get(row["incident_id"], []),
        }
        for row in ranked
        if row["incident_id"] in incidents
    ]
