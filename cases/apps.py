from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Case work: tasks and case templates"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerts import extensions
        from alerts.signals import incidents_opened

        from . import custom_fields, receivers

        # After sla (INSTALLED_APPS order): the clocks start first, then the template's tasks.
        incidents_opened.connect(receivers.incidents_opened, dispatch_uid="cases-apply-template")
        extensions.register_default_severity(receivers.default_severity)
        # Files given with an incident as it is raised: kept as its evidence, all or nothing.
        from .opening_files import PROVIDER as files_on_open

        extensions.register_incident_files(files_on_open)
        # The incident page's tasks card, with its "apply template" button (live: task
        # changes are incident.updated events).
        extensions.register_panel("incident.actions", "cases/_incident_tasks.html", order=50)
        # The evidence card: files, their hashes, upload, download and delete.
        extensions.register_panel("incident.evidence", "cases/_incident_evidence.html", order=5)
        # TLP and PAP of the incident and its items (alerts.tlp), for those who may set them.
        extensions.register_panel("incident.evidence", "cases/_incident_classify.html", order=8)
        # A tenant's own incident fields: validated, required and shown for the alerts app.
        extensions.register_custom_fields(custom_fields)
        extensions.register_panel(
            "incident.actions", "cases/_incident_custom_fields.html", order=40
        )
        extensions.register_panel("incident.new", "cases/_new_incident_custom_fields.html")
        # A deleted tenant's evidence files go with it (the rows cascade; the files do not).
        receivers.connect_evidence_cleanup()
