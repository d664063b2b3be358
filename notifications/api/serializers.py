"""The notifications API's shapes: channels (secrets write-only), subscriptions, deliveries.
The settings page validates with the same classes (notifications.actions)."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts.models import Severity, SourceKind
from tenants.models import Tenant
from tenants.text import single_line
from tenants.webhooks import DeliveryFailed, DestinationRefused, check_destination

from .. import policy
from ..models import (
    Channel,
    ContactMethod,
    Delivery,
    Event,
    Kind,
    NotificationRule,
    Subscription,
    TeamChannel,
)
from ..senders import SECRET_NAMES
from ..senders.phone import E164
from ..senders.slack_app import CHANNEL_ID

# The secrets a user gives (a signed webhook's signing secret is the portal's own making; a
# Slack app's is Slack's, given with its bot token).
GIVEN = ("url", "routing_key", "api_key", "webhook_secret", "bot_token", "signing_secret")
MADE: dict[str, tuple[str, ...]] = {Kind.WEBHOOK: ("signing_secret",)}  # the portal's own
# A Slack user as a person's slack_app contact method names them: workspace (team) id and
# user id, "T0123ABCD/U0456EFGH" (what the interaction callback's payload says of the clicker)
MAX_FILTER_ITEMS = 20  # categories a subscription names
MAX_CATEGORY = 100  # as Incident.category
MAX_CATEGORY_TEXT = MAX_FILTER_ITEMS * (MAX_CATEGORY + 2)  # a page's one comma-separated input
SLACK_USER = re.compile(r"[TE][A-Z0-9]{2,20}/[UW][A-Z0-9]{2,20}")

# Given later, if at all: a PagerDuty or Opsgenie channel's webhook secret, which verifies what
# the vendor sends back (notifications.inbound). PagerDuty makes it only once a subscription to
# the channel's URL exists, so a channel is made without it.
OPTIONAL = ("webhook_secret",)
# A person's PagerDuty user id, as at the end of their profile's address (…/users/PABC123):
# whom a PagerDuty webhook names as the agent of an acknowledgement (notifications.inbound).
PAGERDUTY_USER = re.compile(r"P[A-Z0-9]{6,19}")


class ChannelSerializer(serializers.ModelSerializer[Channel]):
    hint = serializers.CharField(
        read_only=True, help_text="The end of the channel's secret, to tell channels apart."
    )

    class Meta:
        model = Channel
        fields = ["id", "name", "kind", "target", "hint", "is_active", "created_at"]
        read_only_fields = ["id", "hint", "created_at"]


class ChannelInputSerializer(serializers.ModelSerializer[Channel]):
    """A new channel, or a change to one (PATCH: the fields sent change). Secrets are
    write-only: `url` for Slack, Teams and webhooks, `routing_key` for PagerDuty, `api_key`
    for Opsgenie, `bot_token` and `signing_secret` for a Slack app; they are checked, sealed,
    and never shown again."""

    url = serializers.CharField(
        max_length=500, required=False, write_only=True, trim_whitespace=True
    )
    routing_key = serializers.CharField(max_length=100, required=False, write_only=True)
    api_key = serializers.CharField(max_length=100, required=False, write_only=True)
    webhook_secret = serializers.CharField(
        min_length=16,
        max_length=200,
        required=False,
        write_only=True,
        help_text="PagerDuty: the webhook subscription's secret; Opsgenie: the token its "
        "outgoing webhook sends in X-MSSP-Token. Verifies acknowledgements sent back.",
    )
    bot_token = serializers.RegexField(
        r"^xox[bpa]-[A-Za-z0-9-]{10,250}$",
        max_length=255,
        required=False,
        write_only=True,
        error_messages={"invalid": "A Slack bot token: xoxb-..."},
    )
    signing_secret = serializers.RegexField(
        r"^[0-9a-fA-F]{16,128}$",
        max_length=128,
        required=False,
        write_only=True,
        error_messages={"invalid": "The Slack app's signing secret: hexadecimal digits."},
    )

    class Meta:
        model = Channel
        fields = [
            "name",
            "kind",
            "target",
            "is_active",
            "url",
            "routing_key",
            "api_key",
            "webhook_secret",
            "bot_token",
            "signing_secret",
        ]

    def validate_url(self, value: str) -> str:
        try:
            check_destination(value)
        except DestinationRefused as exc:
            raise serializers.ValidationError(f"Not a URL the portal may send to: {exc}.") from None
        except DeliveryFailed as exc:
            raise serializers.ValidationError(f"{exc}.") from None
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance = self.instance
        kind = attrs.get("kind", instance.kind if instance else "")
        if instance is not None and kind != instance.kind:
            raise serializers.ValidationError({"kind": "A channel's kind cannot change."})
        target = attrs.get("target", instance.target if instance else "").strip()
        attrs["target"] = target
        if kind == Kind.EMAIL:
            try:
                validate_email(target)
            except DjangoValidationError:
                raise serializers.ValidationError({"target": "An e-mail address."}) from None
        elif kind in (Kind.SMS, Kind.VOICE):
            if not E164.fullmatch(target):
                raise serializers.ValidationError(
                    {"target": "A phone number in international form, such as +14155550100."}
                )
        elif kind == Kind.SLACK_APP:
            self.validate_slack_target(target)
        elif kind in (Kind.PAGERDUTY, Kind.OPSGENIE) and target:
            attrs["target"] = self.paging_user(kind, target)
        elif target:
            raise serializers.ValidationError(
                {"target": "Only e-mail, SMS, voice and a Slack app have one."}
            )
        given: dict[str, str] = {name: attrs.pop(name) for name in GIVEN if name in attrs}
        needed = self.given_secrets(kind)
        unexpected = sorted(set(given) - set(needed))
        if unexpected:
            raise serializers.ValidationError(
                {name: f"Not used by a {Kind(kind).label} channel." for name in unexpected}
            )
        missing = [name for name in needed if not given.get(name) and name not in OPTIONAL]
        if missing and instance is None:
            raise serializers.ValidationError({name: "This field is required." for name in missing})
        attrs["secrets"] = {name: value for name, value in given.items() if value}
        return attrs

    def paging_user(self, kind: str, target: str) -> str:
        """A PagerDuty or Opsgenie channel has no target (a person's contact method names
        who they are there: ContactMethodInputSerializer)."""
        raise serializers.ValidationError({"target": f"A {Kind(kind).label} channel has none."})

    def given_secrets(self, kind: str) -> list[str]:
        """The secrets a channel of `kind` is given (and needs)."""
        made = MADE.get(kind, ())
        return [name for name in SECRET_NAMES.get(kind, ()) if name in GIVEN and name not in made]

    def validate_slack_target(self, target: str) -> None:
        if not CHANNEL_ID.fullmatch(target):
            raise serializers.ValidationError(
                {"target": "The Slack channel's id, such as C0123ABCD (the channel's details)."}
            )


class ChannelCreatedSerializer(ChannelSerializer):
    signing_secret = serializers.CharField(
        read_only=True,
        allow_blank=True,
        help_text="A signed webhook's signing secret (whsec_...): shown this once.",
    )

    class Meta(ChannelSerializer.Meta):
        fields = [*ChannelSerializer.Meta.fields, "signing_secret"]


class TeamChannelSerializer(serializers.ModelSerializer[TeamChannel]):
    """An MSSP team's channel: as a tenant's, with its team and what else it hears of."""

    hint = serializers.CharField(
        read_only=True, help_text="The end of the channel's secret, to tell channels apart."
    )
    team = serializers.UUIDField(source="team_id", read_only=True)
    tenants: serializers.SlugRelatedField[Tenant] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )

    class Meta:
        model = TeamChannel
        fields = [
            "id",
            "team",
            "name",
            "kind",
            "target",
            "hint",
            "is_active",
            "events",
            "min_severity",
            "tenants",
            "created_at",
        ]
        read_only_fields = fields


class TeamChannelCreatedSerializer(TeamChannelSerializer):
    signing_secret = serializers.CharField(
        read_only=True,
        allow_blank=True,
        help_text="A signed webhook's signing secret (whsec_...): shown this once.",
    )

    class Meta(TeamChannelSerializer.Meta):
        fields = [*TeamChannelSerializer.Meta.fields, "signing_secret"]


@extend_schema_field(OpenApiTypes.STR)  # a tenant's slug
class SeenTenantField(serializers.SlugRelatedField[Tenant]):
    """A tenant by its slug, among those the caller sees; any other reads as "does not
    exist", exactly like a missing one."""

    default_error_messages = {
        "does_not_exist": "No such tenant: '{value}'.",
        "invalid": "Expected a tenant's slug.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="slug", **kwargs)

    def get_queryset(self) -> models.QuerySet[Tenant]:
        access = self.context.get("access")
        seen = sorted(getattr(access, "tenant_ids", ()) or ())
        return Tenant.objects.filter(pk__in=seen)


class TeamChannelInputSerializer(ChannelInputSerializer):
    """A new channel of an MSSP team, or a change to one: a tenant channel's fields and
    secrets, and optionally what else it hears of: `events` (none: every event) of the
    `tenants` it names (none: only escalations addressed to the team), about incidents of at
    least `min_severity`."""

    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Event.choices),
        required=False,
        max_length=len(Event.choices),
        help_text="What to be told of about the tenants named; empty means every event.",
    )
    min_severity = serializers.ChoiceField(
        choices=Severity.choices,
        required=False,
        allow_blank=True,
        help_text="Only incidents at least this severe (empty: all).",
    )
    tenants = serializers.ListField(
        child=SeenTenantField(),
        required=False,
        max_length=1000,
        help_text="Slugs of the tenants whose events it hears of (empty: only escalations to "
        "the team). Only MSSP admins and managers name tenants.",
    )

    class Meta:
        model = TeamChannel
        fields = [*ChannelInputSerializer.Meta.fields, "events", "min_severity", "tenants"]

    def validate_events(self, value: list[str]) -> list[str]:
        return sorted(set(value))

    def validate_tenants(self, value: list[Tenant]) -> list[Tenant]:
        access = self.context.get("access")
        chosen = {tenant.pk: tenant for tenant in value}
        if access is None or not policy.may_name_tenants(access, set(chosen)):
            raise serializers.ValidationError(
                "Only MSSP admins and managers name the tenants a team channel hears of."
            )
        return list(chosen.values())


