from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants import events

        from . import delivery, routing  # noqa: F401 - delivery registers its outbox

        events.on_publish(routing.route)
