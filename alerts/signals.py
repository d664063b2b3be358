"""What the alerts app tells the apps above it (sla) without importing them.

Sent inside the transaction that made the change, so a receiver's writes commit or roll back
with it. Receivers must be quick and must not fail on ordinary input.
"""

from django.dispatch import Signal

# kwargs: tenant_id, incident_ids (list), at (datetime), and optionally details
#         ({incident_id: {"severity", "category", "source_kind"}}) so receivers need not re-read
incidents_opened = Signal()
# kwargs: incident (Incident), change ("status" | "customer_notified" | "severity"),
#         before, after, at, actor
incident_changed = Signal()
# kwargs: tenant_id, tenant_slug, alerts ([(alert id, observables [{"type", "value"}],
#         severity, incident id or None)] of the alerts this batch stored), at (datetime).
#         Sent once per intake batch, inside its transaction (threat-intelligence matching).
alerts_ingested = Signal()
