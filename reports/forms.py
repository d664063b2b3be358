"""The report request form of the reports page, validated by the API's ReportRequestSerializer
(tenants.forms.SerializerForm): the page draws its own inputs (a customer picker, date pickers)
and hands them to the serializer under the API's names, so each rule is stated once."""

from __future__ import annotations

from django import forms
from django.http import QueryDict

from tenants.forms import SerializerForm
from tenants.models import Tenant

from .api.serializers import ReportRequestSerializer

# The page's inputs by the API's names: "from" is a Python keyword, so the form says start/end.
API_NAMES = {"tenant": "tenant", "start": "from", "end": "to", "email_contacts": "email_contacts"}


class ReportRequestForm(SerializerForm):
    serializer_class = ReportRequestSerializer

    tenant = forms.ModelChoiceField(
        queryset=Tenant.objects.none(), empty_label=None, label="Customer"
    )
    # <input type=date> speaks ISO dates, whatever the locale's display format.
    start = forms.DateField(
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
    )
    end = forms.DateField(
        label="To (included)",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
    )
    email_contacts = forms.BooleanField(
        required=False, label="Also email it to the customer's report contacts"
    )

    def __init__(self, *args, tenants, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tenant"].queryset = tenants
        if len(tenants) == 1:
            self.fields["tenant"].initial = tenants[0]
            self.fields["tenant"].widget = forms.HiddenInput()

    def api_data(self) -> QueryDict:
        """The request as the API takes it (the tenant by slug): what the action runs on."""
        inputs = QueryDict(mutable=True)
        cleaned = getattr(self, "cleaned_data", {})
        for name, api_name in API_NAMES.items():
            value = cleaned.get(name)
            if value is None:  # a page input the form refused: the serializer says why too
                continue
            if name == "tenant":
                value = value.slug
            elif name == "email_contacts":
                value = "true" if value else "false"
            else:
                value = value.isoformat()
            inputs[api_name] = value
        return inputs

    def inputs(self) -> QueryDict:
        """What SerializerForm hands its serializer: the API's request, not the page's."""
        return self.api_data()

    _inputs = inputs  # SerializerForm's earlier name for it

    def clean(self) -> dict:
        cleaned = forms.Form.clean(self)
        if self.errors:  # a bad date or tenant is already said, in the page's words
            return cleaned
        return super().clean()
