"""The MSSP teams' channels pages (/settings/teams/): each MSSP team (its tiers, its NOC) with
its own channels, where escalations to the team and, for the tenants a channel names, those
tenants' events are sent. For MSSP admins and managers (notifications.policy); everyone else
gets the page that says why, and a customer's team is a 404 (its channels are its tenant's,
on its notifications page).

As on the tenant's notifications page (notifications.views), every change is the API's action
(notifications.actions) through page_perform, and the forms are the tenant channel's forms
given the team channel's serializer: the page accepts exactly what the API accepts. Secrets
never reach a page; a signed webhook's signing secret is shown once, on the answer to its
creation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from alerts.models import Severity
from tenants.access import Access
from tenants.actions import Action, page_perform
from tenants.models import Team, Tenant
from tenants.views import forbidden_page, portal_view, shown_once

from . import policy
from .actions import (
    DELIVERY_RETRY,
    TEAM_CHANNEL_CREATE,
    TEAM_CHANNEL_DELETE,
    TEAM_CHANNEL_TEST,
    TEAM_CHANNEL_UPDATE,
)
from .api.serializers import TeamChannelInputSerializer
from .forms import ChannelCreateForm, ChannelEditForm
from .models import Delivery, Event, TeamChannel
from .teams import LAST_DELIVERIES, last_deliveries, mssp_team, mssp_teams, team_channels
from .views import EVENT_LABELS

REFUSED = (
    "An MSSP team's channels are managed by the MSSP's admins and managers. Ask one of them to "
    "make the change."
)
SUBSCRIPTION_INPUTS = ("events", "min_severity", "tenants")


class TeamSubscriptionInputs(forms.Form):
    """What else a team channel hears of: the tenants it names, which of their events."""

    tenants = forms.MultipleChoiceField(
        label="Customers it hears of",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: only escalations addressed to the team.",
    )
    events = forms.MultipleChoiceField(
        label="Their events",
        choices=Event.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event of the customers ticked.",
    )
    min_severity = forms.ChoiceField(
        label="Minimum severity",
        choices=[("", "Any severity"), *Severity.choices],
        required=False,
        help_text="Only messages about incidents at least this severe.",
    )

    def offer_tenants(self, access: Access) -> None:
        field = cast(forms.MultipleChoiceField, self.fields["tenants"])
        field.choices = [
            (t.slug, t.name)
            for t in Tenant.objects.filter(pk__in=sorted(access.tenant_ids)).order_by("name")
        ]


class TeamChannelCreateForm(TeamSubscriptionInputs, ChannelCreateForm):
    serializer_class = TeamChannelInputSerializer


class TeamChannelEditForm(TeamSubscriptionInputs, ChannelEditForm):
    serializer_class = TeamChannelInputSerializer

    def __init__(self, *args: Any, instance: TeamChannel, **kwargs: Any) -> None:
        super().__init__(*args, instance=instance, **kwargs)  # type: ignore[arg-type]
        if not self.is_bound:
            self.initial.setdefault("events", instance.events)
            self.initial.setdefault("min_severity", instance.min_severity)
            self.initial.setdefault("tenants", [t.slug for t in instance.tenants.all()])

    def inputs(self) -> QueryDict:
        inputs = super().inputs()
        if "name" not in self.data:  # a button posting one input (enable, disable)
            return inputs
        # The whole form: a box left unticked is a choice too ("none"), which an HTML form's
        # input cannot say to the serializer; its data as the API's JSON body can.
        data: dict[str, Any] = {name: inputs.get(name) for name in inputs}
        for name in ("events", "tenants"):
            data[name] = self.data.getlist(name)
        return cast(QueryDict, data)


def team_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page of one MSSP team's channels: view(request, access, team, ...)."""

    @portal_view
    def wrapper(
        request: HttpRequest, access: Access, team_id: uuid.UUID, **kwargs: Any
    ) -> HttpResponse:
        if not policy.manages_team_channels(access):
            return forbidden_page(request, REFUSED)
        team = mssp_team(team_id)
        if team is None:
            raise Http404
        return view(request, access, team, **kwargs)

    wrapper.__name__ = view.__name__
    return wrapper


def _channel_or_404(team: Team, channel_id: uuid.UUID) -> TeamChannel:
    channel: TeamChannel | None = (
        TeamChannel.objects.filter(team=team, pk=channel_id).select_related("team").first()
    )
    if channel is None:
        raise Http404
    return channel


def _delivery_or_404(team: Team, access: Access, delivery_id: uuid.UUID) -> Delivery:
    delivery: Delivery | None = (
        Delivery.objects.for_tenants(access.tenant_ids)
        .filter(pk=delivery_id, team_channel__team=team)
        .first()
    )
    if delivery is None:
        raise Http404
    return delivery


