"""The notifications settings page (/settings/notifications/): a tenant's channels, which events
go to them (subscriptions), and the delivery log.

Access, scoping and the look are the tenants app's settings pages' (tenants.views.
tenant_settings_view: a customer admin for their tenant, an MSSP admin for the tenant chosen);
another tenant's row is the same 404 as a missing one. Every change is the API's action
(notifications.actions) through page_perform: its check refuses (the 403 page), its serializer
validates, and each form runs that serializer only to show its errors at their inputs. Buttons
are shown by notifications.policy, the question the action's check asks.

A channel's secrets never reach a page; a signed webhook's signing secret is shown once, on the
page that answers its creation (not cached), and never again."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.core.exceptions import BadRequest
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from alerts.models import SourceKind
from tenants.access import Access
from tenants.actions import Action, page_perform
from tenants.api.pagination import paginate_page
from tenants.views import SettingsScope, settings_render, shown_once, tenant_settings_view

from . import policy
from .actions import (
    CHANNEL_CREATE,
    CHANNEL_DELETE,
    CHANNEL_TEST,
    CHANNEL_UPDATE,
    DELIVERY_RETRY,
    SUBSCRIPTION_CREATE,
    SUBSCRIPTION_DELETE,
)
from .forms import ChannelCreateForm, ChannelEditForm, SubscriptionForm
from .models import Channel, Delivery, Event, Subscription

PAGE = "settings-notifications"
DELIVERIES_PER_PAGE = 50
EVENT_LABELS = {**dict(Event.choices), "channel.test": "Test message"}


def _channel_or_404(scope: SettingsScope, channel_id: uuid.UUID) -> Channel:
    channel: Channel | None = (
        Channel.objects.for_tenant(scope.tenant).select_related("tenant").filter(pk=channel_id)
    ).first()
    if channel is None:
        raise Http404
    return channel


def _subscription_or_404(scope: SettingsScope, subscription_id: uuid.UUID) -> Subscription:
    subscription: Subscription | None = (
        Subscription.objects.for_tenant(scope.tenant).filter(pk=subscription_id).first()
    )
    if subscription is None:
        raise Http404
    return subscription


def _delivery_or_404(scope: SettingsScope, delivery_id: uuid.UUID) -> Delivery:
    delivery: Delivery | None = (
        Delivery.objects.for_tenant(scope.tenant).filter(pk=delivery_id).first()
    )
    if delivery is None:
        raise Http404
    return delivery


def _channels(scope: SettingsScope) -> list[Channel]:
    """The tenant's channels, each with its latest delivery's status and time."""
    latest = (
        Delivery.objects.for_tenant(scope.tenant)
        .filter(channel=OuterRef("pk"))
        .order_by("-created_at")
    )
    return list(
        Channel.objects.for_tenant(scope.tenant)
        .annotate(
            last_status=Subquery(latest.values("status")[:1]),
            last_at=Subquery(latest.values("created_at")[:1]),
        )
        .order_by("name", "created_at")
    )


def _page(
    request: HttpRequest,
    access: Access,
    scope: SettingsScope,
    *,
    channel_form: ChannelCreateForm | None = None,
    subscription_form: SubscriptionForm | None = None,
    shown: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    tenant = scope.tenant
    channels = _channels(scope)
    subscriptions = list(
        Subscription.objects.for_tenant(tenant)
        .select_related("channel")
        .order_by("channel__name", "created_at")
    )
    for subscription in subscriptions:  # for the template only, not a field of the model
        labels = [EVENT_LABELS.get(e, e) for e in subscription.events]
        subscription.event_labels = labels
        subscription.source_labels = [SourceKind(k).label for k in subscription.sources]
    try:
        page = paginate_page(
            request,
            policy.delivery_log(Delivery.objects.for_tenant(tenant), access).select_related(
                "channel", "team_channel", "acted_by"
            ),
            "-created_at",
            page_size=DELIVERIES_PER_PAGE,
        )
    except ApiValidationError:  # a cursor this list did not give out: the caller's mistake
        raise BadRequest("Not a page link this list gave out.") from None
    for delivery in page.rows:
        delivery.event_label = EVENT_LABELS.get(delivery.event_type, delivery.event_type)
    context: dict[str, Any] = {
        "channels": channels,
        "subscriptions": subscriptions,
        "deliveries": page.rows,
        "next_url": page.next_url,
        "params": request.GET,
        "per_page": DELIVERIES_PER_PAGE,
        "channel_form": channel_form or ChannelCreateForm(),
        "subscription_form": subscription_form or SubscriptionForm(channels=channels),
        "may_manage": policy.may_manage_channels(access, tenant.pk),
        "may_retry": policy.may_retry_delivery(access, tenant.pk),
        "shown": shown,
    }
    response = settings_render(
        request,
        scope,
        "notifications/settings_notifications.html",
        context,
        page=PAGE,
        status=status,
    )
    return shown_once(response) if shown else response


@tenant_settings_view
def settings_notifications(
    request: HttpRequest, access: Access, scope: SettingsScope
) -> HttpResponse:
    """The page; its POST adds a channel (as POST /api/v1/tenants/{slug}/channels/)."""
    if request.method != "POST":
        return _page(request, access, scope)
    form = ChannelCreateForm(request.POST, context={"target": scope.tenant})
    if form.is_valid():
        done, made = page_perform(
            request, CHANNEL_CREATE, access=access, target=scope.tenant, data=form.inputs()
        )
        if done:
            channel, signing_secret = made
            if not signing_secret:
                return redirect(scope.url(PAGE))
            shown = {
                "title": f"Signing secret of '{channel.name}'",
                "secret": signing_secret,
                "what": "Every message to this webhook is signed with it (Standard Webhooks: "
                "the webhook-id, webhook-timestamp and webhook-signature headers); verify "
                "them with it in your receiver.",
            }
            return _page(request, access, scope, shown=shown)
    return _page(request, access, scope, channel_form=form, status=400)


@tenant_settings_view
def settings_channel_edit(
    request: HttpRequest, access: Access, scope: SettingsScope, channel_id: uuid.UUID
) -> HttpResponse:
    """Rename, enable or disable, replace a secret (as PATCH .../channels/{id}/)."""
    channel = _channel_or_404(scope, channel_id)
    form = ChannelEditForm(instance=channel)
    if request.method == "POST":
        form = ChannelEditForm(request.POST, instance=channel, context={"target": channel})
        if form.is_valid():
            done, _ = page_perform(
                request, CHANNEL_UPDATE, access=access, target=channel, data=form.inputs()
            )
            if done:
                return redirect(scope.url(PAGE))
    return settings_render(
        request,
        scope,
        "notifications/channel_edit.html",
        {"channel": channel, "form": form},
        page=PAGE,
        status=400 if form.is_bound else 200,
    )


@require_POST
@tenant_settings_view
def settings_subscription_add(
    request: HttpRequest, access: Access, scope: SettingsScope
) -> HttpResponse:
    """As POST .../subscriptions/: the channel must be one of this tenant's."""
    context = {"target": scope.tenant}
    channels = _channels(scope)
    form = SubscriptionForm(request.POST, channels=channels, context=context)
    if form.is_valid():
        done, _ = page_perform(
            request, SUBSCRIPTION_CREATE, access=access, target=scope.tenant, data=form.inputs()
        )
        if done:
            return redirect(scope.url(PAGE))
    return _page(request, access, scope, subscription_form=form, status=400)


def _row_action(action: Action, find: Callable[[SettingsScope, uuid.UUID], Any]) -> Any:
    """A button on one row of the page (test, remove, retry): the row looked up in this
    tenant (404 otherwise), the action performed, back to the page with its message."""

    @require_POST
    @tenant_settings_view
    def view(
        request: HttpRequest, access: Access, scope: SettingsScope, **row: uuid.UUID
    ) -> HttpResponse:
        (row_id,) = row.values()
        page_perform(request, action, access=access, target=find(scope, row_id), data={})
        return redirect(scope.url(PAGE))

    return view


settings_channel_test = _row_action(CHANNEL_TEST, _channel_or_404)
settings_channel_delete = _row_action(CHANNEL_DELETE, _channel_or_404)
settings_subscription_delete = _row_action(SUBSCRIPTION_DELETE, _subscription_or_404)
# a failed delivery back in the queue (MSSP staff only: the action's check)
settings_delivery_retry = _row_action(DELIVERY_RETRY, _delivery_or_404)
