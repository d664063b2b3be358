"""What a user can do with reports, for the page (reports.views) and the API
(reports.api.views) alike: request one (tenants.actions explains the split)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from alerts.models import Incident
from tenants.access import Access
from tenants.actions import Action, Refused
from tenants.models import Tenant, User

from . import incident_reports, policy, services
from .api.serializers import IncidentReportWriteSerializer, ReportRequestSerializer
from .models import IncidentReport, Report
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


# --- post-incident reports ---------------------------------------------------------------------


def _draft(
    incident: Incident,
    /,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None = None,
    refresh_facts: bool = False,  # a new draft's facts are fresh
    **sections: Any,
) -> IncidentReport:
    return incident_reports.report_draft(incident, actor=actor, request=request, **sections)


def _edit(
    report: IncidentReport,
    /,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None = None,
    **fields: Any,
) -> IncidentReport:
    return incident_reports.report_edit(report, actor=actor, request=request, **fields)


def _approve(
    report: IncidentReport, /, *, actor: User, request: HttpRequest | None = None, **_: Any
) -> IncidentReport:
    return incident_reports.report_approve(report, actor=actor, request=request)


def _share(
    report: IncidentReport, /, *, actor: User, request: HttpRequest | None = None, **_: Any
) -> IncidentReport:
    return incident_reports.report_share(report, actor=actor, request=request)


def _reopen(
    report: IncidentReport, /, *, actor: User, request: HttpRequest | None = None, **_: Any
) -> IncidentReport:
    return incident_reports.report_reopen(report, actor=actor, request=request)


DRAFT_INCIDENT_REPORT = Action(
    "incident_report.draft",
    do=_draft,
    check=policy.check_work_incident_report,
    serializer=IncidentReportWriteSerializer,
    done="Post-incident report drafted from the incident's shared facts.",
)
EDIT_INCIDENT_REPORT = Action(
    "incident_report.edit",
    do=_edit,
    check=policy.check_work_incident_report,
    serializer=IncidentReportWriteSerializer,
    done="Post-incident report saved.",
)
APPROVE_INCIDENT_REPORT = Action(
    "incident_report.approve",
    do=_approve,
    check=policy.check_supervise_incident_report,
    done="Post-incident report approved: it may now be shared with the customer.",
)
SHARE_INCIDENT_REPORT = Action(
    "incident_report.share",
    do=_share,
    check=policy.check_supervise_incident_report,
    done="Post-incident report shared with the customer.",
)
REOPEN_INCIDENT_REPORT = Action(
    "incident_report.reopen",
    do=_reopen,
    check=policy.check_supervise_incident_report,
    done="Post-incident report reopened as a draft; the customer no longer sees it.",
)
