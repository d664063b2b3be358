from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts and incidents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A saved source, tenant or rule ends what intake remembers of it, in every process.
        from .intake import lookups

        lookups.connect()
        # Every stream event about a classified incident or item reaches only who may read it.
        from tenants import events

        from . import tlp

        events.on_build(tlp.shape_events)
        tlp.narrow_api_views()
