from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "oncall"
    verbose_name = "On-call schedules"
    default_auto_field = "django.db.models.BigAutoField"
