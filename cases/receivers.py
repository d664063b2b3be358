"""The cases app's reactions to the alerts app (alerts.signals, alerts.extensions): a new
incident of a category gets its case template, however it was opened (intake, hunt, a
customer's report, an analyst)."""

from __future__ import annotations

from alerts.models import Incident

from . import services


def incidents_opened(sender, tenant_id, incident_ids, at, details=None, **kwargs) -> None:
    if details and all(i in details for i in incident_ids):
        categories = {i: details[i].get("category", "") for i in incident_ids}
    else:
        categories = dict(
            Incident.objects.for_tenant(tenant_id)
            .filter(pk__in=incident_ids)
            .values_list("pk", "category")
        )
    wanted = {i: c for i, c in categories.items() if c}
    if not wanted:
        return  # the common case at intake: nothing to read
    templates = {c: services.effective_template(tenant_id, c) for c in set(wanted.values())}
    if not any(templates.values()):
        return
    incidents = Incident.objects.for_tenant(tenant_id).filter(
        pk__in=[i for i, c in wanted.items() if templates.get(c)]
    )
    for incident in incidents.select_related("tenant"):
        template = templates[wanted[incident.pk]]
        if template is not None:
            services.template_apply(incident, template, actor=None, at=at)


def default_severity(tenant_id: int, category: str) -> str | None:
    template = services.effective_template(tenant_id, category)
    return template.default_severity or None if template else None


def connect_evidence_cleanup() -> None:
    """A tenant deleted (the Django admin, a shell): its evidence files are removed once the
    deletion is committed. The rows go by the cascade; files are not rows."""
    from django.db.models.signals import post_delete

    from tenants.models import Tenant

    post_delete.connect(tenant_deleted, sender=Tenant, dispatch_uid="cases-evidence-files")


def tenant_deleted(sender, instance, **kwargs) -> None:
    from django.db import transaction

    from . import evidence

    tenant_id = instance.pk
    transaction.on_commit(lambda: evidence.remove_tenant_files(tenant_id))
