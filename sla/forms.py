"""Forms of the SLA pages: answering escalations, asking the MSSP for help, choosing a period,
and a staff member's tenants. The escalation forms are validated by the API's serializers
(sla.api.serializers, through tenants.forms.SerializerForm): their fields draw the inputs,
the serializer decides."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone

from alerts.models import Severity
from tenants.forms import SerializerForm

from .api.serializers import MAX_RESPOND_MINUTES, MAX_TEXT, AssistanceSerializer, DeclineSerializer


class DeclineForm(SerializerForm):
    serializer_class = DeclineSerializer

    reason = forms.CharField(
        label="Reason (required)",
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3, "required": True}),
        help_text="Say why your team does not take this incident: the MSSP reads it and "
        "takes the incident back.",
        error_messages={
            "required": "Declining needs a reason: say why your team does not take this incident."
        },
    )


class AssistanceForm(SerializerForm):
    """A request for assistance: POST /api/v1/incidents/{id}/escalate/ {"to": "mssp"}."""

    serializer_class = AssistanceSerializer

    note = forms.CharField(
        label="What do you need from the MSSP?",
        max_length=MAX_TEXT,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    respond_minutes = forms.IntegerField(
        label="Answer within (minutes)",
        min_value=1,
        max_value=MAX_RESPOND_MINUTES,
        required=False,
        help_text="Leave empty for the default (30 minutes).",
    )


PERIODS = [(7, "Last 7 days"), (30, "Last 30 days"), (90, "Last 90 days"), (365, "Last year")]


class PeriodForm(forms.Form):
    """A period of whole days ending now, or explicit dates (inclusive) in the tenant's time
    zone; the figures are those of /api/v1/sla/summary/ for exactly that range."""

    days = forms.TypedChoiceField(
        label="Period", choices=PERIODS, coerce=int, required=False, empty_value=30
    )
    start = forms.DateField(label="From (date)", required=False)
    end = forms.DateField(label="To (date, inclusive)", required=False)
    severity = forms.ChoiceField(
        label="Severity", choices=[("", "All severities"), *Severity.choices], required=False
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if (start is None) != (end is None):
            raise forms.ValidationError("Give both dates, or neither.")
        if start and end:
            if start > end:
                raise forms.ValidationError("The start date is after the end date.")
            if end - start > timedelta(days=3660):
                raise forms.ValidationError("A period is at most ten years.")
            if start < date(2000, 1, 1) or end > date(2999, 12, 30):
                raise forms.ValidationError("Choose dates between 2000 and 2999.")
        return data

    def period(self, tz_name: str, now: datetime | None = None) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes. Call after is_valid()."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        now = now or timezone.now()
        if data.get("start") and data.get("end"):
            tz = ZoneInfo(tz_name)
            start = datetime.combine(data["start"], time.min, tzinfo=tz)
            end = datetime.combine(data["end"] + timedelta(days=1), time.min, tzinfo=tz)
            return start, end
        return now - timedelta(days=data.get("days") or 30), now


class StaffTenantsForm(forms.Form):
    """Exactly the tenants a staff member works (the staff API's `tenants`) and, for a lead,
    leads (`leads`). Choices are given
    by the page (the tenants its caller may assign), so many forms on a page cost no query."""

    tenants = forms.TypedMultipleChoiceField(
        label="Tenants worked",
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    leads = forms.TypedMultipleChoiceField(
        label="Tenants led",
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, tenant_choices=(), with_leads: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tenants"].choices = list(tenant_choices)
        if with_leads:  # a lead: also the tenants they lead (the staff API's `leads`)
            self.fields["leads"].choices = list(tenant_choices)
        else:
            del self.fields["leads"]
