"""Reads of case work for the pages: an incident's tasks card, the inbox's tasks, the
template library."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from guardian.shortcuts import get_users_with_perms

from alerts import selectors as incident_selectors
from alerts.models import Comment, Incident
from tenants.access import Access
from tenants.models import Membership, StaffRole, Team, User

from . import policy
from .models import FINISHED, Attachment, CaseTemplate, Phase, Task, TaskStatus

RELATED = ("owner", "owner_team", "template", "completed_by")


def incident_tasks(access: Access, incident: Incident) -> list[Task]:
    rows = Task.objects.for_tenant(incident.tenant_id).filter(incident=incident)
    return list(policy.visible_tasks(access, rows).select_related(*RELATED).order_by("position"))


def owner_choices(incident: Incident) -> dict[str, list[Any]]:
    """Who a task of this incident may go to: the MSSP staff who work its tenant, the
    customer's responders and admins, the MSSP's teams and the customer's own."""
    members = list(
        Membership.objects.for_tenant(incident.tenant_id)
        .filter(role__in=[Membership.Role.RESPONDER, Membership.Role.ADMIN], user__is_active=True)
        .select_related("user")
        .order_by("user__username")[:200]
    )
    # Who works the tenant (alerts.policy.may_own, asked for all at once): admins and managers
    # see every tenant; analysts and leads hold a permission on this one.
    holders = get_users_with_perms(
        incident.tenant,
        only_with_perms_in=["work_tenant", "lead_tenant"],
        with_group_users=False,
    ).values_list("pk", flat=True)
    staff = list(
        User.objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(staff_role__in=[StaffRole.ADMIN, StaffRole.MANAGER])
            | Q(staff_role__gt="", pk__in=list(holders))
        )
        .order_by("username")[:200]
    )
    teams = list(
        Team.objects.dangerously_unscoped("teams: MSSP or this tenant's")
        .filter(Q(tenant__isnull=True) | Q(tenant_id=incident.tenant_id))
        .order_by("name")
    )
    return {"customer": [m.user for m in members], "staff": staff, "teams": teams}


def applicable_templates(incident: Incident) -> list[CaseTemplate]:
    """The active templates an analyst may apply here: this customer's and the library's
    (a customer's variant hides the library's of its category)."""
    rows = list(
        CaseTemplate.objects.dangerously_unscoped("the library and this customer's own")
        .filter(Q(tenant_id=incident.tenant_id) | Q(tenant__isnull=True), is_active=True)
        .order_by("category", "name")
    )
    own = {t.category for t in rows if t.tenant_id is not None}
    return [t for t in rows if t.tenant_id is not None or t.category not in own]


def inbox_tasks(access: Access, user: User) -> QuerySet[Task]:
    """The shared, unfinished tasks handed to the caller's side: to them, to one of their
    tenant's teams they are in, or to their tenant's in-house team."""
    tenant_id = access.customer_tenant_id
    if tenant_id is None:
        return Task.objects.none()
    mine = (
        Q(owner=user)
        | Q(owner_team__members=user)
        | Q(owner_team__tenant_id=tenant_id, owner_team__kind=Team.Kind.IN_HOUSE)
    )
    return (
        policy.visible_tasks(access, Task.objects.for_tenant(tenant_id))
        .exclude(status__in=FINISHED)
        .filter(mine)
        .distinct()
        .select_related("incident", "incident__tenant", *RELATED)
        .order_by("due_at", "created_at")
    )


PHASES = Phase.choices
STATUSES = TaskStatus.choices


# --- evidence ------------------------------------------------------------------------------------

ATTACHMENTS_SHOWN = 500
COMMENTS_OFFERED = 50


def incident_attachments(access: Access, incident: Incident) -> list[Attachment]:
    rows = Attachment.objects.for_tenant(incident.tenant_id).filter(incident=incident)
    return list(
        policy.visible_attachments(access, rows)
        .select_related("comment", "task")
        .order_by("created_at", "id")[:ATTACHMENTS_SHOWN]
    )


def attachable_comments(access: Access, incident: Incident) -> list[Comment]:
    """The latest comments the caller sees, which a new file may belong to."""
    rows = incident_selectors.get_comments(access, incident)
    return list(rows.order_by("-created_at", "-id")[:COMMENTS_OFFERED])
