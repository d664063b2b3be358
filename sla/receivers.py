"""The SLA app's reactions to what the alerts app reports (alerts.signals)."""

from __future__ import annotations

from . import escalation, services


def incidents_opened(sender, tenant_id, incident_ids, at, details=None, **kwargs) -> None:
    services.start_clocks(tenant_id, incident_ids, at, details=details)
    escalation.on_incidents_opened(tenant_id, incident_ids, at, details=details)


def incident_changed(sender, incident, change, before, after, at, **kwargs) -> None:
    services.on_incident_changed(incident, change, before, after, at)
