from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerts import extensions

        # The post-incident report's card: draft / approve / share for staff, the link to the
        # shared report for the customer (after the tasks and the escalation form).
        extensions.register_panel("incident.actions", "reports/_incident_report.html", order=200)
