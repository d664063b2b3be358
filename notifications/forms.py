"""Forms of the notifications settings page (notifications.views). They only draw the inputs:
the API's serializers (notifications.api.serializers) decide, through
tenants.forms.SerializerForm, so the page accepts exactly what the API accepts.

A channel's secrets are write-only: their inputs are password fields that never render a
value, not even back into the form after an error, and a blank one is no input at all (on a
change: keep the current secret)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.http import QueryDict
from rest_framework import serializers

from alerts.models import Severity, SourceKind
from tenants.forms import SerializerForm

from .api.serializers import (
    GIVEN,
    MAX_CATEGORY_TEXT,
    ChannelInputSerializer,
    ContactMethodInputSerializer,
    NotificationRuleSerializer,
    SubscriptionSerializer,
)
from .models import Channel, ContactMethod, Event, Kind
from .senders import SECRET_NAMES

SECRET_LABELS = {
    "url": "Webhook URL",
    "routing_key": "Routing key",
    "api_key": "API key",
    "webhook_secret": "Webhook secret",
    "bot_token": "Bot token",
    "signing_secret": "Signing secret",
}
SECRET_WHAT = {
    "url": "the URL the portal posts to (the incoming webhook's, the workflow's trigger, your "
    "receiver's)",
    "routing_key": "the integration's routing key",
    "api_key": "the API integration's key",
    "webhook_secret": "what verifies the acknowledgements the vendor sends back (PagerDuty: the "
    "webhook subscription's secret; Opsgenie: a token of your making, 16 characters or more, "
    "that its outgoing webhook sends in the X-MSSP-Token header); optional",
    "bot_token": "the app's Bot User OAuth Token (xoxb-..., scope chat:write)",
    "signing_secret": "the app's Signing Secret (Basic Information), which verifies its "
    "buttons' clicks",
}
TARGET_HELP = (
    "E-mail: the address. SMS and voice: the phone number in international form, such as "
    "+14155550100. Slack app: the channel's id, such as C0123ABCD. Leave it empty for the "
    "other kinds."
)
PERSONAL_TARGET_HELP = (
    "E-mail: the address. SMS and voice: the phone number in international form, such as "
    "+14155550100. Slack app: your workspace and member ids, such as T0123ABCD/U0456EFGH, so "
    "that the app's buttons act as you. Leave it empty for the other kinds."
)
ACTIVE_CHOICES = [("true", "Active: messages are sent"), ("false", "Disabled: nothing is sent")]


def kinds_using(secret: str) -> str:
    """The kinds whose channels need `secret` (senders.SECRET_NAMES states it once), by the
    short names of their labels: "Slack, Microsoft Teams, Signed webhook"."""
    labels = [Kind(kind).label for kind, names in SECRET_NAMES.items() if secret in names]
    return ", ".join(label.split(" (")[0] for label in labels)


def secret_field(name: str, help_text: str) -> forms.CharField:
    # the serializer's limit: the input's maxlength says what the API accepts
    max_length = cast(serializers.CharField, ChannelInputSerializer().fields[name]).max_length
    return forms.CharField(
        label=SECRET_LABELS[name],
        required=False,
        strip=False,
        max_length=max_length,
        help_text=help_text,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}
        ),
    )


class NewIsActive(SerializerForm):
    """A new channel or subscription is active, as the API's is. (A form's POST is HTML form
    input, where DRF reads an absent boolean as false; the API's JSON gets the default.)"""

    def inputs(self) -> QueryDict:
        inputs = super().inputs()
        inputs.setdefault("is_active", "true")
        return inputs


class ChannelForm(SerializerForm):
    serializer_class = ChannelInputSerializer

    def inputs(self) -> QueryDict:
        inputs = super().inputs()
        for name in GIVEN:
            if name in inputs and not "".join(inputs.getlist(name)).strip():
                del inputs[name]  # blank: no secret given (a change keeps the current one)
        return inputs


class ChannelCreateForm(NewIsActive, ChannelForm):
    name = forms.CharField(max_length=100, help_text="e.g. 'SOC mailbox' or 'Slack #incidents'.")
    kind = forms.ChoiceField(choices=Kind.choices)
    target = forms.CharField(
        label="Address or phone", max_length=254, required=False, help_text=TARGET_HELP
    )
    url = secret_field("url", f"{kinds_using('url')}: {SECRET_WHAT['url']}.")
    routing_key = secret_field(
        "routing_key", f"{kinds_using('routing_key')}: {SECRET_WHAT['routing_key']}."
    )
    api_key = secret_field("api_key", f"{kinds_using('api_key')}: {SECRET_WHAT['api_key']}.")
    webhook_secret = secret_field(
        "webhook_secret", f"{kinds_using('webhook_secret')}: {SECRET_WHAT['webhook_secret']}."
    )
    bot_token = secret_field(
        "bot_token", f"{kinds_using('bot_token')}: {SECRET_WHAT['bot_token']}."
    )
    signing_secret = secret_field("signing_secret", f"Slack app: {SECRET_WHAT['signing_secret']}.")


