from django.apps import AppConfig


class FindingsConfig(AppConfig):
    name = "findings"
    verbose_name = "Vulnerability findings"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerts import extensions
        from alerts.signals import incidents_opened
        from sla.services import register_sweep

        from . import incidents, sweep

        # Remediation clocks and risk expiries fire in the SLA engine's once-a-second pass.
        register_sweep("findings", sweep.sweep)
        incidents_opened.connect(
            incidents.incidents_opened, dispatch_uid="findings-raise-incidents-on-overdue-hosts"
        )
        extensions.register_panel("incident.evidence", "findings/_incident_findings.html", order=10)
