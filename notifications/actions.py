"""What a user can do with a tenant's channels, subscriptions and deliveries, for the settings
page (notifications.views) and the API (notifications.api.views) alike (tenants.actions
explains the split). Every change is audited; no audit entry carries a secret."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.http import HttpRequest

from tenants import audit
from tenants.access import Access
from tenants.actions import Action, Invalid, Refused
from tenants.jobs import enqueue
from tenants.models import Team, Tenant, User
from tenants.outbox import OutboxRow
from tenants.sealed import hint, seal, unseal

from . import delivery as delivery_service
from . import policy, routing
from .api.serializers import (
    ChannelInputSerializer,
    ChannelSerializer,
    ContactMethodInputSerializer,
    NotificationRuleSerializer,
    SubscriptionSerializer,
    TeamChannelInputSerializer,
    TeamChannelSerializer,
)
from .models import (
    Channel,
    ContactMethod,
    Delivery,
    Kind,
    NotificationRule,
    Subscription,
    TeamChannel,
)

CHANGE_REFUSED = "Only MSSP admins and your organisation's admins change notification channels."


def _tenant_id(target: Tenant | Channel | Subscription | Delivery) -> int:
    return target.pk if isinstance(target, Tenant) else target.tenant_id


def check_manage(access: Access, target: Tenant | Channel | Subscription) -> None:
    if not policy.may_manage_channels(access, _tenant_id(target)):
        raise Refused(CHANGE_REFUSED)


def _audit(verb: str, obj: Channel | Subscription, request: HttpRequest | None) -> None:
    name = "channel" if isinstance(obj, Channel) else "subscription"
    data = (
        ChannelSerializer(obj).data
        if isinstance(obj, Channel)
        else {
            "channel": str(obj.channel_id),
            "events": obj.events,
            "min_severity": obj.min_severity,
            "categories": obj.categories,
            "sources": obj.sources,
        }
    )
    audit.record(
        f"{name}.{verb}",
        tenant=obj.tenant_id,
        obj=obj,
        request=request,
        summary=f"{name} {obj} {verb}",
        data=dict(data),
    )


# --- channels ----------------------------------------------------------------------------------
def _sealed(kind: str, secrets: dict[str, str]) -> tuple[str, str]:
    """(sealed secrets, hint) for a channel's secrets."""
    shown = (
        secrets.get("url")
        or secrets.get("routing_key")
        or secrets.get("api_key")
        or secrets.get("bot_token")
        or ""
    )
    return seal(secrets), (hint(shown) if shown else "")


def _new_secrets(kind: str, secrets: dict[str, str]) -> tuple[str, str, str]:
    """(sealed secrets, hint, signing secret) of a new channel: a signed webhook's signing
    secret is the portal's own making, shown once ("" for other kinds)."""
    signing_secret = ""
    if kind == Kind.WEBHOOK:
        from .senders import new_signing_secret

        signing_secret = new_signing_secret()
        secrets = {**secrets, "signing_secret": signing_secret}
    sealed, shown = _sealed(kind, secrets)
    return sealed, shown, signing_secret


def _replace_secrets(channel: Channel | TeamChannel, secrets: dict[str, str]) -> None:
    """A replaced URL or key: the others kept (a webhook's signing secret)."""
    kept = unseal(channel.sealed_secrets)
    channel.sealed_secrets, channel.hint = _sealed(channel.kind, {**kept, **secrets})


def create_channel(
    tenant: Tenant,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    secrets: dict[str, str],
    **fields: Any,
) -> tuple[Channel, str]:
    """The channel, and a signed webhook's signing secret (shown once; "" for other kinds)."""
    sealed, shown, signing_secret = _new_secrets(fields["kind"], secrets)
    channel = Channel.objects.create(
        tenant=tenant, created_by=actor, sealed_secrets=sealed, hint=shown, **fields
    )
    _audit("created", channel, request)
    return channel, signing_secret


