"""Incidents on hosts with overdue critical findings are raised to at least `high`."""

from __future__ import annotations

from alerts.models import Alert, Incident, IncidentEvent

from .assets import _names_hit, asset_names, open_incident_ids_on_assets
from .models import OPEN_FINDING_STATUSES, Asset, Finding

# The rule: an open incident whose alerts carry an `ip` or `hostname` observable naming an asset
# with an open critical finding past its remediation due date is raised to at least `high`,
# once (alerts.services.incident_raise_severity, timeline entry naming the findings). Checked
# when an incident opens, and when a critical finding's remediation clock breaches.
RAISE_TO = "high"
RAISE_CAUSE = "findings"


def _overdue_critical(tenant_id: int):
    return Finding.objects.for_tenant(tenant_id).filter(
        severity="critical", status__in=OPEN_FINDING_STATUSES, overdue_since__isnull=False
    )


def raise_incidents_on_assets(tenant_id: int, asset_ids: set) -> int:
    """Raise the open incidents of this tenant whose observables name these assets."""
    assets = list(Asset.objects.for_tenant(tenant_id).filter(pk__in=list(asset_ids)))
    return _raise(tenant_id, open_incident_ids_on_assets(tenant_id, assets))


def incidents_opened(sender, tenant_id, incident_ids, at, details=None, **kwargs) -> None:
    """alerts.signals.incidents_opened: a new incident on a host with an overdue critical
    finding is raised at once. One indexed EXISTS per intake batch that opens incidents when
    the tenant has no such finding (the usual case)."""
    if not _overdue_critical(tenant_id).exists():
        return
    overdue_assets = set(_overdue_critical(tenant_id).values_list("asset_id", flat=True))
    names = asset_names(Asset.objects.for_tenant(tenant_id).filter(pk__in=list(overdue_assets)))
    hits = set()
    rows = Alert.objects.for_tenant(tenant_id).filter(incident_id__in=list(incident_ids))
    for incident_id, observables in rows.values_list("incident_id", "observables"):
        if _names_hit(observables, names):
            hits.add(incident_id)
    _raise(tenant_id, hits)


def _raise(tenant_id: int, incident_ids: set) -> int:
    from alerts.services import incident_raise_severity

    if not incident_ids:
        return 0
    already = set(
        IncidentEvent.objects.for_tenant(tenant_id)
        .filter(incident_id__in=list(incident_ids), kind="severity_raised", data__cause=RAISE_CAUSE)
        .values_list("incident_id", flat=True)
    )
    raised = 0
    for incident in (
        Incident.objects.for_tenant(tenant_id)
        .filter(pk__in=list(incident_ids - already))
        .select_related("tenant")
    ):
        titles = _overdue_titles(tenant_id, incident)
        changed = incident_raise_severity(
            incident,
            RAISE_TO,
            reason="the host has critical findings past their remediation due date",
            data={"cause": RAISE_CAUSE, "findings": titles},
        )
        raised += int(changed)
    return raised


def _overdue_titles(tenant_id: int, incident: Incident) -> list[str]:
    observables = []
    for item in (
        Alert.objects.for_tenant(tenant_id)
        .filter(incident=incident)
        .values_list("observables", flat=True)[:200]
    ):
        observables += item or []
    from .selectors import assets_for_observables

    assets = assets_for_observables(tenant_id, observables)
    return list(
        _overdue_critical(tenant_id).filter(asset__in=assets).values_list("title", flat=True)[:10]
    )
