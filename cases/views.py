"""Portal pages of case work: the incident page's task forms (its card is a panel,
cases.templatetags), the inbox's "mark done", and the case templates' settings pages. Each
runs the same Action as the API (cases.actions)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from alerts import selectors as incident_selectors
from alerts.api.serializers import ClassifySerializer
from alerts.models import Incident, Severity, Visibility
from tenants.actions import Invalid, Refused, error_sentence, page_perform, perform
from tenants.api.pagination import paginate_page
from tenants.models import AuditEvent, Tenant
from tenants.views import error_text, portal_view

from . import actions, custom_fields, evidence, policy
from .models import Attachment, CaseTemplate, Phase, Task

TEMPLATE_PAGE_SIZE = 25
BLANK_FIELD_ROWS = 2
BLANK_TASK_ROWS = 3
TASK_FIELDS = ("title", "description", "phase", "visibility", "owner", "team", "due_at", "tlp")


def _back(request, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = default
    return HttpResponseRedirect(target or default)


def _incident(access, pk) -> Incident:
    incident = (
        incident_selectors.get_incidents(access).select_related("tenant").filter(pk=pk)
    ).first()
    if incident is None:
        raise Http404("No such incident.")
    return incident


def _task(access, pk) -> Task:
    rows = Task.objects.for_tenants(access.tenant_ids).filter(pk=pk)
    task = (
        policy.visible_tasks(access, rows)
        .select_related("incident", "incident__tenant", "owner", "owner_team")
        .first()
    )
    if task is None:  # another tenant's, an internal one for a customer: as missing
        raise Http404("No such task.")
    return task


def _task_data(post) -> dict:
    """The form's fields, blank ones left out (the serializer's defaults apply)."""
    data = {name: post[name] for name in TASK_FIELDS if post.get(name)}
    owner = data.pop("owner", "")
    if owner.startswith("team:"):  # one select names a person or a team
        data["team"] = owner.removeprefix("team:")
    elif owner:
        data["owner"] = owner
    return data


@require_POST
@portal_view
def task_add(request, access, pk):
    incident = _incident(access, pk)
    page_perform(
        request, actions.ADD_TASK, access=access, target=incident, data=_task_data(request.POST)
    )
    return _back(request, reverse("incident", args=[incident.pk]) + "#tasks-h")


@require_POST
@portal_view
def task_edit(request, access, pk):
    """Hand a task to someone (the customer's team among them), or share it."""
    task = _task(access, pk)
    data = _task_data(request.POST)
    if "owner" not in data and "team" not in data and request.POST.get("owner") == "":
        data["owner"] = None  # "nobody" chosen
    page_perform(request, actions.EDIT_TASK, access=access, target=task, data=data)
    return _back(request, reverse("incident", args=[task.incident_id]) + "#tasks-h")


@require_POST
@portal_view
def task_status(request, access, pk):
    task = _task(access, pk)
    page_perform(
        request,
        actions.SET_TASK_STATUS,
        access=access,
        target=task,
        data={"status": request.POST.get("status", "")},
    )
    return _back(request, reverse("incident", args=[task.incident_id]) + "#tasks-h")


@require_POST
@portal_view
def apply_template(request, access, pk):
    incident = _incident(access, pk)
    page_perform(
        request,
        actions.APPLY_TEMPLATE,
        access=access,
        target=incident,
        data={"template": request.POST.get("template", "")},
    )
    return _back(request, reverse("incident", args=[incident.pk]) + "#tasks-h")


# --- case templates: settings pages -------------------------------------------------------------


def _templates_allowed(access) -> None:
    if not (access.is_mssp_staff and access.is_supervisor):
        raise PermissionDenied(policy.TEMPLATES_FOR_LEADS)


def _visible_templates(access):
    from django.db.models import Q

    return CaseTemplate.objects.dangerously_unscoped(
        "the library and the caller's tenants'"
    ).filter(Q(tenant__isnull=True) | Q(tenant_id__in=sorted(access.tenant_ids)))


@portal_view
def templates(request, access):
    _templates_allowed(access)
    rows = _visible_templates(access).select_related("tenant")
    which = request.GET.get("tenant", "")
    if which == "library":
        rows = rows.filter(tenant__isnull=True)
    elif which:
        rows = rows.filter(tenant__slug=which)
    error, status = "", 200
    try:
        page = paginate_page(request, rows, "-id", page_size=TEMPLATE_PAGE_SIZE)
        found, next_url = page.rows, page.next_url
    except ApiValidationError as exc:  # a cursor this list never gave out
        error, status, found, next_url = error_text(exc), 400, [], None
    context = {
        "templates": found,
        "next_url": next_url,
        "error": error,
        "tenants": list(Tenant.objects.filter(pk__in=access.tenant_ids).order_by("name")),
        "which": which,
    }
    return render(request, "cases/templates.html", context, status=status)


def _template_data(post) -> dict:
    """The form's fields and its task rows (task-<n>-<field>), blank rows left out."""
    data: dict = {
        name: post.get(name, "") for name in ("category", "name", "description", "default_severity")
    }
    data["is_active"] = bool(post.get("is_active"))
    tasks = []
    for n in range(
        int(post.get("task_rows") or 0) if str(post.get("task_rows", "")).isdigit() else 0
    ):
        if n >= 60:
            break
        title = post.get(f"task-{n}-title", "").strip()
        if not title or post.get(f"task-{n}-delete"):
            continue
        spec = {
            "title": title,
            "description": post.get(f"task-{n}-description", ""),
            "phase": post.get(f"task-{n}-phase", ""),
            "visibility": post.get(f"task-{n}-visibility", "") or Visibility.INTERNAL,
            "customer_side": bool(post.get(f"task-{n}-customer_side")),
        }
        due = post.get(f"task-{n}-due_minutes", "").strip()
        if due:
            spec["due_minutes"] = due
        tasks.append(spec)
    data["tasks"] = tasks
    values = {}
    rows = post.get("field_rows", "")
    for n in range(min(int(rows) if str(rows).isdigit() else 0, custom_fields.MAX_FIELDS)):
        key = post.get(f"field-{n}-key", "").strip()
        if key and not post.get(f"field-{n}-delete"):
            values[key] = post.get(f"field-{n}-value", "")
    data["custom_fields"] = values
    return data


def _template_field_keys(access, template: CaseTemplate | None) -> list[tuple[str, str]]:
    """(key, label) of the fields a template's values may name: its customer's, or for the
    library those of every customer the caller works."""
    if template is not None and template.tenant_id is not None:
        fields = custom_fields.definitions(template.tenant_id, staff=True, archived=False)
    else:
        per_tenant = custom_fields.definitions_for(access.tenant_ids, staff=True)
        fields = [f for found in per_tenant.values() for f in found if not f.is_archived]
    labels: dict[str, set[str]] = {}
    for field in fields:
        labels.setdefault(field.key, set()).add(field.label)
    return [(key, " / ".join(sorted(names))) for key, names in sorted(labels.items())]


def _template_form(request, access, template: CaseTemplate | None, status: int = 200, values=None):
    specs = list(values["tasks"]) if values else list(template.tasks if template else [])
    rows = specs + [{} for _ in range(BLANK_TASK_ROWS)]
    given = values["custom_fields"] if values else (template.custom_fields if template else {})
    field_rows = [{"key": k, "value": v} for k, v in (given or {}).items()]
    context = {
        "template": template,
        "values": values or {},
        "task_rows": rows,
        "field_rows": field_rows + [{} for _ in range(BLANK_FIELD_ROWS)],
        "field_keys": _template_field_keys(access, template),
        "tenants": list(Tenant.objects.filter(pk__in=access.tenant_ids).order_by("name")),
        "phases": Phase.choices,
        "severities": Severity.choices,
        "visibilities": Visibility.choices,
    }
    return render(request, "cases/template_edit.html", context, status=status)


@portal_view
def template_new(request, access):
    _templates_allowed(access)
    if request.method != "POST":
        return _template_form(request, access, None)
    data = _template_data(request.POST)
    try:
        tenant = actions.template_tenant(access, request.POST.get("tenant") or None)
    except Invalid as exc:
        messages.error(request, error_sentence(exc.detail))
        return _template_form(request, access, None, 400, data)
    done, template = page_perform(
        request, actions.CREATE_TEMPLATE, access=access, target=tenant, data=data
    )
    if done:
        return HttpResponseRedirect(reverse("case-templates"))
    return _template_form(request, access, None, 400, data)


def _template(access, pk) -> CaseTemplate:
    template = _visible_templates(access).select_related("tenant").filter(pk=pk).first()
    if template is None:
        raise Http404("No such template.")
    return template


@portal_view
def template_edit(request, access, pk):
    _templates_allowed(access)
    template = _template(access, pk)
    if request.method != "POST":
        return _template_form(request, access, template)
    data = _template_data(request.POST)
    done, _ = page_perform(
        request, actions.UPDATE_TEMPLATE, access=access, target=template, data=data
    )
    if done:
        return HttpResponseRedirect(reverse("case-templates"))
    return _template_form(request, access, template, 400, data)


@require_POST
@portal_view
def template_delete(request, access, pk):
    _templates_allowed(access)
    template = _template(access, pk)
    page_perform(request, actions.DELETE_TEMPLATE, access=access, target=template, data={})
    return HttpResponseRedirect(reverse("case-templates"))


# --- evidence ------------------------------------------------------------------------------------


def _attachment(access, incident_pk, pk) -> Attachment:
    rows = Attachment.objects.for_tenants(access.tenant_ids).filter(pk=pk, incident_id=incident_pk)
    attachment = (
        policy.visible_attachments(access, rows).select_related("incident", "tenant").first()
    )
    if attachment is None:  # another tenant's, an internal one for a customer: as missing
        raise Http404("No such evidence file.")
    return attachment


def _evidence_back(incident_pk) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("incident", args=[incident_pk]) + "#evidence-h")