def update_channel(
    channel: Channel,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    secrets: dict[str, str],
    **fields: Any,
) -> Channel:
    for name, value in fields.items():
        setattr(channel, name, value)
    if secrets:  # a replaced URL or key: the others kept (a webhook's signing secret)
        kept = unseal(channel.sealed_secrets)
        channel.sealed_secrets, channel.hint = _sealed(channel.kind, {**kept, **secrets})
    channel.save()
    _audit("updated", channel, request)
    return channel


def delete_channel(
    channel: Channel, *, actor: User, access: Access, request: HttpRequest | None
) -> Channel:
    _audit("deleted", channel, request)  # while it still has its id
    channel.delete()
    return channel


def send_test(
    channel: Channel, *, actor: User, access: Access, request: HttpRequest | None
) -> Delivery:
    """A test message through the channel, queued like any delivery (so it shows in the log
    with what the receiver answered)."""
    if not channel.is_active:
        raise Invalid("The channel is disabled: enable it to send a test.")
    message = routing.test_message(channel)
    delivery: Delivery = Delivery.objects.create(
        tenant_id=channel.tenant_id,
        channel=channel,
        kind=channel.kind,
        event_type=message.event_type,
        title=message.title,
        message=asdict(message),
        key=message.subject_key,
        is_test=True,
    )
    audit.record(
        "channel.tested",
        tenant=channel.tenant_id,
        obj=channel,
        request=request,
        summary=f"test message sent to channel {channel}",
    )
    enqueue("notifications.tasks.deliver_deliveries")
    return delivery


CHANNEL_CREATE = Action(
    "channel.create",
    do=create_channel,
    check=check_manage,
    serializer=ChannelInputSerializer,
    done=lambda made: f"Channel '{made[0].name}' added.",
    step_up=True,  # a second factor given recently (tenants.mfa)
)
CHANNEL_UPDATE = Action(
    "channel.update",
    do=update_channel,
    check=check_manage,
    serializer=ChannelInputSerializer,
    changes_target=True,
    done=lambda channel: f"Channel '{channel.name}' saved.",
    step_up=True,  # a second factor given recently (tenants.mfa)
)
CHANNEL_DELETE = Action(
    "channel.delete",
    do=delete_channel,
    check=check_manage,
    done=lambda channel: f"Channel '{channel.name}' removed.",
    step_up=True,  # a second factor given recently (tenants.mfa)
)
CHANNEL_TEST = Action(
    "channel.test",
    do=send_test,
    check=check_manage,
    done="Test message queued: its delivery shows below once sent.",
)


# --- subscriptions -----------------------------------------------------------------------------
def create_subscription(
    tenant: Tenant, *, actor: User, access: Access, request: HttpRequest | None, **fields: Any
) -> Subscription:
    subscription: Subscription = Subscription.objects.create(tenant=tenant, **fields)
    _audit("created", subscription, request)
    return subscription


def update_subscription(
    subscription: Subscription,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    **fields: Any,
) -> Subscription:
    for name, value in fields.items():
        setattr(subscription, name, value)
    subscription.save()
    _audit("updated", subscription, request)
    return subscription


def delete_subscription(
    subscription: Subscription, *, actor: User, access: Access, request: HttpRequest | None
) -> Subscription:
    _audit("deleted", subscription, request)
    subscription.delete()
    return subscription


SUBSCRIPTION_CREATE = Action(
    "subscription.create",
    do=create_subscription,
    check=check_manage,
    serializer=SubscriptionSerializer,
    done="Subscription added.",
)
SUBSCRIPTION_UPDATE = Action(
    "subscription.update",
    do=update_subscription,
    check=check_manage,
    serializer=SubscriptionSerializer,
    changes_target=True,
    done="Subscription saved.",
)
SUBSCRIPTION_DELETE = Action(
    "subscription.delete", do=delete_subscription, check=check_manage, done="Subscription removed."
)


# --- deliveries --------------------------------------------------------------------------------
def check_retry(access: Access, target: Delivery) -> None:
    if not policy.may_retry_delivery(access, target.tenant_id):
        raise Refused("Only the MSSP's staff put a delivery back in the queue.")


