"""The input of a report request: the API's, and the page's through reports.forms. Each of its
rules is stated here once."""

from __future__ import annotations

from datetime import date, datetime

from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from tenants.access import Access
from tenants.api.filters import to_utc
from tenants.models import Tenant

from .. import services
from ..models import IncidentReport


def parse_moment(value: str, name: str) -> date | datetime:
    """A date (YYYY-MM-DD: a whole day in the tenant's time zone) or an ISO 8601 date-time."""
    try:
        parsed = parse_date(value) or parse_datetime(value)
    except ValueError:  # well-formed but impossible, e.g. 2026-02-30
        parsed = None
    if parsed is None:
        raise ValidationError(
            {name: "A date (2026-11-01) or an ISO 8601 date-time (2026-11-01T00:00:00Z)."}
        )
    if isinstance(parsed, datetime) and parsed.tzinfo is not None:
        try:  # an offset PostgreSQL refuses (-20:50), or beyond the calendar in UTC
            return to_utc(parsed)
        except ValueError as exc:
            raise ValidationError({name: str(exc)}) from None
    return parsed


def report_tenant(access: Access, slug: str | None) -> Tenant:
    """The tenant a request names: a customer's own; for MSSP staff one of theirs by slug, or
    their only one. Another tenant's slug is as unknown as a missing one."""
    if not access.tenant_ids:
        raise ValidationError({"tenant": "You see no tenant, so there is none to report on."})
    if access.is_customer:
        tenant = Tenant.objects.filter(pk=access.customer_tenant_id).first()
        if slug and (tenant is None or tenant.slug != slug):
            tenant = None
    elif slug:
        tenant = Tenant.objects.filter(slug=slug, pk__in=access.tenant_ids).first()
    elif len(access.tenant_ids) == 1:
        tenant = Tenant.objects.filter(pk__in=access.tenant_ids).first()
    else:
        raise ValidationError({"tenant": "Name the tenant (its slug): one of yours."})
    if tenant is None:
        raise ValidationError({"tenant": "No such tenant."})
    return tenant


class ReportRequestSerializer(serializers.Serializer):
    """Validated, it is {"tenant": Tenant, "period": services.Period, "email_contacts": bool};
    the caller's Access is the context's `access`."""

    tenant = serializers.CharField(
        max_length=63,
        required=False,
        help_text="The tenant's slug. MSSP staff name one of theirs; customers get their own.",
    )
    email_contacts = serializers.BooleanField(
        default=False, help_text="Also email the report to the tenant's report contacts."
    )

    def get_fields(self):
        fields = super().get_fields()
        # "from" is a Python keyword, so the period's fields are added here, named as
        # /api/v1/sla/summary/'s parameters are.
        fields["from"] = serializers.CharField(
            max_length=40,
            help_text="A date (a whole day in the tenant's time zone) or an ISO 8601 date-time.",
        )
        fields["to"] = serializers.CharField(
            max_length=40,
            help_text="A date (included: 2026-11-30 ends with that day) or an ISO 8601 "
            "date-time (excluded). Not in the future; at most a year after `from`.",
        )
        return fields

    def validate(self, data):
        tenant = report_tenant(self.context["access"], data.get("tenant"))
        start = parse_moment(data["from"], "from")
        end = parse_moment(data["to"], "to")
        try:
            period = services.report_period(tenant, start, end)
        except services.ReportError as exc:
            raise ValidationError(exc.detail) from None
        return {"tenant": tenant, "period": period, "email_contacts": data["email_contacts"]}


class IncidentReportWriteSerializer(serializers.Serializer):
    """A post-incident report's sections as the analysts write them (POST drafts, PATCH
    edits a draft); each is plain text of at most IncidentReport.SECTION_MAX characters."""

    summary = serializers.CharField(
        max_length=IncidentReport.SECTION_MAX, allow_blank=True, required=False
    )
    root_cause = serializers.CharField(
        max_length=IncidentReport.SECTION_MAX, allow_blank=True, required=False
    )
    lessons_learned = serializers.CharField(
        max_length=IncidentReport.SECTION_MAX, allow_blank=True, required=False
    )
    recommendations = serializers.CharField(
        max_length=IncidentReport.SECTION_MAX, allow_blank=True, required=False
    )
    refresh_facts = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Take the incident's facts again (a draft only).",
    )
