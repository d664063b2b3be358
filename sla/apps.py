from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "sla"
    verbose_name = "SLA and escalation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerts.signals import incident_changed, incidents_opened

        from . import receivers

        incidents_opened.connect(receivers.incidents_opened, dispatch_uid="sla-start-clocks")
        incident_changed.connect(receivers.incident_changed, dispatch_uid="sla-incident-changed")
