from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connectors: the customers' own tools and the services that enrich"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerts import extensions

        from . import enrichers

        # The enrichment kinds' look-ups and connection tests (connectors.kinds); the
        # response app adds its kinds' hooks in its own ready().
        enrichers.register_all()
        # The incident page's enrichment card: what the sources say of each observable.
        extensions.register_panel(
            "incident.evidence", "connectors/_incident_enrichment.html", order=20
        )
