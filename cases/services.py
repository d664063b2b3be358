"""The writes of case work: tasks and templates. Each change to a task is an entry on its
incident's timeline (with the task's visibility), an audit entry and an `incident.updated`
event for the audience that may see the task (an internal task's: MSSP staff only)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from alerts import tlp
from alerts.models import Comment, Incident, IncidentEvent, Tlp, Visibility
from tenants import audit, events
from tenants.actions import Invalid
from tenants.models import Team, Tenant, User
from tenants.rls import rls_bypass

from . import custom_fields, evidence, policy
from .models import PHASE_ORDER, Attachment, CaseTemplate, Task, TaskStatus

# --- the timeline and the stream ---------------------------------------------------------------


INTERNAL_AUDIT_SUMMARY = {
    "task_created": "an internal task was added",
    "task_updated": "an internal task was changed",
    "task_status": "an internal task's status changed",
}


def _record(
    task: Task,
    actor: User | None,
    kind: str,
    summary: str,
    data: dict | None = None,
    *,
    request=None,
) -> None:
    incident = task.incident
    IncidentEvent.objects.create(
        tenant_id=task.tenant_id,
        incident=incident,
        actor=actor,
        actor_name=getattr(actor, "username", "") or "",
        kind=kind,
        summary=summary[:500],
        data={"task": str(task.pk), "status": task.status, **(data or {})},
        visibility=Visibility.INTERNAL if task.tlp == Tlp.RED else task.visibility,
        tlp=task.tlp,
    )
    # The customer's admins read their tenant's audit log: an internal task's entry says what
    # happened to a task, never its title (the staff-only timeline entry keeps the sentence);
    # a RED task's goes to the MSSP's own log (alerts.tlp).
    shared = task.visibility == Visibility.SHARED
    audit.record(
        kind.replace("_", ".", 1),
        actor=actor,
        tenant=tlp.audit_tenant(task.tlp, task.tenant_id),
        obj=task,
        request=request,
        summary=summary if shared else INTERNAL_AUDIT_SUMMARY.get(kind, "an internal task changed"),
        data={
            "incident": str(task.incident_id),
            "visibility": task.visibility,
            **tlp.audit_data(task.tlp, task.tenant_id),
            **(data or {}),
        },
    )
    Incident.objects.for_tenant(task.tenant_id).filter(pk=task.incident_id).update(
        updated_at=timezone.now()
    )
    _publish(task, kind)


def _publish(task: Task, change: str) -> None:
    """The incident's pages refresh; an internal task's change reaches MSSP staff only, and
    names the task only to those who may see it."""
    audience = ("staff",) if task.visibility == Visibility.INTERNAL else events.EVERYONE
    tenant = Tenant.objects.only("slug").get(pk=task.tenant_id)
    events.tenant_event(
        task.tenant_id,
        tenant.slug,
        "incident.updated",
        str(task.incident_id),
        {"change": change, "task": str(task.pk), "task_status": task.status},
        audience=audience,
        tlp=task.tlp,
    )


def _who(task: Task) -> str:
    if task.owner is not None:
        return task.owner.username
    if task.owner_team is not None:
        return task.owner_team.name
    return "nobody"


def _next_position(incident: Incident) -> int:
    top = (
        Task.objects.for_tenant(incident.tenant_id)
        .filter(incident=incident)
        .aggregate(top=Max("position"))["top"]
    )
    return (top or 0) + 1


# --- tasks ---------------------------------------------------------------------------------------


@transaction.atomic
def task_create(
    incident: Incident,
    *,
    actor: User | None,
    title: str,
    phase: str,
    visibility: str,
    description: str = "",
    owner: User | None = None,
    owner_team: Team | None = None,
    due_at: datetime | None = None,
    template: CaseTemplate | None = None,
    classification: str = Tlp.GREEN,
    request=None,
) -> Task:
    if not incident.is_open:
        raise Invalid(f"A {incident.status} incident takes no new tasks.")
    task = Task.objects.create(
        tenant_id=incident.tenant_id,
        incident=incident,
        title=title,
        description=description,
        phase=phase,
        visibility=visibility,
        owner=owner,
        owner_team=owner_team,
        due_at=due_at,
        template=template,
        position=_next_position(incident),
        created_by=actor,
        tlp=classification,
    )
    task.incident = incident
    _record(
        task,
        actor,
        "task_created",
        f"Task added ({task.get_phase_display()}): {title} — {_who(task)}",
        {"phase": phase, "owner": _who(task)},
        request=request,
    )
    return task


def _locked(task: Task) -> Task:
    locked: Task = (
        Task.objects.for_tenant(task.tenant_id)
        .select_for_update(of=("self",))
        .select_related("incident", "owner", "owner_team")
        .get(pk=task.pk)
    )
    return locked


EDITABLE = ("title", "description", "phase", "due_at", "owner", "owner_team", "visibility")


@transaction.atomic
def task_update(task: Task, *, actor: User, request=None, **changes: Any) -> Task:
    task = _locked(task)
    before = {name: getattr(task, name) for name in EDITABLE if name in changes}
    for name, value in changes.items():
        if name in EDITABLE:
            setattr(task, name, value)
    changed = [name for name in before if before[name] != getattr(task, name)]
    if not changed:
        return task
    if (
        "visibility" in changed
        and task.visibility == Visibility.INTERNAL
        and (policy.is_customer_side(task))
    ):
        raise Invalid({"visibility": ["A task handed to the customer cannot be internal."]})
    task.save()
    summary = f"Task changed: {task.title} ({', '.join(changed)})"
    if "owner" in changed or "owner_team" in changed:
        summary = f"Task {task.title} handed to {_who(task)}"
    if "visibility" in changed and task.visibility == Visibility.SHARED:
        summary = f"Task shared with the customer: {task.title}"
    _record(task, actor, "task_updated", summary, {"changed": changed}, request=request)
    return task


@transaction.atomic
def task_set_status(task: Task, status: str, *, actor: User, request=None) -> Task:
    task = _locked(task)
    if status not in TaskStatus.values:
        raise Invalid({"status": [f"One of {', '.join(TaskStatus.values)}."]})
    if task.status == status:
        raise Invalid(f"The task is already {task.get_status_display().lower()}.")
    before = task.status
    task.status = status
    if status in (TaskStatus.DONE, TaskStatus.CANCELLED):
        task.completed_at, task.completed_by = timezone.now(), actor
    else:
        task.completed_at, task.completed_by = None, None
    task.save()
    _record(
        task,
        actor,
        "task_status",
        f"Task {task.get_status_display().lower()}: {task.title}",
        {"from": before, "to": status},
        request=request,
    )
    return task


# --- templates ---------------------------------------------------------------------------------


def effective_template(tenant_id: int, category: str) -> CaseTemplate | None:
    """The tenant's own active template of the category, else the library's."""
    category = (category or "").strip().lower()
    if not category:
        return None
    found = list(
        CaseTemplate.objects.dangerously_unscoped("a tenant's variant or the MSSP's library")
        .filter(Q(tenant_id=tenant_id) | Q(tenant__isnull=True), category=category)
        .order_by("tenant_id")
    )
    own = [t for t in found if t.tenant_id is not None]
    chosen = own[0] if own else (found[0] if found else None)
    if chosen is None or not chosen.is_active:
        return None  # a tenant's inactive variant switches the library's off for it
    return chosen


@transaction.atomic
def template_apply(
    incident: Incident,
    template: CaseTemplate,
    *,
    actor: User | None,
    at: datetime | None = None,
    request=None,
) -> list[Task]:
    """The template's tasks on the incident, due relative to `at` (now), in phase order; a
    customer-side task goes to the tenant's in-house team. Applying the same template twice
    is refused."""
    if template.tenant_id not in (None, incident.tenant_id):
        raise Invalid({"template": ["No such template for this customer."]})
    if (
        Task.objects.for_tenant(incident.tenant_id)
        .filter(incident=incident, template=template)
        .exists()
    ):
        raise Invalid(f"“{template.name}” is already applied to this incident.")
    at = at or timezone.now()
    team = policy.in_house_team(incident.tenant_id)
    created = []
    specs = sorted(
        enumerate(template.tasks or []),
        key=lambda item: (PHASE_ORDER.get(item[1].get("phase"), 99), item[0]),
    )
    for _, spec in specs:
        customer_side = bool(spec.get("customer_side")) and team is not None
        visibility = Visibility.SHARED if customer_side else spec.get("visibility", "internal")
        minutes = spec.get("due_minutes")
        created.append(
            task_create(
                incident,
                actor=actor,
                title=spec["title"],
                description=spec.get("description", ""),
                phase=spec["phase"],
                visibility=visibility,
                owner_team=team if customer_side else None,
                due_at=at + timedelta(minutes=minutes) if minutes else None,
                template=template,
                request=request,
            )
        )
    custom_fields.apply_template_values(
        incident, template.custom_fields or {}, actor=actor, request=request
    )
    IncidentEvent.objects.create(
        tenant_id=incident.tenant_id,
        incident=incident,
        actor=actor,
        actor_name=getattr(actor, "username", "") or "",
        kind="template_applied",
        summary=f"Case template applied: {template.name} ({len(created)} tasks)",
        data={"template": str(template.pk), "tasks": len(created)},
        visibility=Visibility.INTERNAL,
    )
    audit.record(
        "template.applied",
        actor=actor,
        tenant=incident.tenant_id,
        obj=incident,
        request=request,
        summary=f"case template '{template.name}' applied",
        data={"template": str(template.pk), "tasks": len(created)},
    )
    return created


def template_save(template: CaseTemplate, *, actor: User, created: bool, request=None) -> None:
    template.custom_fields = custom_fields.clean_template_values(
        template.tenant_id, template.custom_fields
    )
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise Invalid(
            {"category": ["There is already a template of this category for this customer."]}
        ) from None
    audit.record(
        "template.created" if created else "template.updated",
        actor=actor,
        tenant=template.tenant_id,
        obj=template,
        request=request,
        summary=f"case template '{template.name}' ({template.category}) "
        + ("created" if created else "changed"),
        data={"library": template.tenant_id is None, "tasks": len(template.tasks)},
    )


def template_delete(template: CaseTemplate, *, actor: User, request=None) -> None:
    audit.record(
        "template.deleted",
        actor=actor,
        tenant=template.tenant_id,
        obj=template,
        request=request,
        summary=f"case template '{template.name}' ({template.category}) deleted",
    )
    # Tasks it made stay (they are the incidents' own), whichever customers they belong to,
    # including those the deleting lead does not see: only the reference goes.
    with rls_bypass("detach the tasks of a deleted case template"):
        Task.objects.dangerously_unscoped("every task the template made").filter(
            template=template
        ).update(template=None)
    template.delete()


# --- evidence ------------------------------------------------------------------------------------


def _evidence_record(
    attachment: Attachment,
    actor: User | None,
    action: str,
    verb: str,
    note: str = "",
    *,
    request=None,
    timeline: bool = True,
) -> None:
    """The chain of custody: an audit entry (who, when, from where, the hash) for every
    addition, download and deletion; additions and deletions also on the incident's timeline
    and stream, for the audience that may see the file."""
    summary = f"Evidence {verb}: {attachment.name} (SHA-256 {attachment.sha256}{note})"
    # The timeline wraps on a phone: the hash's short form there, in full in the audit log.
    short = f"Evidence {verb}: {attachment.name} (SHA-256 {attachment.sha256[:12]}…{note})"
    data = {
        "incident": str(attachment.incident_id),
        "name": attachment.name,
        "sha256": attachment.sha256,
        "size": attachment.size,
        "visibility": attachment.visibility,
    }
    audit_summary = summary
    if attachment.visibility == Visibility.INTERNAL:
        # A customer's admins read their tenant's audit log: an internal file's name stays the
        # MSSP's there (its hash and who handled it are the custody).
        audit_summary = f"Internal evidence {verb} (SHA-256 {attachment.sha256}{note})"
        del data["name"]
    audit.record(
        action,
        actor=actor,
        # A RED file's custody is in the MSSP's own log (alerts.tlp)
        tenant=tlp.audit_tenant(attachment.tlp, attachment.tenant_id),
        obj=attachment,
        request=request,
        summary=audit_summary,
        data={**data, **tlp.audit_data(attachment.tlp, attachment.tenant_id)},
    )
    if not timeline:
        return
    kind = action.replace(".", "_")
    IncidentEvent.objects.create(
        tenant_id=attachment.tenant_id,
        incident_id=attachment.incident_id,
        actor=actor,
        actor_name=getattr(actor, "username", "") or "",
        kind=kind,
        summary=short[:500],
        data={"attachment": str(attachment.pk), "sha256": attachment.sha256},
        visibility=Visibility.INTERNAL if attachment.tlp == Tlp.RED else attachment.visibility,
        tlp=attachment.tlp,
    )
    Incident.objects.for_tenant(attachment.tenant_id).filter(pk=attachment.incident_id).update(
        updated_at=timezone.now()
    )
    audience = ("staff",) if attachment.visibility == Visibility.INTERNAL else events.EVERYONE
    tenant = Tenant.objects.only("slug").get(pk=attachment.tenant_id)
    events.tenant_event(
        attachment.tenant_id,
        tenant.slug,
        "incident.updated",
        str(attachment.incident_id),
        {"change": kind, "attachment": str(attachment.pk)},
        audience=audience,
        tlp=attachment.tlp,
    )


@transaction.atomic
def attachment_add(
    incident: Incident,
    upload: UploadedFile,
    *,
    actor: User,
    visibility: str,
    comment: Comment | None = None,
    task: Task | None = None,
    classification: str = Tlp.GREEN,
    request=None,
) -> Attachment:
    """Store an uploaded file (hashed as it arrived: cases.evidence) as evidence on the
    incident, within the tenant's limits; a refused file leaves no row and no stored file."""
    max_bytes, max_count = evidence.limits(incident.tenant_id)
    if upload.size > max_bytes:
        raise Invalid(evidence.too_large_message(max_bytes), status_code=413)
    # One upload at a time per incident: the count cannot be raced past.
    Incident.objects.for_tenant(incident.tenant_id).select_for_update().filter(
        pk=incident.pk
    ).first()
    live = (
        Attachment.objects.for_tenant(incident.tenant_id)
        .filter(incident=incident, deleted_at__isnull=True)
        .count()
    )
    if live >= max_count:
        raise Invalid(
            f"This incident already holds {live} evidence files, the most it may have "
            f"({max_count}); delete one that is no longer needed first."
        )
    try:
        key = evidence.store(incident.tenant_id, upload)
    except Exception as exc:  # the bucket or disk refused: a clear answer, not a 500
        evidence.logger.exception("evidence store failed for incident %s", incident.pk)
        raise Invalid(evidence.UNAVAILABLE, status_code=503) from exc
    try:
        attachment = Attachment.objects.create(
            tenant_id=incident.tenant_id,
            incident=incident,
            comment=comment,
            task=task,
            name=evidence.clean_name(upload.name or ""),
            storage_key=key,
            size=upload.size,
            sha256=evidence.sha256_of(upload),
            visibility=visibility,
            tlp=classification,
            uploaded_by=actor,
            uploaded_by_name=actor.username,
        )
        _evidence_record(
            attachment,
            actor,
            "evidence.added",
            "added",
            f", {evidence.human_size(attachment.size)}",
            request=request,
        )
    except BaseException:
        evidence.remove(key)  # nothing stored for a row that does not exist
        raise
    return attachment


def attachment_downloaded(attachment: Attachment, *, actor: User, request=None) -> Attachment:
    _evidence_record(
        attachment,
        actor,
        "evidence.downloaded",
        "downloaded",
        request=request,
        timeline=False,
    )
    return attachment


@transaction.atomic
def attachment_delete(attachment: Attachment, *, actor: User, request=None) -> Attachment:
    """Soft delete: the row, its name and hash stay (the chain of custody); the file goes,
    once the deletion is committed."""
    locked = (
        Attachment.objects.for_tenant(attachment.tenant_id)
        .select_for_update()
        .filter(pk=attachment.pk)
        .first()
    )
    if locked is None or locked.deleted_at is not None:
        raise Invalid("This evidence file was already deleted.")
    locked.deleted_at = timezone.now()
    locked.deleted_by = actor
    locked.deleted_by_name = actor.username
    locked.save(update_fields=["deleted_at", "deleted_by", "deleted_by_name"])
    _evidence_record(
        locked,
        actor,
        "evidence.deleted",
        "deleted",
        "; the file is removed",
        request=request,
    )
    key = locked.storage_key
    transaction.on_commit(lambda: evidence.remove(key))
    return locked
