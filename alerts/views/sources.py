"""The intake sources settings page: a tenant's SIEMs and sensors, their keys shown once.

It lives in the alerts app, which owns intake sources; access, scoping and the look are the
tenants app's settings pages' (tenants.views.tenant_settings_view). Each change is the API's
action (alerts.sources): the same check, the same serializer, the same write and audit entry.
The forms validate by that serializer too, only to show its errors next to their fields.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.http import Http404
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from tenants.access import Access
from tenants.actions import page_perform
from tenants.forms import SerializerForm
from tenants.views import SettingsScope, settings_render, shown_once, tenant_settings_view

from ..api.serializers import IntakeSourceSerializer, IntakeSourceUpdateSerializer
from ..models import IntakeSource, SourceKind
from ..sources import CREATE_SOURCE, REVOKE_SOURCE, ROTATE_SOURCE_KEY, UPDATE_SOURCE

INTERVAL_HELP = (
    "Optional. When nothing arrives for this long, the portal raises an alert that the source "
    "went silent. Leave empty not to watch it."
)


class SourceCreateForm(SerializerForm):
    serializer_class = IntakeSourceSerializer

    name = forms.CharField(max_length=100, help_text="e.g. 'Wazuh manager, Berlin office'.")
    kind = forms.ChoiceField(
        choices=SourceKind.choices,
        help_text="The product sending the alerts; it decides how they are read.",
    )
    expected_interval_minutes = forms.IntegerField(
        label="Silent after (minutes)", required=False, min_value=1, help_text=INTERVAL_HELP
    )


class SourceEditForm(SerializerForm):
    serializer_class = IntakeSourceUpdateSerializer
    partial = True  # as PATCH .../sources/{id}/

    name = forms.CharField(max_length=100)
    expected_interval_minutes = forms.IntegerField(
        label="Silent after (minutes)", required=False, min_value=1, help_text=INTERVAL_HELP
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound and self.instance is not None:
            self.initial.setdefault("name", self.instance.name)
            self.initial.setdefault(
                "expected_interval_minutes", self.instance.expected_interval_minutes
            )


def is_silent(source: IntakeSource, now) -> bool:
    """What the silence sweep (alerts.tasks.check_silent_sources) would call silent."""
    if source.status != IntakeSource.Status.ACTIVE or source.expected_interval_minutes is None:
        return False
    since = source.last_seen_at or source.created_at
    return since + timedelta(minutes=source.expected_interval_minutes) < now


def _source_or_404(scope: SettingsScope, source_id) -> IntakeSource:
    source = IntakeSource.objects.for_tenant(scope.tenant).filter(pk=source_id).first()
    if source is None:
        raise Http404
    return source


def _sources_page(request, scope: SettingsScope, form, *, shown=None, status: int = 200):
    sources = list(IntakeSource.objects.for_tenant(scope.tenant).order_by("name", "id"))
    now = timezone.now()
    for source in sources:
        source.is_silent = is_silent(source, now)
    response = settings_render(
        request,
        scope,
        "alerts/settings_sources.html",
        {"sources": sources, "form": form, "shown": shown},
        page="settings-sources",
        status=status,
    )
    return shown_once(response) if shown else response


@tenant_settings_view
def settings_sources(request, access: Access, scope: SettingsScope):
    context = {"tenant": scope.tenant}
    if request.method != "POST":
        return _sources_page(request, scope, SourceCreateForm(context=context))
    form = SourceCreateForm(request.POST, context=context)
    if form.is_valid():
        done, made = page_perform(
            request,
            CREATE_SOURCE,
            access=access,
            target=scope.tenant,
            data=form.serializer.initial_data,  # the inputs this form offers, nothing else
            context=context,
        )
        if done:
            shown = {
                "title": f"Intake key of '{made.source.name}'",
                "secret": made.key,
                "what": f"Configure it in the SIEM or sensor as the Bearer token of "
                f"POST /api/v1/intake/{made.source.kind}/.",
            }
            return _sources_page(request, scope, SourceCreateForm(context=context), shown=shown)
    return _sources_page(request, scope, form, status=400)


@tenant_settings_view
def settings_source_edit(request, access: Access, scope: SettingsScope, source_id):
    source = _source_or_404(scope, source_id)
    context = {"tenant": scope.tenant}
    form = SourceEditForm(instance=source, context=context)
    if request.method == "POST":
        form = SourceEditForm(request.POST, instance=source, context=context)
        if form.is_valid():
            done, _ = page_perform(
                request,
                UPDATE_SOURCE,
                access=access,
                target=source,
                data=form.serializer.initial_data,  # a posted `kind` is not among them
                context=context,
            )
            if done:
                return redirect(scope.url("settings-sources"))
    return settings_render(
        request,
        scope,
        "alerts/settings_source_edit.html",
        {"source": source, "form": form},
        page="settings-sources",
        status=400 if form.is_bound else 200,
    )


@require_POST
@tenant_settings_view
def settings_source_rotate(request, access: Access, scope: SettingsScope, source_id):
    """A new key for the source; the old one stops working at once (and a revoked source is
    active again with it), as POST .../sources/{id}/rotate-key/."""
    source = _source_or_404(scope, source_id)
    done, made = page_perform(request, ROTATE_SOURCE_KEY, access=access, target=source, data={})
    form = SourceCreateForm(context={"tenant": scope.tenant})
    if not done:
        return _sources_page(request, scope, form, status=400)
    shown = {
        "title": f"New intake key of '{source.name}'",
        "secret": made.key,
        "what": "The old key stopped working now: put this one in the SIEM or sensor "
        f"(the Bearer token of POST /api/v1/intake/{source.kind}/).",
    }
    return _sources_page(request, scope, form, shown=shown)


@require_POST
@tenant_settings_view
def settings_source_revoke(request, access: Access, scope: SettingsScope, source_id):
    """Disable the source and void its key, as DELETE .../sources/{id}/: its alerts stay."""
    source = _source_or_404(scope, source_id)
    page_perform(request, REVOKE_SOURCE, access=access, target=source, data={})
    return redirect(scope.url("settings-sources"))
