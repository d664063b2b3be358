"""What a user can do to findings, one Action each, run by the finding page's forms
(findings.views) and the API (findings.api.views) alike: the same serializer states each
input's limits, the same policy check refuses, the same workflow function writes, audits and
announces (tenants.actions)."""

from __future__ import annotations

from tenants.actions import Action

from . import policy, workflow
from .api.serializers import AcceptRiskSerializer, NoteSerializer, ReasonSerializer
from .models import Finding


def _may(action: str):
    """The check of a workflow action: the caller's role (findings.policy)."""

    def check(access, finding: Finding) -> None:
        policy.check_finding_action(access, action)

    return check


def _accept_risk(finding, *, actor, access, request, reason, until):
    return workflow.finding_accept_risk(
        finding, actor=actor, reason=reason, until=until, request=request
    )


def _mark_remediated(finding, *, actor, access, request, note=""):
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


def _start_remediation(finding, *, actor, access, request):
    return workflow.finding_start_remediation(finding, actor=actor, request=request)


def _verify(finding, *, actor, access, request):
    return workflow.finding_verify(finding, actor=actor, request=request)


def _reject_remediation(finding, *, actor, access, request, reason):
    return workflow.finding_reject_remediation(finding, actor=actor, reason=reason, request=request)


def _false_positive(finding, *, actor, access, request, reason):
    return workflow.finding_mark_false_positive(
        finding, actor=actor, reason=reason, request=request
    )


def _reopen(finding, *, actor, access, request, reason):
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
