"""Case work on pages of lower apps: the incident page's tasks card (a panel, alerts.extensions)
and the in-house inbox's tasks."""

from __future__ import annotations

from typing import Any

from django import template

from alerts.models import Visibility
from tenants.access import access_for

from .. import evidence, policy, selectors
from ..models import Phase, TaskStatus

register = template.Library()

INBOX_TASKS_SHOWN = 50


@register.simple_tag(takes_context=True)
def incident_case_work(context, incident) -> dict[str, Any]:
    """What the incident page's tasks card shows the signed-in caller."""
    request = context["request"]
    access = getattr(request, "access", None) or access_for(request.user)
    tasks = selectors.incident_tasks(access, incident)
    manage = policy.can_manage_tasks(access, incident) and incident.is_open
    for task in tasks:
        task.may_move = incident.is_open and policy.can_change_status(access, task)
    staff = access.is_mssp_staff
    return {
        "tasks": tasks,
        "manage": manage,
        "staff": staff,
        "owners": selectors.owner_choices(incident) if manage else {},
        "templates": selectors.applicable_templates(incident) if staff and manage else [],
        "phases": Phase.choices,
        "statuses": TaskStatus.choices,
        "visibilities": Visibility.choices,
    }


@register.inclusion_tag("cases/_inbox_tasks.html", takes_context=True)
def inbox_tasks(context) -> dict[str, Any]:
    """The inbox's card: shared tasks handed to the caller's side, which they mark done."""
    request = context["request"]
    access = getattr(request, "access", None) or access_for(request.user)
    rows = list(selectors.inbox_tasks(access, request.user)[: INBOX_TASKS_SHOWN + 1])
    for task in rows:
        task.may_move = policy.can_change_status(access, task)
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "tasks": rows[:INBOX_TASKS_SHOWN],
        "more": len(rows) > INBOX_TASKS_SHOWN,
    }


@register.simple_tag(takes_context=True)
def incident_evidence(context, incident) -> dict[str, Any]:
    """What the incident page's evidence card shows the signed-in caller."""
    request = context["request"]
    access = getattr(request, "access", None) or access_for(request.user)
    files = selectors.incident_attachments(access, incident)
    seen: dict[str, Any] = {}
    for attachment in files:
        attachment.may_delete = attachment.deleted_at is None and policy.can_delete_evidence(
            access, attachment
        )
        attachment.same_as = seen.get(attachment.sha256) if attachment.deleted_at is None else None
        if attachment.deleted_at is None:
            seen.setdefault(attachment.sha256, attachment)
    max_bytes, max_count = evidence.limits(incident.tenant_id)
    add = policy.can_add_evidence(access, incident)
    return {
        "files": files,
        "add": add,
        "staff": access.is_mssp_staff,
        "max_size": evidence.human_size(max_bytes),
        "max_count": max_count,
        "comments": selectors.attachable_comments(access, incident) if add else [],
        "tasks": selectors.incident_tasks(access, incident) if add else [],
        "visibilities": Visibility.choices,
    }


@register.filter
def filesize(size: int) -> str:
    return evidence.human_size(int(size or 0))


@register.simple_tag(takes_context=True)
def incident_classification(context, incident) -> dict[str, Any]:
    """The classification card (cases.actions.CLASSIFY): the items the caller may classify,
    those of the incident it sees; a customer's responders and admins only what their
    organisation wrote. `items` is None when the caller classifies nothing here."""
    from alerts import selectors as incident_selectors
    from alerts.models import Pap

    from .. import actions

    request = context["request"]
    access = getattr(request, "access", None) or access_for(request.user)
    if not access.works:
        return {"items": None}
    mine = access.is_mssp_staff

    def offered(rows, text):
        return [(row.pk, text(row)) for row in rows if mine or not actions.authored_by_mssp(row)]

    items = [
        (
            "comment",
            "Comments",
            offered(
                list(incident_selectors.get_comments(access, incident).select_related("author")),
                lambda c: f"{c.author_name}: {c.body} ({c.get_tlp_display()})",
            ),
        ),
        (
            "task",
            "Tasks",
            offered(
                selectors.incident_tasks(access, incident),
                lambda t: f"{t.title} ({t.get_tlp_display()})",
            ),
        ),
        (
            "attachment",
            "Evidence",
            offered(
                [a for a in selectors.incident_attachments(access, incident) if not a.deleted_at],
                lambda a: f"{a.name} ({a.get_tlp_display()})",
            ),
        ),
        (
            "observable",
            "Observables",
            offered(
                incident_selectors.get_observables(access, incident),
                lambda o: f"{o.type} {o.value} ({o.get_tlp_display()}, {o.get_pap_display()})",
            ),
        ),
    ]
    return {"items": items, "staff": mine, "pap_levels": Pap.choices}
