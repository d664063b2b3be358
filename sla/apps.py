from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "sla"
    verbose_name = "SLA and escalation"
    default_auto_field = "django.db.models.BigAutoField"