@csrf_exempt  # checked below, once the upload handler is in place (Django's documented order)
@require_POST
def attachment_add(request, pk):
    """The evidence panel's upload form: the API's ADD_ATTACHMENT. The file streams to a
    temporary file, hashed as it arrives; too large is refused before more of it is kept."""
    if evidence.declared_too_large(request):
        # Nothing of the body is read: a message on the incident page says why.
        messages.error(request, evidence.too_large_message(settings.EVIDENCE_MAX_BYTES))
        return _evidence_back(pk)
    handler = evidence.receive_with_hashing(request)
    return _attachment_add(request, pk, handler)


@csrf_protect
@portal_view
def _attachment_add(request, access, pk, handler):
    incident = _incident(access, pk)
    files = request.FILES.getlist("file")  # the body is read here at the latest
    if handler.too_large:
        messages.error(request, evidence.too_large_message(settings.EVIDENCE_MAX_BYTES))
        return _evidence_back(incident.pk)
    if len(files) != 1:
        messages.error(request, "Choose one file to add.")
        return _evidence_back(incident.pk)
    data = {
        name: request.POST[name]
        for name in ("visibility", "comment", "task", "tlp")
        if request.POST.get(name)
    }
    data["file"] = files[0]
    page_perform(request, actions.ADD_ATTACHMENT, access=access, target=incident, data=data)
    return _evidence_back(incident.pk)


