"""What a user can do with tasks and case templates, once for the pages and the API
(tenants.actions): check with cases.policy, validate with the API's serializers, do through
cases.services."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest

from alerts import policy as incident_policy
from alerts import selectors as incident_selectors
from alerts import services as incident_services
from alerts import tlp as classification
from alerts.api.serializers import ClassifySerializer
from alerts.models import (
    Comment,
    Incident,
    IncidentObservable,
    ObservableSource,
    Origin,
    Visibility,
)
from tenants.access import Access
from tenants.actions import Action, Invalid, Refused
from tenants.models import Tenant, User

from . import custom_fields, policy, services
from .api.field_serializers import CustomFieldSerializer
from .api.serializers import (
    ApplyTemplateSerializer,
    AttachmentUploadSerializer,
    CaseTemplateSerializer,
    TaskStatusSerializer,
    TaskWriteSerializer,
)
from .models import Attachment, CaseTemplate, CustomField, Task

# --- tasks -----------------------------------------------------------------------------------


def _owners(
    incident: Incident, visibility: str, owner: str | None, team: UUID | None
) -> dict[str, Any]:
    user = policy.task_owner(incident, owner, visibility)
    owning_team = policy.task_team(incident, team, visibility)
    if user is not None and owning_team is not None:
        raise Invalid({"owner": ["A task has one owner: a person or a team, not both."]})
    return {"owner": user, "owner_team": owning_team}


def _add_task(
    incident: Incident,
    /,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None = None,
    title: str,
    phase: str,
    visibility: str = "",
    description: str = "",
    owner: str | None = None,
    team: UUID | None = None,
    due_at: datetime | None = None,
    tlp: str = "",
    **_: Any,
) -> Task:
    default = Visibility.INTERNAL
    if not visibility and (owner or team):
        # Not said: a task handed to the customer's side is shared with them.
        owners = _owners(incident, Visibility.SHARED, owner, team)
        if policy.is_customer_side(Task(tenant_id=incident.tenant_id, **owners)):
            default = Visibility.SHARED
    visibility = policy.task_visibility(access, visibility or None, default)
    return services.task_create(
        incident,
        actor=actor,
        title=title,
        phase=phase,
        visibility=visibility,
        description=description,
        due_at=due_at,
        classification=classification.check_tlp(access, tlp or None),
        request=request,
        **_owners(incident, visibility, owner, team),
    )


def _edit_task(
    task: Task, /, *, actor: User, access: Access, request: HttpRequest | None = None, **fields: Any
) -> Task:
    changes: dict[str, Any] = {
        name: fields[name] for name in ("title", "description", "phase", "due_at") if name in fields
    }
    visibility = task.visibility
    if "visibility" in fields:
        visibility = policy.task_visibility(access, fields["visibility"], task.visibility)
        changes["visibility"] = visibility
    if "owner" in fields or "team" in fields:
        owners = _owners(task.incident, Visibility.SHARED, fields.get("owner"), fields.get("team"))
        handed = Task(tenant_id=task.tenant_id, **owners)
        if policy.is_customer_side(handed) and visibility == Visibility.INTERNAL:
            if fields.get("visibility") == Visibility.INTERNAL and task.visibility != (
                Visibility.INTERNAL
            ):
                raise Invalid({"visibility": ["A task handed to the customer is shared."]})
            # Handing it to the customer shares it: they could not do what they cannot see.
            changes["visibility"] = visibility = Visibility.SHARED
        changes |= _owners(task.incident, visibility, fields.get("owner"), fields.get("team"))
    elif visibility == Visibility.INTERNAL and policy.is_customer_side(task):
        raise Invalid({"visibility": ["A task handed to the customer cannot be internal."]})
    task = services.task_update(task, actor=actor, request=request, **changes)
    if fields.get("tlp"):
        _classify_item(task, access=access, actor=actor, request=request, tlp=fields["tlp"])
    return task


def _set_status(
    task: Task, /, *, actor: User, status: str, request: HttpRequest | None = None, **_: Any
) -> Task:
    return services.task_set_status(task, status, actor=actor, request=request)


ADD_TASK = Action(
    "task.add",
    do=_add_task,
    check=policy.check_manage_tasks,
    serializer=TaskWriteSerializer,
    done=lambda task: (
        f"Task added: {task.title}"
        + (" (internal: the customer does not see it)." if task.visibility == "internal" else ".")
    ),
)
EDIT_TASK = Action(
    "task.edit",
    do=_edit_task,
    check=policy.check_edit_task,
    serializer=TaskWriteSerializer,
    changes_target=True,
    done=lambda task: f"Task saved: {task.title}",
)
SET_TASK_STATUS = Action(
    "task.status",
    do=_set_status,
    check=policy.check_change_status,
    serializer=TaskStatusSerializer,
    done=lambda task: f"Task {task.get_status_display().lower()}: {task.title}",
)

# --- templates -------------------------------------------------------------------------------


def template_tenant(access: Access, slug: str | None) -> Tenant | None:
    """The tenant a template variant is for (one the caller sees), or None for the library;
    any other reads as missing."""
    if not slug:
        return None
    tenant = Tenant.objects.filter(slug=slug, pk__in=access.tenant_ids).first()
    if tenant is None:
        raise Invalid({"tenant": ["No such customer among those you work."]})
    return tenant


def _template_fields(template: CaseTemplate, fields: dict[str, Any]) -> None:
    names = ("category", "name", "description", "default_severity", "tasks", "is_active")
    for name in (*names, "custom_fields"):
        if name in fields:
            value = fields[name]
            if name == "tasks":
                value = [
                    {k: v for k, v in dict(spec).items() if v not in (None, "")} for spec in value
                ]
            elif name == "custom_fields":
                value = value or {}  # checked against the customer's fields by template_save
            setattr(template, name, value if value is not None else "")


def _create_template(
    tenant: Tenant | None, /, *, actor: User, request: HttpRequest | None = None, **fields: Any
) -> CaseTemplate:
    fields.pop("tenant", None)
    template = CaseTemplate(tenant=tenant, created_by=actor)
    _template_fields(template, fields)
    services.template_save(template, actor=actor, created=True, request=request)
    return template


def _update_template(
    template: CaseTemplate, /, *, actor: User, request: HttpRequest | None = None, **fields: Any
) -> CaseTemplate:
    current = template.tenant.slug if template.tenant is not None else None
    if "tenant" in fields and (fields["tenant"] or None) != current:
        raise Invalid({"tenant": ["A template stays with its customer (or the library)."]})
    _template_fields(template, fields)
    services.template_save(template, actor=actor, created=False, request=request)
    return template


def _delete_template(
    template: CaseTemplate, /, *, actor: User, request: HttpRequest | None = None, **_: Any
) -> None:
    services.template_delete(template, actor=actor, request=request)


def _apply(
    incident: Incident,
    /,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None = None,
    template: UUID,
    **_: Any,
) -> list[Task]:
    found = (
        CaseTemplate.objects.dangerously_unscoped("the library or this customer's own")
        .filter(pk=template, tenant_id__in=[incident.tenant_id])
        .first()
    ) or (
        CaseTemplate.objects.dangerously_unscoped("the library")
        .filter(pk=template, tenant__isnull=True)
        .first()
    )
    if found is None:
        raise Invalid({"template": ["No such template for this customer."]})
    if not found.is_active:
        raise Invalid({"template": ["This template is switched off."]})
    return services.template_apply(incident, found, actor=actor, request=request)


CREATE_TEMPLATE = Action(
    "template.create",
    do=_create_template,
    check=policy.check_manage_template,
    serializer=CaseTemplateSerializer,
    done=lambda template: f"Template saved: {template.name}",
)
UPDATE_TEMPLATE = Action(
    "template.update",
    do=_update_template,
    check=policy.check_manage_template,
    serializer=CaseTemplateSerializer,
    changes_target=True,
    done=lambda template: f"Template saved: {template.name}",
)
DELETE_TEMPLATE = Action(
    "template.delete",
    do=_delete_template,
    check=policy.check_manage_template,
    done="Template deleted.",
)


APPLY_TEMPLATE = Action(
    "template.apply",
    do=_apply,
    check=policy.check_apply_template,
    serializer=ApplyTemplateSerializer,
    done=lambda tasks: f"Template applied: {len(tasks)} task(s) added.",
)


# --- evidence --------------------------------------------------------------------------------


def _linked(
    incident: Incident, access: Access, comment: UUID | None, task: UUID | None
) -> dict[str, Any]:
    """The comment or task of this incident a file belongs to, among those the caller sees;
    any other (another incident's, an internal one for a customer) reads as missing."""
    found: dict[str, Any] = {"comment": None, "task": None}
    if comment:
        found["comment"] = (
            incident_selectors.get_comments(access, incident).filter(pk=comment).first()
        )
        if found["comment"] is None:
            raise Invalid({"comment": ["No such comment on this incident."]})
    if task:
        tasks = policy.visible_tasks(
            access, Task.objects.for_tenant(incident.tenant_id).filter(pk=task, incident=incident)
        )
        found["task"] = tasks.first()
        if found["task"] is None:
            raise Invalid({"task": ["No such task on this incident."]})
    return found


def _add_attachment(
    incident: Incident,
    /,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None = None,
    file: UploadedFile[bytes],
    visibility: str = "",
    comment: UUID | None = None,
    task: UUID | None = None,
    tlp: str = "",
    **_: Any,
) -> Attachment:
    linked = _linked(incident, access, comment, task)
    owner = linked["comment"] or linked["task"]
    chosen = policy.evidence_visibility(
        access, visibility or None, owner.visibility if owner is not None else None
    )
    level = classification.check_tlp(access, tlp or None)
    if owner is not None:  # a file is at least as restricted as what it belongs to
        level = classification.stricter(level, owner.tlp)
    return services.attachment_add(
        incident,
        file,
        actor=actor,
        visibility=chosen,
        classification=level,
        request=request,
        **linked,
    )


def _download_attachment(
    attachment: Attachment, /, *, actor: User, request: HttpRequest | None = None, **_: Any
) -> Attachment:
    return services.attachment_downloaded(attachment, actor=actor, request=request)


def _delete_attachment(
    attachment: Attachment, /, *, actor: User, request: HttpRequest | None = None, **_: Any
) -> Attachment:
    return services.attachment_delete(attachment, actor=actor, request=request)


ADD_ATTACHMENT = Action(
    "evidence.add",
    do=_add_attachment,
    check=policy.check_add_evidence,
    serializer=AttachmentUploadSerializer,
    done=lambda attachment: (
        f"Evidence added: {attachment.name}"
        + (
            " (internal: the customer does not see it)."
            if attachment.visibility == "internal"
            else "."
        )
    ),
)
DOWNLOAD_ATTACHMENT = Action(
    "evidence.download", do=_download_attachment, check=policy.check_download_evidence
)
DELETE_ATTACHMENT = Action(
    "evidence.delete",
    do=_delete_attachment,
    check=policy.check_delete_evidence,
    done=lambda attachment: f"Evidence deleted: {attachment.name}. Its record and hash remain.",
)


# --- custom fields ---------------------------------------------------------------------------


def _field_changes(fields: dict[str, Any]) -> dict[str, Any]:
    fields.pop("tenant", None)
    fields.pop("from_library", None)  # read by the adapters (cases.custom_fields.adoption_body)
    return fields


def _create_field(
    tenant: Tenant,
    /,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None = None,
    **fields: Any,
) -> CustomField:
    field = CustomField(tenant=tenant, created_by=actor)
    return custom_fields.save_definition(
        field, _field_changes(fields), access=access, actor=actor, request=request
    )


def _update_field(
    field: CustomField,
    /,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None = None,
    **fields: Any,
) -> CustomField:
    if "tenant" in fields and fields["tenant"] != field.tenant.slug:
        raise Invalid({"tenant": ["A field stays with its customer."]})
    return custom_fields.save_definition(
        field, _field_changes(fields), access=access, actor=actor, request=request
    )


CREATE_FIELD = Action(
    "custom_field.create",
    do=_create_field,
    check=custom_fields.check_manage,
    serializer=CustomFieldSerializer,
    done=lambda field: f"Field added: {field.label}",
)
UPDATE_FIELD = Action(
    "custom_field.update",
    do=_update_field,
    check=custom_fields.check_manage,
    serializer=CustomFieldSerializer,
    changes_target=True,
    done=lambda field: (
        f"Field archived: {field.label}" if field.is_archived else f"Field saved: {field.label}"
    ),
)


# --- classification: TLP and PAP (alerts.tlp) --------------------------------------------------

NO_CLASSIFYING = "Your role reads incidents; responders and admins classify what they write."
ITEM_MISSING = "No such {kind} on this incident."


def authored_by_mssp(item: Any) -> bool:
    """Whether the MSSP wrote it (a customer then never changes its TLP or PAP)."""
    if isinstance(item, Incident):
        return item.origin != Origin.CUSTOMER
    if isinstance(item, IncidentObservable):
        return item.source != ObservableSource.CUSTOMER
    author = {Comment: "author", Task: "created_by", Attachment: "uploaded_by"}[type(item)]
    person = getattr(item, author)
    return person is None or person.is_mssp_staff


def check_classify(access: Access, incident: Incident) -> None:
    """MSSP staff who see the incident, and a customer's responders and admins (on what they
    authored: _classify_item); viewers read."""
    if not access.works or incident.tenant_id not in access.tenant_ids:
        raise Refused(NO_CLASSIFYING)


def _classify_item(
    item: Any,
    *,
    access: Access,
    actor: User,
    request: HttpRequest | None = None,
    tlp: str | None = None,
    pap: str | None = None,
) -> Any:
    mssp = authored_by_mssp(item)
    new_tlp = (
        classification.check_tlp(access, tlp, current=item.tlp, mssp_authored=mssp) if tlp else None
    )
    new_pap = (
        classification.check_pap(access, pap, current=item.pap, mssp_authored=mssp)
        if pap and hasattr(item, "pap")
        else None
    )
    incident = item if isinstance(item, Incident) else item.incident
    return incident_services.item_classify(
        item, incident=incident, actor=actor, tlp=new_tlp, pap=new_pap, request=request
    )


def classified_item(access: Access, incident: Incident, kind: str, pk: UUID) -> Any:
    """The comment, task, evidence file or observable of this incident the caller sees."""
    rows: Any
    if kind == "comment":
        rows = incident_selectors.get_comments(access, incident)
    elif kind == "task":
        rows = policy.visible_tasks(
            access, Task.objects.for_tenant(incident.tenant_id).filter(incident=incident)
        )
    elif kind == "attachment":
        rows = policy.visible_attachments(
            access, Attachment.objects.for_tenant(incident.tenant_id).filter(incident=incident)
        )
    else:
        rows = incident_policy.visible_observables(
            access,
            IncidentObservable.objects.for_tenant(incident.tenant_id).filter(incident=incident),
        )
    found = rows.filter(pk=pk).first()
    if found is None:
        raise Invalid({kind: [ITEM_MISSING.format(kind=kind)]})
    found.incident = incident
    return found


def _classify(
    incident: Incident,
    /,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None = None,
    tlp: str | None = None,
    pap: str | None = None,
    **items: Any,
) -> Any:
    item: Any = incident
    for kind in ("comment", "task", "attachment", "observable"):
        if items.get(kind):
            item = classified_item(access, incident, kind, items[kind])
    return _classify_item(item, access=access, actor=actor, request=request, tlp=tlp, pap=pap)


CLASSIFY = Action(
    "classify",
    do=_classify,
    check=check_classify,
    serializer=ClassifySerializer,
    done=lambda item: (
        f"Classified: {item.get_tlp_display()}"
        + (f", {item.get_pap_display()}" if hasattr(item, "pap") else "")
        + "."
    ),
)
