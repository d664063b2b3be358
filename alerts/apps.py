from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts and incidents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A saved source, tenant or rule ends what intake remembers of it, in every process.
        from .intake import lookups

        lookups.connect()
