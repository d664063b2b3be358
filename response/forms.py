"""Forms for answering a response action outside its incident page (a message's one-click
answer, notifications.answers): validated by the API's serializers (tenants.forms), so a
reject asks for a reason exactly when the API's reject needs one."""

from __future__ import annotations

from django import forms

from tenants.forms import SerializerForm

from .api.serializers import RejectSerializer

_REASON = RejectSerializer().fields["reason"]


class RejectForm(SerializerForm):
    serializer_class = RejectSerializer

    reason = forms.CharField(
        label="Reason" + (" (required)" if _REASON.required else ""),
        max_length=1000,
        required=_REASON.required,
        widget=forms.Textarea(attrs={"rows": 3, "required": _REASON.required}),
        help_text="Say why the action must not run: the MSSP reads it on the incident.",
        error_messages={"required": "Rejecting needs a reason: say why the action must not run."},
    )
