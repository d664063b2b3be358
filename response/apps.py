from django.apps import AppConfig


class ResponseConfig(AppConfig):
    name = "response"
    verbose_name = "Response: actions on the customers' own tools, under approvals by contract"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerts import extensions
        from sla import services as sla_services
        from tenants.api.base import narrow_every_view

        from . import clients, policy, services
        from .models import ResponseAction

        # Every API view of actions reads through the incident's TLP (alerts.tlp).
        narrow_every_view(ResponseAction, policy.visible_actions)
        # The kinds' action hooks and connection tests (connectors.kinds).
        clients.register_all()
        # Unanswered approvals escalate, then expire, in the SLA clocks' sweep (every second).
        sla_services.register_sweep("response.approvals", services.sweep)
        # The incident page's "Respond" card: what is in force, the actions, approve/reject.
        extensions.register_panel("incident.actions", "response/_incident_respond.html", order=45)