@portal_view
def settings_teams(request: HttpRequest, access: Access) -> HttpResponse:
    """Every MSSP team, with its channels."""
    if not policy.manages_team_channels(access):
        return forbidden_page(request, REFUSED)
    teams = list(mssp_teams().prefetch_related("channels").order_by("kind", "name"))
    return render(request, "notifications/settings_teams.html", {"teams": teams})


def _team_page(
    request: HttpRequest,
    access: Access,
    team: Team,
    *,
    channel_form: TeamChannelCreateForm | None = None,
    shown: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    channels = team_channels(team, access)
    deliveries = last_deliveries(channels, access) if channels else []
    for delivery in deliveries:
        delivery.event_label = EVENT_LABELS.get(delivery.event_type, delivery.event_type)
    for channel in channels:
        labels = [EVENT_LABELS.get(e, e) for e in channel.events]
        channel.event_labels = labels  # for the template only
    if channel_form is None:
        channel_form = TeamChannelCreateForm()
        channel_form.offer_tenants(access)
    response = render(
        request,
        "notifications/settings_team.html",
        {
            "team": team,
            "channels": channels,
            "deliveries": deliveries,
            "last": LAST_DELIVERIES,
            "channel_form": channel_form,
            "shown": shown,
        },
        status=status,
    )
    return shown_once(response) if shown else response


@team_view
def settings_team(request: HttpRequest, access: Access, team: Team) -> HttpResponse:
    """The team's channels; its POST adds one (as POST /api/v1/teams/{id}/channels/)."""
    if request.method != "POST":
        return _team_page(request, access, team)
    form = TeamChannelCreateForm(request.POST, context={"target": team, "access": access})
    form.offer_tenants(access)
    if form.is_valid():
        done, made = page_perform(
            request, TEAM_CHANNEL_CREATE, access=access, target=team, data=form.inputs()
        )
        if done:
            channel, signing_secret = made
            if not signing_secret:
                return redirect("settings-team", team.pk)
            shown = {
                "title": f"Signing secret of '{channel.name}'",
                "secret": signing_secret,
                "what": "Every message to this webhook is signed with it (Standard Webhooks: "
                "the webhook-id, webhook-timestamp and webhook-signature headers); verify "
                "them with it in your receiver.",
            }
            return _team_page(request, access, team, shown=shown)
    return _team_page(request, access, team, channel_form=form, status=400)


@team_view
def settings_team_channel_edit(
    request: HttpRequest, access: Access, team: Team, channel_id: uuid.UUID
) -> HttpResponse:
    """Rename, enable or disable, replace a secret, change what else it hears of (as PATCH
    /api/v1/teams/{id}/channels/{id}/)."""
    channel = _channel_or_404(team, channel_id)
    context = {"target": channel, "access": access}
    form = TeamChannelEditForm(instance=channel)
    if request.method == "POST":
        form = TeamChannelEditForm(request.POST, instance=channel, context=context)
        form.offer_tenants(access)
        if form.is_valid():
            done, _ = page_perform(
                request, TEAM_CHANNEL_UPDATE, access=access, target=channel, data=form.inputs()
            )
            if done:
                return redirect("settings-team", team.pk)
    else:
        form.offer_tenants(access)
    return render(
        request,
        "notifications/team_channel_edit.html",
        {
            "team": team,
            "channel": channel,
            "form": form,
            "action_url": reverse("settings-team-channel-edit", args=[team.pk, channel.pk]),
            "back_url": reverse("settings-team", args=[team.pk]),
            "back_label": f"Back to {team.name}'s channels",
        },
        status=400 if form.is_bound else 200,
    )


def _row_action(action: Action, find: Callable[..., Any]) -> Callable[..., HttpResponse]:
    """A button on one row of the team's page (test, remove, retry)."""

    @require_POST
    @team_view
    def view(request: HttpRequest, access: Access, team: Team, **row: uuid.UUID) -> HttpResponse:
        (row_id,) = row.values()
        page_perform(request, action, access=access, target=find(team, access, row_id), data={})
        return redirect("settings-team", team.pk)

    return view


def _channel(team: Team, _access: Access, channel_id: uuid.UUID) -> TeamChannel:
    return _channel_or_404(team, channel_id)


settings_team_channel_test = _row_action(TEAM_CHANNEL_TEST, _channel)
settings_team_channel_delete = _row_action(TEAM_CHANNEL_DELETE, _channel)
# a failed delivery back in the queue (staff who work its tenant: the action's check)
settings_team_delivery_retry = _row_action(DELIVERY_RETRY, _delivery_or_404)