@portal_view
def attachment_detail(request, access, pk, attachment):
    """One evidence file: its record and its chain of custody (the audit log)."""
    found = _attachment(access, pk, attachment)
    custody = list(
        AuditEvent.objects.for_tenant(found.tenant_id)
        .filter(
            object_type="cases.attachment",
            object_id=str(found.pk),
            action__in=("evidence.added", "evidence.downloaded", "evidence.deleted"),
        )
        .order_by("at", "id")[:1000]
    )
    context = {
        "attachment": found,
        "incident": found.incident,
        "custody": custody,
        "staff": access.is_mssp_staff,
        "may_delete": found.deleted_at is None and policy.can_delete_evidence(access, found),
    }
    return render(request, "cases/attachment.html", context)


@portal_view
def attachment_download(request, access, pk, attachment):
    found = _attachment(access, pk, attachment)
    try:
        perform(
            actions.DOWNLOAD_ATTACHMENT,
            access=access,
            target=found,
            actor=request.user,
            request=request,
        )
    except Refused as exc:
        raise PermissionDenied(error_sentence(exc.detail)) from None
    except Invalid as exc:
        messages.error(request, error_sentence(exc.detail))
        return _evidence_back(found.incident_id)
    try:
        return evidence.download_response(found)
    except FileNotFoundError:
        transaction.set_rollback(True)  # no download happened: none in the custody
        messages.error(request, evidence.MISSING)
        return _evidence_back(found.incident_id)


@require_POST
@portal_view
def attachment_delete(request, access, pk, attachment):
    found = _attachment(access, pk, attachment)
    page_perform(request, actions.DELETE_ATTACHMENT, access=access, target=found, data={})
    return _evidence_back(found.incident_id)


@require_POST
@portal_view
def classify(request, access, pk):
    """The classification card (actions.CLASSIFY, as POST /api/v1/incidents/{id}/classify/):
    `item` is "<kind>:<id>" of a comment, task, evidence file or observable, or empty for the
    incident itself."""
    incident = _incident(access, pk)
    data = {name: request.POST[name] for name in ("tlp", "pap") if request.POST.get(name)}
    kind, _, item = request.POST.get("item", "").partition(":")
    if kind in ClassifySerializer.ITEMS and item:
        data[kind] = item
    page_perform(request, actions.CLASSIFY, access=access, target=incident, data=data)
    return HttpResponseRedirect(reverse("incident", args=[incident.pk]) + "#classify-h")
