"""A tenant's channels, subscriptions and delivery log: /api/v1/tenants/{slug}/channels/,
.../subscriptions/, .../deliveries/. Changes run the actions of notifications.actions, as the
settings page does."""

from __future__ import annotations

from typing import Any, cast

import django_filters
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.access import Access
from tenants.api.actions import api_perform
from tenants.api.base import CallerScopedViewSet, TenantNestedViewSet
from tenants.api.views import TenantAdministeredMixin
from tenants.models import Team
from tenants.permissions import ADMIN_TO_CHANGE

from .. import policy
from ..actions import (
    CHANNEL_CREATE,
    CHANNEL_DELETE,
    CHANNEL_TEST,
    CHANNEL_UPDATE,
    CONTACT_METHOD_CREATE,
    CONTACT_METHOD_DELETE,
    DELIVERY_RETRY,
    RULE_CREATE,
    RULE_DELETE,
    SUBSCRIPTION_CREATE,
    SUBSCRIPTION_DELETE,
    SUBSCRIPTION_UPDATE,
    TEAM_CHANNEL_CREATE,
    TEAM_CHANNEL_DELETE,
    TEAM_CHANNEL_TEST,
    TEAM_CHANNEL_UPDATE,
)
from ..models import Channel, ContactMethod, Delivery, NotificationRule, Subscription, TeamChannel
from ..teams import last_deliveries, mssp_team
from .serializers import (
    ChannelCreatedSerializer,
    ChannelInputSerializer,
    ChannelSerializer,
    ContactMethodInputSerializer,
    ContactMethodSerializer,
    DeliverySerializer,
    NotificationRuleSerializer,
    SubscriptionSerializer,
    TeamChannelCreatedSerializer,
    TeamChannelInputSerializer,
    TeamChannelSerializer,
)


