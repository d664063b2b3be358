"""Which assets an alert's observables name, and which open incidents concern an asset: reads
that findings.incidents (raising incidents on overdue findings) and the selectors (the finding and
incident pages) share."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import Q

from alerts.models import OPEN_STATUSES, Alert

from .models import Asset


def asset_names(assets: Iterable[Asset]) -> dict[tuple[str, str], Asset]:
    """(observable type, value) -> asset, for matching alert observables."""
    found = {}
    for asset in assets:
        if asset.ip:
            found[("ip", asset.ip)] = asset
        for name in (asset.hostname, asset.fqdn):
            if name:
                found[("hostname", name)] = asset
                found[("domain", name)] = asset
        kind = "ip" if asset.ip == asset.identifier else "hostname"
        found.setdefault((kind, asset.identifier), asset)
    return found


def open_incident_ids_on_assets(tenant_id: int, assets: list[Asset]) -> set:
    """The open incidents of this tenant whose alerts' observables name these assets. On
    PostgreSQL the alerts are found by JSON containment; elsewhere (the embedded mode's
    SQLite) the open incidents' alerts are read and matched here."""
    names = asset_names(assets)
    if not names:
        return set()
    alerts = Alert.objects.for_tenant(tenant_id).filter(
        incident__status__in=_open_incident_statuses(), incident__isnull=False
    )
    if connection.vendor == "postgresql":
        match = Q()
        for kind, value in names:
            match |= Q(observables__contains=[{"type": kind, "value": value}])
        alerts = alerts.filter(match)
    incident_ids = set()
    for incident_id, observables in alerts.values_list("incident_id", "observables").iterator():
        if _names_hit(observables, names):
            incident_ids.add(incident_id)
    return incident_ids


def _names_hit(observables, names) -> bool:
    for item in observables or []:
        if isinstance(item, dict) and (item.get("type"), item.get("value")) in names:
            return True
    return False


def _open_incident_statuses() -> list[str]:
    return [s.value for s in OPEN_STATUSES]
