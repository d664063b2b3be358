from django.apps import AppConfig


class IntelConfig(AppConfig):
    name = "intel"
    verbose_name = "Threat intelligence"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerts.signals import alerts_ingested

        from . import matching

        alerts_ingested.connect(matching.on_alerts_ingested, dispatch_uid="intel-match-intake")
