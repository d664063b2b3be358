"""What a user can do with reports, for the page (reports.views) and the API
(reports.api.views) alike: request one (tenants.actions explains the split)."""

from __future__ import annotations

from django.http import HttpRequest

from tenants.access import Access
from tenants.actions import Action, Refused
from tenants.models import Tenant, User

from . import policy, services
from .api.serializers import ReportRequestSerializer
from .models import Report
from .services import Period


def _request_report(
    _target: None,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    tenant: Tenant,
    period: Period,
    email_contacts: bool,
) -> Report:
    # The tenant is in the input (the serializer resolves it among the caller's), so who may
    # ask is answered once the input is read.
    if not policy.may_request_report(access, tenant.pk):
        raise Refused("You may not request reports of this tenant.")
    if email_contacts and not policy.may_email_contacts(access, tenant.pk):
        raise Refused("You may not have reports e-mailed to this tenant's contacts.")
    return services.report_request(
        tenant, period, actor, email_contacts=email_contacts, request=request
    )


REPORT_REQUEST = Action(
    name="reports.request",
    serializer=ReportRequestSerializer,
    do=_request_report,
    done="Report requested: it is being generated.",
    step_up=True,  # an export of the tenant's data: a recent second factor (tenants.mfa)
)