class TenantChannelField(serializers.PrimaryKeyRelatedField[Channel]):
    """A channel of the tenant the input is for (the action's target: the tenant, or a row of
    it); any other id reads as "does not exist", exactly like a missing one."""

    default_error_messages = {
        "does_not_exist": "No such channel: '{pk_value}'.",
        "incorrect_type": "Expected a channel id, got {data_type}.",
    }

    def get_queryset(self) -> models.QuerySet[Channel]:
        target = self.context.get("target")
        tenant_id = target.pk if isinstance(target, Tenant) else getattr(target, "tenant_id", None)
        channels: models.QuerySet[Channel] = (
            Channel.objects.none() if tenant_id is None else Channel.objects.for_tenant(tenant_id)
        )
        return channels

    def to_internal_value(self, data: Any) -> Channel:
        try:
            return super().to_internal_value(data)
        except (ValueError, TypeError, DjangoValidationError):
            self.fail("does_not_exist", pk_value=data)


class SubscriptionSerializer(serializers.ModelSerializer[Subscription]):
    channel = TenantChannelField()
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Event.choices),
        required=False,
        max_length=len(Event.choices),
        help_text="What to be told of; empty means every event.",
    )
    min_severity = serializers.ChoiceField(
        choices=Severity.choices,
        required=False,
        allow_blank=True,
        help_text="Only incidents at least this severe (empty: all).",
    )
    categories = serializers.ListField(
        child=serializers.CharField(max_length=MAX_CATEGORY_TEXT, allow_blank=True),
        required=False,
        max_length=MAX_FILTER_ITEMS,
        help_text="Only incidents of these categories, ignoring case (empty: any). An item may "
        "list several, separated by commas.",
    )
    sources = serializers.ListField(
        child=serializers.ChoiceField(choices=SourceKind.choices),
        required=False,
        max_length=len(SourceKind.choices),
        help_text="Only incidents that came in through a source of these kinds (empty: any; "
        "an incident raised by hand has none).",
    )

    class Meta:
        model = Subscription
        fields = [
            "id",
            "channel",
            "events",
            "min_severity",
            "categories",
            "sources",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    def validate_events(self, value: list[str]) -> list[str]:
        return sorted(set(value))

    def validate_categories(self, value: list[str]) -> list[str]:
        """Case-folded, each once; "phishing, ransomware" (a page's one input) is two."""
        found = {
            single_line(part).strip().casefold() for item in value for part in item.split(",")
        } - {""}
        if len(found) > MAX_FILTER_ITEMS:
            raise serializers.ValidationError(f"At most {MAX_FILTER_ITEMS} categories.")
        if any(len(name) > MAX_CATEGORY for name in found):
            raise serializers.ValidationError(f"A category has at most {MAX_CATEGORY} characters.")
        return sorted(found)

    def validate_sources(self, value: list[str]) -> list[str]:
        return sorted(set(value))


class DeliverySerializer(serializers.ModelSerializer[Delivery]):
    channel_name = serializers.CharField(source="channel.name", read_only=True, default=None)
    team_channel = serializers.UUIDField(
        source="team_channel_id",
        read_only=True,
        allow_null=True,
        help_text="An MSSP team's channel (staff only); null for a tenant's channel or a page.",
    )

    class Meta:
        model = Delivery
        fields = [
            "id",
            "channel",
            "channel_name",
            "team_channel",
            "kind",
            "event_type",
            "incident",
            "title",
            "status",
            "attempts",
            "answer",
            "last_error",
            "is_test",
            "created_at",
            "sent_at",
            "next_attempt_at",
        ]
        read_only_fields = fields


class ContactMethodSerializer(serializers.ModelSerializer[ContactMethod]):
    hint = serializers.CharField(read_only=True)

    class Meta:
        model = ContactMethod
        fields = ["id", "label", "kind", "target", "hint", "created_at"]
        read_only_fields = ["id", "hint", "created_at"]


class ContactMethodInputSerializer(ChannelInputSerializer):
    """A person's own contact method: the same kinds, targets and secrets as a channel's,
    except a Slack app's: there it says who the person is in Slack ("T0123ABCD/U0456EFGH",
    workspace and user id), so that a click on a Slack app's button is theirs; it has no
    secrets (the app's are its channel's)."""

    class Meta:
        model = ContactMethod
        fields = ["label", "kind", "target", "url", "routing_key", "api_key"]

    def paging_user(self, kind: str, target: str) -> str:
        """Who the person is in PagerDuty (their user id, PABC123) or Opsgenie (their
        username: the e-mail address they sign in with), so that an acknowledgement they make
        there is theirs in the portal (notifications.inbound)."""
        if kind == Kind.PAGERDUTY:
            if not PAGERDUTY_USER.fullmatch(target.upper()):
                raise serializers.ValidationError(
                    {
                        "target": "Your PagerDuty user id, as at the end of your profile's "
                        "address (…pagerduty.com/users/PABC123): P and 6 or more letters or "
                        "digits."
                    }
                )
            return target.upper()
        try:
            validate_email(target)
        except DjangoValidationError:
            raise serializers.ValidationError(
                {"target": "Your Opsgenie username: the e-mail address you sign in with."}
            ) from None
        return target.lower()

    def given_secrets(self, kind: str) -> list[str]:
        return [] if kind == Kind.SLACK_APP else super().given_secrets(kind)

    def validate_slack_target(self, target: str) -> None:
        if not SLACK_USER.fullmatch(target):
            raise serializers.ValidationError(
                {
                    "target": "Your Slack workspace and member ids, such as T0123ABCD/U0456EFGH "
                    "(your Slack profile: Copy member ID; the workspace's id is in its URL)."
                }
            )


class OwnContactMethodField(serializers.PrimaryKeyRelatedField[ContactMethod]):
    """One of the caller's own contact methods; anyone else's reads as "does not exist"."""

    default_error_messages = {"does_not_exist": "No such contact method of yours: '{pk_value}'."}

    def get_queryset(self) -> models.QuerySet[ContactMethod]:
        access = self.context.get("access")
        user_id = getattr(access, "user_id", None) or 0
        methods: models.QuerySet[ContactMethod] = ContactMethod.objects.filter(user_id=user_id)
        return methods

    def to_internal_value(self, data: Any) -> ContactMethod:
        try:
            return super().to_internal_value(data)
        except (ValueError, TypeError, DjangoValidationError):
            self.fail("does_not_exist", pk_value=data)


class NotificationRuleSerializer(serializers.ModelSerializer[NotificationRule]):
    contact_method = OwnContactMethodField(help_text="One of your own contact methods.")
    delay_minutes = serializers.IntegerField(
        min_value=0, max_value=1440, help_text="Minutes after the page, unless answered by then."
    )

    class Meta:
        model = NotificationRule
        fields = ["id", "contact_method", "delay_minutes", "created_at"]
        read_only_fields = ["id", "created_at"]