def retry_delivery(
    delivery: Delivery, *, actor: User, access: Access, request: HttpRequest | None
) -> Delivery:
    if delivery.status == OutboxRow.Status.SENT:
        raise Invalid("This delivery was sent: there is nothing to retry.", status_code=409)
    delivery_service.retry(delivery)
    audit.record(
        "delivery.retried",
        actor=actor,
        tenant=delivery.tenant_id,
        obj=delivery,
        request=request,
        summary=f"delivery {delivery.pk} put back in the queue",
    )
    delivery.refresh_from_db()
    return delivery


DELIVERY_RETRY = Action(
    "delivery.retry",
    do=retry_delivery,
    check=check_retry,
    done="The delivery is queued again.",
)


# --- an MSSP team's channels ----------------------------------------------------------------------
TEAM_CHANGE_REFUSED = "Only MSSP admins and managers change an MSSP team's channels."


def check_manage_team(access: Access, target: Team | TeamChannel) -> None:
    if not policy.manages_team_channels(access):
        raise Refused(TEAM_CHANGE_REFUSED)
    team = target if isinstance(target, Team) else target.team
    if not policy.team_has_channels(team):
        raise Refused(
            "Only the MSSP's tiers and NOC have team channels: a customer's team's channels are "
            "its tenant's own (its notification settings)."
        )


def _audit_team(verb: str, channel: TeamChannel, request: HttpRequest | None) -> None:
    audit.record(
        f"team_channel.{verb}",
        obj=channel,
        request=request,
        summary=f"team channel {channel} of {channel.team.name} {verb}",
        data=dict(TeamChannelSerializer(channel).data),
    )


def create_team_channel(
    team: Team,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    secrets: dict[str, str],
    tenants: list[Tenant] | None = None,
    **fields: Any,
) -> tuple[TeamChannel, str]:
    """The team's channel, and a signed webhook's signing secret (shown once)."""
    sealed, shown, signing_secret = _new_secrets(fields["kind"], secrets)
    channel: TeamChannel = TeamChannel.objects.create(
        team=team, created_by=actor, sealed_secrets=sealed, hint=shown, **fields
    )
    if tenants:
        channel.hear_of(tenants)
    _audit_team("created", channel, request)
    return channel, signing_secret


def update_team_channel(
    channel: TeamChannel,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    secrets: dict[str, str],
    tenants: list[Tenant] | None = None,
    **fields: Any,
) -> TeamChannel:
    for name, value in fields.items():
        setattr(channel, name, value)
    if secrets:
        _replace_secrets(channel, secrets)
    channel.save()
    if tenants is not None:
        channel.hear_of(tenants)
    _audit_team("updated", channel, request)
    return channel


def delete_team_channel(
    channel: TeamChannel, *, actor: User, access: Access, request: HttpRequest | None
) -> TeamChannel:
    _audit_team("deleted", channel, request)
    channel.delete()
    return channel


def send_team_test(
    channel: TeamChannel, *, actor: User, access: Access, request: HttpRequest | None
) -> Delivery:
    """A test message through a team's channel, queued like any delivery. A delivery is kept
    in a tenant's log: the test's is the first tenant the channel names (else the first the
    caller sees), staff only, and says nothing of that tenant."""
    if not channel.is_active:
        raise Invalid("The channel is disabled: enable it to send a test.")
    tenant = channel.tenants.order_by("name").first() or (
        Tenant.objects.filter(pk__in=sorted(access.tenant_ids)).order_by("name").first()
    )
    if tenant is None:
        raise Invalid("There is no customer yet: a test message is kept in a customer's log.")
    message = routing.test_message(channel)
    delivery: Delivery = Delivery.objects.create(
        tenant=tenant,
        team_channel=channel,
        staff_only=True,
        kind=channel.kind,
        event_type=message.event_type,
        title=message.title,
        message=asdict(message),
        key=message.subject_key,
        is_test=True,
    )
    audit.record(
        "team_channel.tested",
        obj=channel,
        request=request,
        summary=f"test message sent to team channel {channel} of {channel.team.name}",
    )
    enqueue("notifications.tasks.deliver_deliveries")
    return delivery


