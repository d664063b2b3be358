"""Write the observables of incidents that existed before incidents kept their own
(alerts/0011): every incident's rows from its alerts, in batches of incidents, each batch its
own transaction.

A command, not a data migration: `migrate` runs as the schema owner, and the alerts table has
FORCE row-level security (installed after migrations; an earlier one stays in force), so a
migration would read no alerts unless it bypassed the policies; and reading every alert ever
received inside the one migration transaction would hold a deployment's `migrate` for as long
as that takes. This runs beside the serving portal, commits as it goes, and is idempotent:
each incident's counts and first/last seen are set from its alerts as they are (what people
added or tagged by hand is kept), so it may be stopped and run again.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from alerts import observables
from alerts.models import Alert, Incident
from tenants.models import Tenant
from tenants.rls import tenant_scope


class Command(BaseCommand):
    help = "Write every incident's observables from its alerts (once, after upgrading)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", help="Only this tenant (its slug).")
        parser.add_argument("--batch", type=int, default=200, help="Incidents per transaction.")

    def handle(self, *args, tenant=None, batch=200, **options) -> None:
        tenants = Tenant.objects.order_by("pk")
        if tenant:
            tenants = tenants.filter(slug=tenant)
        total_incidents = total_rows = 0
        for tenant_id, slug in tenants.values_list("pk", "slug"):
            after = None
            while True:
                with transaction.atomic(), tenant_scope([tenant_id]):
                    ids = Incident.objects.for_tenant(tenant_id).order_by("pk")
                    if after is not None:
                        ids = ids.filter(pk__gt=after)
                    ids = list(ids.values_list("pk", flat=True)[:batch])
                    if not ids:
                        break
                    total_rows += self._batch(tenant_id, ids)
                    total_incidents += len(ids)
                    after = ids[-1]
            self.stdout.write(f"{slug}: done")
        self.stdout.write(f"{total_incidents} incident(s), {total_rows} observable row(s) written.")

    def _batch(self, tenant_id: int, incident_ids: list) -> int:
        per_incident: dict = {}
        rows = (
            Alert.objects.for_tenant(tenant_id)
            .filter(incident_id__in=incident_ids)
            .values_list("incident_id", "observables", "observed_at", "received_at")
            .iterator(chunk_size=2000)
        )
        for incident_id, found, observed_at, received_at in rows:
            per_incident.setdefault(incident_id, []).append((found, observed_at or received_at))
        tallies = {i: observables.tally(alerts) for i, alerts in per_incident.items()}
        return observables.upsert(
            tenant_id, {i: seen for i, seen in tallies.items() if seen}, replace=True
        )