class ChannelViewSet(
    TenantAdministeredMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantNestedViewSet
):
    """Where the tenant's messages go. Secrets are write-only: a signed webhook's signing
    secret is in the creation's answer only, and URLs and keys are never shown again (`hint`
    tells channels apart)."""

    scoped_model = Channel
    serializer_class = ChannelSerializer
    cursor_ordering = "-created_at"
    filterset_fields = ["kind", "is_active"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(request=ChannelInputSerializer, responses={201: ChannelCreatedSerializer})
    def create(self, request: Request, tenant_slug: str | None = None) -> Response:
        channel, signing_secret = api_perform(self, CHANNEL_CREATE, self.tenant)
        body = ChannelSerializer(channel).data
        body["signing_secret"] = signing_secret
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=ChannelInputSerializer, responses=ChannelSerializer)
    def partial_update(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        channel = api_perform(self, CHANNEL_UPDATE, self.get_object())
        return Response(ChannelSerializer(channel).data)

    @extend_schema(responses={204: None})
    def destroy(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        api_perform(self, CHANNEL_DELETE, self.get_object(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        """Send a test message through the channel; its delivery shows what the receiver said."""
        delivery = api_perform(self, CHANNEL_TEST, self.get_object(), data={})
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


# Foreign keys are filtered by their id, never through django-filter's default choice filter:
# its queryset is every tenant's rows, which the tenant-scoped managers refuse (a 500).
class SubscriptionFilter(django_filters.FilterSet):  # type: ignore[misc]
    channel = django_filters.UUIDFilter(field_name="channel_id")

    class Meta:
        model = Subscription
        fields = ["is_active"]


class DeliveryFilter(django_filters.FilterSet):  # type: ignore[misc]
    channel = django_filters.UUIDFilter(field_name="channel_id")
    incident = django_filters.UUIDFilter(field_name="incident_id")

    class Meta:
        model = Delivery
        fields = ["status", "event_type", "kind"]


class SubscriptionViewSet(
    TenantAdministeredMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantNestedViewSet
):
    """Which events go to which of the tenant's channels."""

    scoped_model = Subscription
    serializer_class = SubscriptionSerializer
    cursor_ordering = "-created_at"
    filterset_class = SubscriptionFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "target": getattr(self, "tenant", None)}

    @extend_schema(request=SubscriptionSerializer, responses={201: SubscriptionSerializer})
    def create(self, request: Request, tenant_slug: str | None = None) -> Response:
        subscription = api_perform(self, SUBSCRIPTION_CREATE, self.tenant)
        return Response(SubscriptionSerializer(subscription).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SubscriptionSerializer, responses=SubscriptionSerializer)
    def partial_update(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        subscription = api_perform(self, SUBSCRIPTION_UPDATE, self.get_object())
        return Response(SubscriptionSerializer(subscription).data)

    @extend_schema(responses={204: None})
    def destroy(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        api_perform(self, SUBSCRIPTION_DELETE, self.get_object(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantNestedViewSet):
    """The tenant's delivery log: who was told what, when, through which channel, and what
    the receiver answered. Everyone who sees the tenant reads it; MSSP staff put a failed
    (dead-lettered) delivery back in the queue."""

    scoped_model = Delivery
    serializer_class = DeliverySerializer
    cursor_ordering = "-created_at"
    filterset_class = DeliveryFilter

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not policy.reads_deliveries(self.access, self.tenant.pk):
            raise PermissionDenied("You may not read this tenant's delivery log.")

    def scope_queryset(self, queryset: Any) -> Any:
        return policy.delivery_log(queryset, self.access).select_related("channel")

    @extend_schema(request=None, responses=DeliverySerializer)
    @action(detail=True, methods=["post"])
    def retry(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        """Put a failed delivery back in the queue, with a fresh set of attempts."""
        delivery = api_perform(self, DELIVERY_RETRY, self.get_object(), data={})
        return Response(DeliverySerializer(delivery).data)


class ContactMethodViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CallerScopedViewSet):
    """Your own ways to be paged (`/api/v1/me/contact-methods/`): secrets write-only, as a
    channel's. Everyone has only their own."""

    scoped_model = ContactMethod
    serializer_class = ContactMethodSerializer
    cursor_ordering = "created_at"
    http_method_names = ["get", "post", "delete", "head", "options"]

    def rows_for(self, access: Access) -> Any:
        return ContactMethod.objects.filter(user_id=access.user_id or 0)

    @extend_schema(request=ContactMethodInputSerializer, responses={201: ContactMethodSerializer})
    def create(self, request: Request) -> Response:
        method = api_perform(self, CONTACT_METHOD_CREATE, request.user)
        return Response(ContactMethodSerializer(method).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        api_perform(self, CONTACT_METHOD_DELETE, self.get_object(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationRuleViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, CallerScopedViewSet
):
    """Your own paging sequence (`/api/v1/me/notification-rules/`): each rule is a contact
    method and how many minutes after the page it is used, unless the page is answered."""

    scoped_model = NotificationRule
    serializer_class = NotificationRuleSerializer
    cursor_ordering = "created_at"
    http_method_names = ["get", "post", "delete", "head", "options"]

    def rows_for(self, access: Access) -> Any:
        return NotificationRule.objects.filter(user_id=access.user_id or 0).select_related(
            "contact_method"
        )

    @extend_schema(request=NotificationRuleSerializer, responses={201: NotificationRuleSerializer})
    def create(self, request: Request) -> Response:
        rule = api_perform(self, RULE_CREATE, request.user)
        return Response(NotificationRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        api_perform(self, RULE_DELETE, self.get_object(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamChannelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CallerScopedViewSet):
    """An MSSP team's own channels (`/api/v1/teams/{team_id}/channels/`: a tier's, the NOC's),
    for MSSP admins and managers only (notifications.policy). Secrets are write-only as a
    tenant channel's; a customer's team has none here (404): its channels are its tenant's."""

    scoped_model = TeamChannel
    serializer_class = TeamChannelSerializer
    cursor_ordering = "-created_at"
    filterset_fields = ["kind", "is_active"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_scope = ADMIN_TO_CHANGE
    team: Team

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not policy.manages_team_channels(self.access):
            raise PermissionDenied("Only MSSP admins and managers manage an MSSP team's channels.")
        team = mssp_team(self.kwargs.get("team_id"))
        if team is None:
            raise Http404
        self.team = team

    def rows_for(self, access: Access) -> Any:
        team = getattr(self, "team", None)
        if team is None or not policy.manages_team_channels(access):
            return TeamChannel.objects.none()
        return TeamChannel.objects.filter(team=team).prefetch_related("tenants")

    @extend_schema(
        request=TeamChannelInputSerializer, responses={201: TeamChannelCreatedSerializer}
    )
    def create(self, request: Request, team_id: str | None = None) -> Response:
        channel, signing_secret = api_perform(self, TEAM_CHANNEL_CREATE, self.team)
        body = TeamChannelSerializer(channel).data
        body["signing_secret"] = signing_secret
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=TeamChannelInputSerializer, responses=TeamChannelSerializer)
    def partial_update(
        self, request: Request, team_id: str | None = None, pk: str | None = None
    ) -> Response:
        channel = api_perform(self, TEAM_CHANNEL_UPDATE, self.get_object())
        return Response(TeamChannelSerializer(channel).data)

    @extend_schema(responses={204: None})
    def destroy(
        self, request: Request, team_id: str | None = None, pk: str | None = None
    ) -> Response:
        api_perform(self, TEAM_CHANNEL_DELETE, self.get_object(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, team_id: str | None = None, pk: str | None = None) -> Response:
        """Send a test message through the channel; its delivery shows what the receiver said."""
        delivery = api_perform(self, TEAM_CHANNEL_TEST, self.get_object(), data={})
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=DeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(
        self, request: Request, team_id: str | None = None, pk: str | None = None
    ) -> Response:
        """The channel's last deliveries (at most LAST_DELIVERIES), newest first, of the
        tenants the caller sees; a failed one is retried through its tenant's delivery log."""
        channel = cast(TeamChannel, self.get_object())  # one of rows_for's
        rows = last_deliveries(channel, self.access)
        return Response(DeliverySerializer(rows, many=True).data)
