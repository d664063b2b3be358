"""Who may do what with tasks and case templates. Role questions are Access's; incident
questions are alerts.policy's. Pages and the API ask these same questions (cases.actions)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from alerts import policy as incident_policy
from alerts import tlp
from alerts.models import Incident, Visibility
from tenants.access import Access, access_for
from tenants.actions import Invalid, Refused
from tenants.models import Membership, Team, Tenant, User

from .models import Attachment, CaseTemplate, Task

NO_TASKS = "You may read this incident's tasks but not change them."
NOT_YOURS = "This task is not your team's to change."
TEMPLATES_FOR_LEADS = "Case templates are managed by MSSP leads and admins."
APPLY_FOR_STAFF = "MSSP staff apply case templates."


def visible_tasks(access: Access, tasks: QuerySet[Task]) -> QuerySet[Task]:
    """Internal tasks are the MSSP's: a customer never sees one, anywhere; nor one its TLP, or
    its incident's, keeps from them (alerts.tlp)."""
    if access.is_mssp_staff:
        return tasks
    return tlp.visible(access, tasks.filter(visibility=Visibility.SHARED))


def can_manage_tasks(access: Access, incident: Incident) -> bool:
    """Adding and editing tasks is working the incident (alerts.policy.can_work): MSSP staff,
    and the in-house team of a tenant that works its incidents itself."""
    return incident_policy.can_work(access, incident)


def check_manage_tasks(access: Access, incident: Incident) -> None:
    if not can_manage_tasks(access, incident):
        raise Refused(NO_TASKS)


def is_customer_side(task: Task) -> bool:
    if task.owner_team_id is not None:
        return task.owner_team is not None and task.owner_team.tenant_id == task.tenant_id
    return task.owner is not None and not task.owner.is_mssp_staff


def can_change_status(access: Access, task: Task) -> bool:
    """Whoever manages the incident's tasks; besides, a customer's responders and admins move
    the shared tasks handed to their side (their team or one of them), whatever the tenant's
    service model: "reset the user's password" is theirs to mark done."""
    if can_manage_tasks(access, task.incident):
        return access.is_mssp_staff or task.visibility == Visibility.SHARED
    return (
        access.is_customer_worker
        and access.customer_tenant_id == task.tenant_id
        and task.visibility == Visibility.SHARED
        and is_customer_side(task)
    )


def check_change_status(access: Access, task: Task) -> None:
    if not can_change_status(access, task):
        raise Refused(NOT_YOURS if access.works else NO_TASKS)


def check_edit_task(access: Access, task: Task) -> None:
    check_manage_tasks(access, task.incident)
    if not access.is_mssp_staff and task.visibility != Visibility.SHARED:
        raise Refused(NO_TASKS)  # never reached through a lookup: they cannot see it


def task_visibility(access: Access, requested: str | None, default: str) -> str:
    """MSSP staff choose; a customer's tasks are always shared (asking for internal is
    refused, as for comments)."""
    if access.is_mssp_staff:
        return requested or default
    if requested == Visibility.INTERNAL:
        raise Invalid({"visibility": ["Customers add shared tasks."]})
    return Visibility.SHARED


def task_owner(incident: Incident, username: str | None, visibility: str) -> User | None:
    """The user named to own a task: someone who may see the incident (alerts.policy.may_own)
    and, on the customer's side, a responder or admin (viewers read). An internal task is the
    MSSP's: only staff own one. Anyone else reads as unknown, with no hint whether the name
    exists."""
    if not username:
        return None
    user = User.objects.filter(username=username, is_active=True).first()
    unknown = Invalid({"owner": ["No such user may work this incident."]})
    if user is None or not incident_policy.may_own(user, incident):
        raise unknown
    if user.is_mssp_staff:
        return user
    if visibility == Visibility.INTERNAL:
        raise Invalid({"owner": ["An internal task is the MSSP's: give it to MSSP staff."]})
    role = access_for(user).customer_role
    if role not in (Membership.Role.RESPONDER, Membership.Role.ADMIN):
        raise unknown
    return user