class ChannelEditForm(ChannelForm):
    """Rename, enable or disable, replace a secret (as PATCH .../channels/{id}/): only the
    inputs posted change, so the list's enable/disable button posts `is_active` alone."""

    partial = True

    name = forms.CharField(max_length=100, required=False)
    target = forms.CharField(
        label="Address or phone", max_length=254, required=False, help_text=TARGET_HELP
    )
    is_active = forms.ChoiceField(label="State", choices=ACTIVE_CHOICES, required=False)
    url = secret_field("url", "")
    routing_key = secret_field("routing_key", "")
    api_key = secret_field("api_key", "")
    webhook_secret = secret_field("webhook_secret", "")
    bot_token = secret_field("bot_token", "")
    signing_secret = secret_field("signing_secret", "")

    def __init__(self, *args: Any, instance: Channel, **kwargs: Any) -> None:
        super().__init__(*args, instance=instance, **kwargs)
        kept = ChannelInputSerializer().given_secrets(instance.kind)
        for name in GIVEN:
            if name not in kept:
                del self.fields[name]
            else:
                ends = f" (it ends {instance.hint})" if instance.hint else ""
                self.fields[name].help_text = (
                    f"Only to replace it: {SECRET_WHAT[name]}. Leave it blank to keep the "
                    f"current one{ends}."
                )
        if instance.kind not in (Kind.EMAIL, Kind.SMS, Kind.VOICE, Kind.SLACK_APP):
            del self.fields["target"]
        if not self.is_bound:
            self.initial.setdefault("name", instance.name)
            self.initial.setdefault("target", instance.target)
            self.initial.setdefault("is_active", "true" if instance.is_active else "false")


class SubscriptionForm(NewIsActive):
    """Which events go to which channel (as POST .../subscriptions/). The channel input offers
    the tenant's channels, but any id is the serializer's to judge: another tenant's is "No
    such channel", as in the API."""

    serializer_class = SubscriptionSerializer

    channel = forms.CharField(widget=forms.Select)
    events = forms.MultipleChoiceField(
        choices=Event.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )
    min_severity = forms.ChoiceField(
        label="Minimum severity",
        choices=[("", "Any severity"), *Severity.choices],
        required=False,
        help_text="Only messages about incidents at least this severe.",
    )
    categories = forms.CharField(
        required=False,
        max_length=MAX_CATEGORY_TEXT,
        help_text="Only incidents of these categories, separated by commas "
        "(phishing, ransomware). Empty: any.",
    )
    sources = forms.MultipleChoiceField(
        choices=SourceKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only incidents that came in through these kinds of source. None ticked: any.",
    )

    def __init__(self, *args: Any, channels: list[Channel], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        widget = cast(forms.Select, self.fields["channel"].widget)
        widget.choices = [
            ("", "Choose a channel"),
            *[
                (
                    str(c.pk),
                    f"{c.name} ({c.get_kind_display()})" + ("" if c.is_active else " – disabled"),
                )
                for c in channels
            ],
        ]


# --- a person's own contact methods and notification rules (notifications.account) --------------
# A signed webhook is a tenant's channel, not a person's: it is not offered (and the action
# refuses it with its own message when posted anyway).
PERSONAL_KINDS = [(kind, label) for kind, label in Kind.choices if kind != Kind.WEBHOOK]


def personal_kinds_using(secret: str) -> str:
    """kinds_using, among the kinds a person may use: "Slack, Microsoft Teams"."""
    personal = {kind for kind, _ in PERSONAL_KINDS}
    labels = [
        Kind(kind).label
        for kind, names in SECRET_NAMES.items()
        if secret in names and kind in personal
    ]
    return ", ".join(label.split(" (")[0] for label in labels)


PAGING_USER_HELP = (
    " PagerDuty: your user id (the end of your profile's address, …/users/PABC123); Opsgenie: "
    "your username (the e-mail you sign in with). Then an acknowledgement you make there is "
    "yours in the portal."
)


class ContactMethodForm(ChannelForm):
    """One of your own ways to be reached (as POST /api/v1/me/contact-methods/). The kind
    input offers the personal kinds, but the posted value is the serializer's and the
    action's to judge, as in the API."""

    serializer_class = ContactMethodInputSerializer

    label = forms.CharField(max_length=100, help_text="e.g. 'Work phone' or 'Slack DM'.")
    kind = forms.CharField(widget=forms.Select(choices=PERSONAL_KINDS))
    target = forms.CharField(
        label="Address, phone or Slack user",
        max_length=254,
        required=False,
        help_text=PERSONAL_TARGET_HELP,
    )
    url = secret_field("url", f"{personal_kinds_using('url')}: {SECRET_WHAT['url']}.")
    routing_key = secret_field(
        "routing_key", f"{personal_kinds_using('routing_key')}: {SECRET_WHAT['routing_key']}."
    )
    api_key = secret_field(
        "api_key", f"{personal_kinds_using('api_key')}: {SECRET_WHAT['api_key']}."
    )


ContactMethodForm.base_fields[
    "target"
].help_text = f"{ContactMethodForm.base_fields['target'].help_text}{PAGING_USER_HELP}"


def _delay_limit() -> int:
    # the serializer's limit, so the input's max says what the API accepts
    field = cast(serializers.IntegerField, NotificationRuleSerializer().fields["delay_minutes"])
    return cast(int, field.max_value)


class NotificationRuleForm(SerializerForm):
    """A step of your own paging sequence (as POST /api/v1/me/notification-rules/). The input
    offers your contact methods; any id is the serializer's to judge: anyone else's is "No such
    contact method of yours", as in the API."""

    serializer_class = NotificationRuleSerializer

    contact_method = forms.CharField(label="Contact method", widget=forms.Select)
    delay_minutes = forms.IntegerField(
        label="After (minutes)",
        min_value=0,
        max_value=_delay_limit(),
        initial=0,
        help_text=f"0: at once. At most {_delay_limit()} (a day). Not used when the page is "
        "answered by then.",
    )

    def __init__(self, *args: Any, methods: list[ContactMethod], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        widget = cast(forms.Select, self.fields["contact_method"].widget)
        widget.choices = [
            ("", "Choose a contact method"),
            *[(str(m.pk), f"{m.label} ({m.get_kind_display()})") for m in methods],
        ]
