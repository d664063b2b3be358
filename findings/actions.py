"""What a user can do to findings, one Action each, run by the finding page's forms
(findings.views) and the API (findings.api.views) alike: the same serializer states each
input's limits, the same policy check refuses, the same workflow function writes, audits and
announces (tenants.actions)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from tenants import audit
from tenants.access import Access
from tenants.actions import Action, Invalid
from tenants.models import User

from . import importers, imports, policy, workflow
from .api.serializers import (
    AcceptRiskSerializer,
    EngagementCreateSerializer,
    NoteSerializer,
    ReasonSerializer,
    ScanImportCreateSerializer,
)
from .models import Engagement, Finding, ScanImport


def _may(action: str) -> Callable[[Access, Finding], None]:
    """The check of a workflow action: the caller's role (findings.policy)."""

    def check(access: Access, finding: Finding) -> None:
        policy.check_finding_action(access, action)

    return check


def _accept_risk(
    finding: Finding,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    reason: str,
    until: date,
) -> Finding:
    return workflow.finding_accept_risk(
        finding, actor=actor, reason=reason, until=until, request=request
    )


def _mark_remediated(
    finding: Finding, *, actor: User, access: Access, request: HttpRequest | None, note: str = ""
) -> Finding:
    # MSSP staff's "remediated" is verified at once; a customer's is a claim.
    return workflow.finding_mark_remediated(
        finding, actor=actor, verified=access.is_mssp_staff, note=note, request=request
    )


def _marked_remediated(finding: Finding) -> str:
    if finding.awaits_verification:
        return (
            "Marked remediated, awaiting verification by the MSSP: the finding stays open, on "
            "its clock, until they verify it."
        )
    return "Marked remediated."


def _start_remediation(
    finding: Finding, *, actor: User, access: Access, request: HttpRequest | None
) -> Finding:
    return workflow.finding_start_remediation(finding, actor=actor, request=request)


def _verify(
    finding: Finding, *, actor: User, access: Access, request: HttpRequest | None
) -> Finding:
    return workflow.finding_verify(finding, actor=actor, request=request)


def _reject_remediation(
    finding: Finding, *, actor: User, access: Access, request: HttpRequest | None, reason: str
) -> Finding:
    return workflow.finding_reject_remediation(finding, actor=actor, reason=reason, request=request)


def _false_positive(
    finding: Finding, *, actor: User, access: Access, request: HttpRequest | None, reason: str
) -> Finding:
    return workflow.finding_mark_false_positive(
        finding, actor=actor, reason=reason, request=request
    )


def _reopen(
    finding: Finding, *, actor: User, access: Access, request: HttpRequest | None, reason: str
) -> Finding:
    return workflow.finding_reopen(finding, actor=actor, reason=reason, request=request)


ACCEPT_RISK = Action(
    "accept-risk",
    do=_accept_risk,
    check=_may("accept-risk"),
    serializer=AcceptRiskSerializer,
    done=lambda finding: f"Risk accepted until {finding.risk_accepted_until:%Y-%m-%d}.",
)
MARK_REMEDIATED = Action(
    "mark-remediated",
    do=_mark_remediated,
    check=_may("mark-remediated"),
    serializer=NoteSerializer,
    done=_marked_remediated,
)
START_REMEDIATION = Action(
    "start-remediation",
    do=_start_remediation,
    check=_may("start-remediation"),
    done="Remediation started.",
)
VERIFY = Action("verify", do=_verify, check=_may("verify"), done="Remediation verified.")
REJECT_REMEDIATION = Action(
    "reject-remediation",
    do=_reject_remediation,
    check=_may("reject-remediation"),
    serializer=ReasonSerializer,
    done="Remediation not confirmed: the finding stays open.",
)
FALSE_POSITIVE = Action(
    "false-positive",
    do=_false_positive,
    check=_may("false-positive"),
    serializer=ReasonSerializer,
    done="Marked as a false positive.",
)
REOPEN = Action(
    "reopen", do=_reopen, check=_may("reopen"), serializer=ReasonSerializer, done="Reopened."
)

# The finding page's forms post the action's name.
FINDING_ACTIONS = {
    action.name: action
    for action in (
        ACCEPT_RISK,
        MARK_REMEDIATED,
        START_REMEDIATION,
        VERIFY,
        REJECT_REMEDIATION,
        FALSE_POSITIVE,
        REOPEN,
    )
}


# --- engagements and imports: made for a tenant (no target; findings.policy.target_tenant) ---
ENGAGEMENT_TAKEN = "This tenant already has an engagement of that name."


def _create_engagement(
    _target: None,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    tenant: str | None = None,
    **fields: Any,
) -> Engagement:
    # `tenant` is the input's slug; `owner` the tenant it names among the caller's.
    owner = policy.target_tenant(access, tenant)
    try:
        with transaction.atomic():
            engagement: Engagement = Engagement.objects.create(
                tenant=owner, created_by=actor, **fields
            )
    except IntegrityError:  # the database's constraint decides, not a racy lookup
        raise Invalid({"name": ENGAGEMENT_TAKEN}) from None
    audit.record(
        "engagement.created",
        tenant=owner,
        obj=engagement,
        request=request,
        summary=f"engagement '{engagement.name}' created",
    )
    return engagement


CREATE_ENGAGEMENT = Action(
    "create-engagement",
    do=_create_engagement,
    check=lambda access, _target: policy.check_engagement_writer(access),
    serializer=EngagementCreateSerializer,
    done=lambda engagement: f"Engagement '{engagement.name}' created.",
)


def _import_scan(
    _target: None,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    file: UploadedFile[bytes],
    kind: str = "",
    tenant: str | None = None,
    engagement: Engagement | None = None,
) -> ScanImport:
    """Store an upload and queue its import. The adapters refuse what is too large before the
    body is read (a 413: transport, not a rule); this reads the file once and checks its
    beginning (importers.FileRefused: not the format, hostile XML)."""
    owner = policy.target_tenant(access, tenant)  # `tenant` is the input's slug
    if engagement is not None and engagement.tenant_id != owner.pk:
        raise Invalid({"engagement": [f"No such object: '{engagement.pk}'."]})
    content = file.read()
    try:
        kind = imports.check_upload(content, file.name or "", kind)
    except importers.FileRefused as exc:
        raise Invalid({"file": [str(exc)]}) from None
    return imports.import_request(
        owner,
        data=content,
        file_name=file.name or "upload",
        kind=kind,
        engagement=engagement,
        actor=actor,
        request=request,
    )


IMPORT_SCAN = Action(
    "import-scan",
    do=_import_scan,
    check=lambda access, _target: policy.check_import(access),
    serializer=ScanImportCreateSerializer,
    done=lambda scan: f"{scan.file_name} is being imported.",
)
