from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "sla"
    verbose_name = "SLA and escalation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerts import extensions
        from alerts.signals import incident_changed, incidents_opened

        from . import receivers, selectors

        incidents_opened.connect(receivers.incidents_opened, dispatch_uid="sla-start-clocks")
        incident_changed.connect(receivers.incident_changed, dispatch_uid="sla-incident-changed")
        # The incident pages' SLA parts: the escalate form, the clocks card (live), and each
        # list row's countdown.
        extensions.register_panel("incident.actions", "sla/_incident_escalate.html")
        extensions.register_panel("incident.live", "sla/_incident_sla.html")
        extensions.register_incident_rows(selectors.attach_next_clocks)
        # The incident export's SLA columns (alerts.exports).
        extensions.register_export_columns(selectors.EXPORT_COLUMNS, selectors.export_sla_states)
