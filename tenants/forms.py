"""Forms of the portal's settings pages.

The rules are the API's: each form names the REST serializer that validates the same input, and
runs it on the raw POST data. The form's own fields only draw the inputs (labels, types,
choices); the serializer decides, so a page never accepts what the API would refuse, nor the
other way round.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django import forms
from django.conf import settings
from django.http import QueryDict
from rest_framework import serializers

from .api.serializers import (
    ContactSerializer,
    ContactUpdateSerializer,
    MemberCreateSerializer,
    MemberUpdateSerializer,
    TokenCreateSerializer,
)
from .models import ApiToken, Membership


def flatten_errors(errors: Any) -> list[str]:
    """DRF error detail (a list, a dict by index for list items, nested) as flat messages."""
    if isinstance(errors, dict):
        return [message for value in errors.values() for message in flatten_errors(value)]
    if isinstance(errors, list | tuple):
        return [message for value in errors for message in flatten_errors(value)]
    return [str(errors)]


class SerializerForm(forms.Form):
    """A form validated by an API serializer (see the module docstring). A page validates
    it to show each error at its input, then hands `inputs()` to the action, whose serializer
    is the same class."""

    serializer_class: ClassVar[type[serializers.Serializer[Any]]]
    partial: ClassVar[bool] = False  # as the API's PATCH

    def __init__(
        self,
        *args: Any,
        instance: Any = None,
        context: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.instance = instance
        self.context = context or {}
        self.serializer: serializers.Serializer[Any] | None = None

    @property
    def validated_data(self) -> dict[str, Any]:
        if not self.is_valid() or self.serializer is None:
            raise ValueError("The form is not valid; read its errors instead.")
        validated: dict[str, Any] = self.serializer.validated_data
        return validated

    def inputs(self) -> QueryDict:
        """Only the inputs this form has: a field the page does not offer cannot be set by
        posting it anyway."""
        inputs = QueryDict(mutable=True)
        for name in self.fields:
            key = self.add_prefix(name)
            if key in self.data:
                if hasattr(self.data, "getlist"):
                    inputs.setlist(name, self.data.getlist(key))
                else:
                    value = self.data[key]
                    inputs.setlist(name, value if isinstance(value, list) else [value])
        return inputs

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        serializer = self.serializer_class(
            self.instance, data=self.inputs(), context=self.context, partial=self.partial
        )
        if serializer.is_valid():
            self.serializer = serializer
            return cleaned
        for name, errors in serializer.errors.items():
            field = name if name in self.fields else None
            if field is not None and self.has_error(field):
                continue  # the input's own check already said it; once is enough
            for message in flatten_errors(errors):
                self.add_error(field, message)
        return cleaned


ROLE_HELP = (
    "Viewer: reads the portal and reports. Responder: the in-house team, works escalations "
    "and incidents. Admin: manages members, tokens, intake sources and contacts."
)


class MemberAddForm(SerializerForm):
    serializer_class = MemberCreateSerializer

    username = forms.CharField(
        max_length=150,
        help_text="Letters, digits and @ . + - _ only.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Membership.Role.choices, help_text=ROLE_HELP)
    password = forms.CharField(
        required=False,
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Optional. Without one, the new member is emailed a link to choose it.",
    )


class MemberRoleForm(SerializerForm):
    serializer_class = MemberUpdateSerializer

    role = forms.ChoiceField(choices=Membership.Role.choices)


class TokenCreateForm(SerializerForm):
    """Scopes on offer are those the caller's role may grant (policy.scopes_allowed); the
    service refuses any other, exactly as for POST /api/v1/tokens/."""

    serializer_class = TokenCreateSerializer

    name = forms.CharField(
        max_length=100,
        help_text="What the token is for, e.g. 'SOAR playbook' or 'nightly export'.",
    )
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Read: look; write: work (incidents, escalations, findings, rules); admin: "
        "administration (members, intake sources, contacts, webhooks, policies, the audit log, "
        "API tokens). Grant only what the script needs.",
    )
    expires_in_days = forms.IntegerField(
        label="Expires in (days)",
        min_value=1,
        max_value=settings.API_TOKEN_MAX_TTL.days,
        initial=settings.API_TOKEN_DEFAULT_TTL.days,
        help_text=f"At most {settings.API_TOKEN_MAX_TTL.days}.",
    )

    def __init__(self, *args: Any, allowed_scopes: frozenset[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = cast(forms.MultipleChoiceField, self.fields["scopes"])  # declared above
        field.choices = [(v, label) for v, label in ApiToken.Scope.choices if v in allowed_scopes]
        field.initial = sorted(allowed_scopes & {"read"}) or sorted(allowed_scopes)


class ContactForm(SerializerForm):
    serializer_class = ContactSerializer

    name = forms.CharField(max_length=200)
    email = forms.EmailField(max_length=254)
    phone = forms.CharField(max_length=50, required=False)
    notify_sla = forms.BooleanField(
        label="SLA notices", required=False, help_text="SLA at-risk and breach notices."
    )
    receive_reports = forms.BooleanField(
        label="Reports", required=False, help_text="Receives the periodic service reports."
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.is_bound:
            return
        if self.instance is None:
            self.initial.setdefault("notify_sla", True)
            self.initial.setdefault("receive_reports", True)
        else:
            for name in self.fields:
                self.initial.setdefault(name, getattr(self.instance, name))


class ContactEditForm(ContactForm):
    serializer_class = ContactUpdateSerializer


class AuditFilterForm(forms.Form):
    """Filters of the audit log page (the API's: action prefix, actor, time range)."""

    action = forms.CharField(
        max_length=64,
        required=False,
        help_text="Starts with, e.g. membership. or token.",
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    actor = forms.CharField(max_length=150, required=False, help_text="Exact username.")
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    cursor = forms.CharField(max_length=100, required=False, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if cleaned is None:  # Form.clean returns cleaned_data; the stubs allow None
            return cleaned
        since, until = cleaned.get("since"), cleaned.get("until")
        for name, day in (("since", since), ("until", until)):
            # A day the period's arithmetic (the next midnight, in the tenant's zone) can
            # still handle: year 1 or 9999 would overflow.
            if day and not 1970 <= day.year <= 9000:
                self.add_error(name, "A date between 1970 and 9000.")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned
