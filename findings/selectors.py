"""Reads that the API, the pages, the incident page and reports share."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q
from django.utils import timezone

from tenants.access import Access

from .assets import asset_names, open_incident_ids_on_assets
from .models import OPEN_FINDING_STATUSES, Asset, Finding, FindingStatus, Scanner


def _pairs(observables) -> set[tuple[str, str]]:
    """(type, value) of each observable: an alert's {"type", "value"} or an incident's
    observable row (alerts.models.IncidentObservable)."""
    pairs = set()
    for item in observables or []:
        if isinstance(item, dict):
            kind, value = item.get("type"), item.get("value")
        else:
            kind, value = getattr(item, "type", None), getattr(item, "value", None)
        if kind and value:
            pairs.add((str(kind), str(value)))
    return pairs


def assets_for_observables(tenant_id: int, observables) -> list[Asset]:
    """The tenant's assets that ip/hostname/domain observables name."""
    names = _pairs(observables)
    wanted = {value[:255] for kind, value in names if kind in ("ip", "hostname", "domain")}
    if not wanted:
        return []
    candidates = Asset.objects.for_tenant(tenant_id).filter(
        Q(identifier__in=wanted)
        | Q(ip__in=[w for w in wanted if _is_ip(w)])
        | Q(hostname__in=wanted)
        | Q(fqdn__in=wanted)
    )
    found = []
    for asset in candidates:
        asset_keys = set(asset_names([asset]))
        if asset_keys & names:
            found.append(asset)
    return found


def _is_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def get_open_findings_for_observables(tenant_id: int, observables, limit: int = 100):
    """Open findings of the hosts among an incident's observables, most severe first."""
    assets = assets_for_observables(tenant_id, observables)
    if not assets:
        return []
    return list(
        Finding.objects.for_tenant(tenant_id)
        .filter(asset__in=assets, status__in=OPEN_FINDING_STATUSES)
        .select_related("asset", "clock")
        .order_by("-severity_rank", "id")[:limit]
    )


def get_open_incidents_on_asset(finding: Finding, access: Access, limit: int = 20) -> list:
    """The open incidents whose observables name the finding's host, most urgent first: those
    the caller may read (alerts.tlp: never a RED one for a customer, an AMBER one for a
    viewer)."""
    from alerts import tlp
    from alerts.models import Incident
    from alerts.selectors import URGENCY

    ids = open_incident_ids_on_assets(finding.tenant_id, [finding.asset])
    if not ids:
        return []
    rows = Incident.objects.for_tenant(finding.tenant_id).filter(pk__in=list(ids))
    return list(tlp.visible_incidents(access, rows).order_by(*URGENCY)[:limit])


def get_remediation_summary(tenant_ids, start: datetime, end: datetime) -> dict:
    """Remediation progress for a report of these tenants over [start, end):

    - open_by_severity: findings open or in remediation now, per severity
    - overdue: of those, the ones past their remediation due date now (by severity and total)
    - new_in_period: findings first seen in the period
    - remediated_in_period: findings remediated in the period
    - mean_time_to_remediate_days: mean of (remediated - first seen) over those, in days
      (None when none was remediated)
    - breached_in_period: remediation clocks that breached in the period
    - risk_accepted: findings whose risk is accepted now
    """
    now = timezone.now()
    findings = Finding.objects.for_tenants(tenant_ids)
    open_rows = findings.filter(status__in=OPEN_FINDING_STATUSES)
    by_severity = dict(
        open_rows.order_by()
        .values_list("severity")
        .annotate(n=Count("id"))
        .values_list("severity", "n")
    )
    overdue_rows = open_rows.filter(clock__due_at__lt=now)
    overdue = dict(
        overdue_rows.order_by()
        .values_list("severity")
        .annotate(n=Count("id"))
        .values_list("severity", "n")
    )
    remediated = findings.filter(remediated_at__gte=start, remediated_at__lt=end)
    duration = ExpressionWrapper(F("remediated_at") - F("first_seen"), output_field=DurationField())
    mean = remediated.aggregate(mean=Avg(duration))["mean"]
    severities = ("critical", "high", "medium", "low", "info")
    return {
        "open_by_severity": {s: by_severity.get(s, 0) for s in severities},
        "open_total": sum(by_severity.values()),
        "overdue_by_severity": {s: overdue.get(s, 0) for s in severities},
        "overdue": sum(overdue.values()),
        "new_in_period": findings.filter(first_seen__gte=start, first_seen__lt=end).count(),
        "remediated_in_period": remediated.count(),
        "mean_time_to_remediate_days": round(mean.total_seconds() / 86400, 1)
        if mean is not None
        else None,
        "breached_in_period": findings.filter(
            clock__breached_at__gte=start, clock__breached_at__lt=end
        ).count(),
        "risk_accepted": findings.filter(status=FindingStatus.RISK_ACCEPTED).count(),
    }


SCANNERS = Scanner.choices