TEAM_CHANNEL_CREATE = Action(
    "team_channel.create",
    do=create_team_channel,
    check=check_manage_team,
    serializer=TeamChannelInputSerializer,
    done=lambda made: f"Channel '{made[0].name}' added.",
    step_up=True,  # a second factor given recently (tenants.mfa)
)
TEAM_CHANNEL_UPDATE = Action(
    "team_channel.update",
    do=update_team_channel,
    check=check_manage_team,
    serializer=TeamChannelInputSerializer,
    changes_target=True,
    done=lambda channel: f"Channel '{channel.name}' saved.",
    step_up=True,  # a second factor given recently (tenants.mfa)
)
TEAM_CHANNEL_DELETE = Action(
    "team_channel.delete",
    do=delete_team_channel,
    check=check_manage_team,
    done=lambda channel: f"Channel '{channel.name}' removed.",
    step_up=True,  # a second factor given recently (tenants.mfa)
)
TEAM_CHANNEL_TEST = Action(
    "team_channel.test",
    do=send_team_test,
    check=check_manage_team,
    done="Test message queued: its delivery shows below once sent.",
)


# --- a person's own contact methods and notification rules --------------------------------------
def check_own(access: Access, target: User | ContactMethod | NotificationRule) -> None:
    owner = target.pk if isinstance(target, User) else target.user_id
    if not access.is_authenticated or owner != access.user_id:
        raise Refused("Only its owner changes a contact method or a notification rule.")


def create_contact_method(
    user: User,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    secrets: dict[str, str],
    **fields: Any,
) -> ContactMethod:
    if fields["kind"] == Kind.WEBHOOK:
        raise Invalid({"kind": ["A signed webhook is a channel of a tenant, not a person's."]})
    if (
        fields["kind"] == Kind.SLACK_APP
        and ContactMethod.objects.filter(kind=Kind.SLACK_APP, target=fields["target"])
        .exclude(user_id=user.pk)
        .exists()
    ):
        # a Slack user's clicks are one person's (notifications.slack): never two accounts'
        raise Invalid({"target": ["This Slack user is linked to another portal account."]})
    sealed, shown = _sealed(fields["kind"], secrets)
    method: ContactMethod = ContactMethod.objects.create(
        user=user, sealed_secrets=sealed, hint=shown, **fields
    )
    audit.record("contact_method.created", request=request, summary=f"contact method {method}")
    return method


def delete_contact_method(
    method: ContactMethod, *, actor: User, access: Access, request: HttpRequest | None
) -> ContactMethod:
    audit.record("contact_method.deleted", request=request, summary=f"contact method {method}")
    method.delete()
    return method


def create_rule(
    user: User, *, actor: User, access: Access, request: HttpRequest | None, **fields: Any
) -> NotificationRule:
    method = fields.get("contact_method")
    if isinstance(method, ContactMethod) and method.kind == Kind.SLACK_APP:
        raise Invalid(
            {
                "contact_method": [
                    "A Slack app link says who you are in Slack, for its buttons; it is not "
                    "paged itself: use Slack (incoming webhook) for a direct message."
                ]
            }
        )
    rule: NotificationRule = NotificationRule.objects.create(user=user, **fields)
    return rule


def delete_rule(
    rule: NotificationRule, *, actor: User, access: Access, request: HttpRequest | None
) -> NotificationRule:
    rule.delete()
    return rule


CONTACT_METHOD_CREATE = Action(
    "contact_method.create",
    do=create_contact_method,
    check=check_own,
    serializer=ContactMethodInputSerializer,
    done=lambda method: f"Contact method '{method.label}' added.",
)
CONTACT_METHOD_DELETE = Action(
    "contact_method.delete",
    do=delete_contact_method,
    check=check_own,
    done="Contact method removed (and the rules that used it).",
)
RULE_CREATE = Action(
    "notification_rule.create",
    do=create_rule,
    check=check_own,
    serializer=NotificationRuleSerializer,
    done="Notification rule added.",
)
RULE_DELETE = Action(
    "notification_rule.delete", do=delete_rule, check=check_own, done="Notification rule removed."
)