def task_team(incident: Incident, team_id: object, visibility: str) -> Team | None:
    """The team named to own a task: an MSSP team, or this tenant's own (an internal task
    never goes to the customer's)."""
    if not team_id:
        return None
    team: Team | None = (
        Team.objects.dangerously_unscoped("teams: MSSP or this tenant's")
        .filter(pk=team_id)
        .filter(Q(tenant__isnull=True) | Q(tenant_id=incident.tenant_id))
        .first()
    )
    if team is None:
        raise Invalid({"team": ["No such team for this incident."]})
    if team.tenant_id is not None and visibility == Visibility.INTERNAL:
        raise Invalid({"team": ["An internal task is the MSSP's: not the customer's team."]})
    return team


def in_house_team(tenant_id: int) -> Team | None:
    """The customer's in-house team, which a template's customer-side task goes to."""
    team: Team | None = (
        Team.objects.for_tenant(tenant_id)
        .filter(kind=Team.Kind.IN_HOUSE)
        .order_by("created_at")
        .first()
    )
    return team


# --- templates -------------------------------------------------------------------------------


def may_manage_templates(access: Access, tenant: Tenant | None) -> bool:
    """MSSP leads, managers and admins: the library, and the variants of tenants they see."""
    if not access.is_mssp_staff or not access.is_supervisor:
        return False
    return tenant is None or tenant.pk in access.tenant_ids


def check_manage_template(access: Access, template: CaseTemplate | Tenant | None) -> None:
    tenant = template.tenant if isinstance(template, CaseTemplate) else template
    if not may_manage_templates(access, tenant):
        raise Refused(TEMPLATES_FOR_LEADS)


def check_apply_template(access: Access, incident: Incident) -> None:
    if not access.is_mssp_staff:
        raise Refused(APPLY_FOR_STAFF)
    incident_policy.check_work(access, incident)


# --- evidence --------------------------------------------------------------------------------

NO_EVIDENCE = "Your role reads this incident's evidence; responders and admins add files."
NOT_YOUR_FILE = "Only MSSP staff and the person who added a file delete it."
EVIDENCE_GONE = "This evidence file was deleted; its record and hash remain."


def visible_attachments(access: Access, attachments: QuerySet[Attachment]) -> QuerySet[Attachment]:
    """Internal evidence is the MSSP's: a customer never sees, lists or downloads one; nor one
    its TLP, or its incident's, keeps from them (alerts.tlp)."""
    if access.is_mssp_staff:
        return attachments
    return tlp.visible(access, attachments.filter(visibility=Visibility.SHARED))


def can_add_evidence(access: Access, incident: Incident) -> bool:
    """MSSP staff, and the customer's responders and admins (whatever the service model: a
    customer hands over the phishing e-mail on an outsourced incident too). Viewers read."""
    return incident.tenant_id in access.tenant_ids and access.works


def check_add_evidence(access: Access, incident: Incident) -> None:
    if not can_add_evidence(access, incident):
        raise Refused(NO_EVIDENCE)


def evidence_visibility(access: Access, requested: str | None, linked_to: str | None) -> str:
    """MSSP staff choose (internal by default, as for comments); a customer's files are always
    shared, and asking for internal is refused. A file on an internal comment or task is
    internal: the customer could not see what it belongs to."""
    if access.is_mssp_staff:
        visibility = requested or linked_to or Visibility.INTERNAL
    elif requested == Visibility.INTERNAL:
        raise Invalid({"visibility": ["Customers add shared evidence."]})
    else:
        visibility = Visibility.SHARED
    if linked_to == Visibility.INTERNAL and visibility != Visibility.INTERNAL:
        raise Invalid({"visibility": ["A file on an internal comment or task is internal."]})
    return visibility


def check_download_evidence(access: Access, attachment: Attachment) -> None:
    """Whoever sees the file (the lookup went through visible_attachments) while it exists."""
    if attachment.tenant_id not in access.tenant_ids:
        raise Refused(NO_EVIDENCE)  # never reached through a lookup
    if attachment.deleted_at is not None:
        raise Invalid(EVIDENCE_GONE, status_code=410)


def can_delete_evidence(access: Access, attachment: Attachment) -> bool:
    if attachment.tenant_id not in access.tenant_ids or not access.works:
        return False
    return access.is_mssp_staff or (
        access.user_id is not None and attachment.uploaded_by_id == access.user_id
    )


def check_delete_evidence(access: Access, attachment: Attachment) -> None:
    if not can_delete_evidence(access, attachment):
        raise Refused(NOT_YOUR_FILE)
    if attachment.deleted_at is not None:
        raise Invalid(EVIDENCE_GONE, status_code=410)
