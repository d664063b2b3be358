"""The report request form of the reports page."""

from __future__ import annotations

from django import forms

from tenants.models import Tenant


class ReportRequestForm(forms.Form):
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
