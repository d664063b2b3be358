from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connectors: the customers' own tools and the services that enrich"
    default_auto_field = "django.db.models.BigAutoField"
