from django.apps import AppConfig


class IntelConfig(AppConfig):
    name = "intel"
    verbose_name = "Threat intelligence"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerts import extensions
        from alerts.signals import alerts_ingested

        from . import matching

        alerts_ingested.connect(matching.on_alerts_ingested, dispatch_uid="intel-match-intake")
        # Matches on the incident (MSSP staff: sightings at other customers) and on one alert
        # (the template shows a customer only what it may see).
        extensions.register_panel(
            "incident.evidence", "intel/_incident_intel.html", order=20, staff_only=True
        )
        extensions.register_panel("alert.detail", "intel/_alert_intel.html")
