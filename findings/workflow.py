"""The status changes people make to a finding: start remediation, mark remediated (MSSP
staff: verified at once; a customer: a claim), verify or reject a claim, accept the risk until
a date, mark a false positive, reopen. Each locks the finding, re-checks its state (a state
that forbids the change raises FindingError), writes, and records the change
(findings.timeline). Who may ask for which is findings.policy's; findings.actions runs both.

    open ──start──► in_remediation ──mark-remediated (MSSP) / verify (MSSP)──► remediated
      │                   │
      │                   └─ a customer's mark-remediated, or its scan no longer finding it:
      │                      a claim; the status and the clock stay until the MSSP verifies
      ├── accept-risk ────┴──► risk_accepted (until a date; expires → open)
      └── false-positive (MSSP) ──► false_positive        reopen (MSSP) ◄── any closed status
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from tenants.actions import Invalid
from tenants.models import Tenant, User

from . import clocks
from .models import OPEN_FINDING_STATUSES, Finding, FindingStatus
from .timeline import record_change


class FindingError(Invalid):
    """A change the finding's state does not allow; the message says why (a 400, as the API
    has always answered it, or a message above the page's form)."""


def _locked(finding: Finding) -> Finding:
    return (
        Finding.objects.for_tenant(finding.tenant_id)
        .select_for_update(of=("self",))
        .select_related("tenant", "asset")
        .get(pk=finding.pk)
    )


@transaction.atomic
def finding_start_remediation(finding: Finding, *, actor: User, request=None) -> Finding:
    finding = _locked(finding)
    if finding.status != FindingStatus.OPEN:
        raise FindingError(
            f"Only an open finding goes into remediation; this one is {finding.status}."
        )
    finding.status = FindingStatus.IN_REMEDIATION
    finding.save(update_fields=["status", "updated_at"])
    record_change(
        finding,
        actor,
        "remediation_started",
        "Remediation started",
        {"from": FindingStatus.OPEN},
        request,
    )
    return finding


_CLAIM_FIELDS = ["remediation_claimed_at", "remediation_claimed_by"]
# What verifying a remediation writes (here and when a verifying rescan no longer finds it).
VERIFIED_FIELDS = [
    "status",
    "remediated_at",
    "remediated_by",
    "verified_at",
    "verified_by",
    *_CLAIM_FIELDS,
    "updated_at",
]


def _drop_claim(finding: Finding) -> None:
    finding.remediation_claimed_at = finding.remediation_claimed_by = None


@transaction.atomic
def finding_mark_remediated(
    finding: Finding, *, actor: User, verified: bool, note: str = "", request=None
) -> Finding:
    """Remediated. By MSSP staff (`verified`): remediated and verified at once, the
    remediation clock met. By a customer: a claim, awaiting MSSP verification; the finding
    stays open (or in remediation) and its clock runs until then."""
    finding = _locked(finding)
    if finding.status not in OPEN_FINDING_STATUSES:
        raise FindingError(
            f"Only an open or in-remediation finding can be marked remediated; this one is "
            f"{finding.status}."
        )
    now = timezone.now()
    was = finding.status
    if not verified:
        if finding.remediation_claimed_at is not None:
            raise FindingError("The finding is already marked remediated, awaiting verification.")
        finding.remediation_claimed_at, finding.remediation_claimed_by = now, actor
        finding.save(update_fields=[*_CLAIM_FIELDS, "updated_at"])
        summary = "Marked remediated, awaiting verification by the MSSP"
        record_change(
            finding,
            actor,
            "remediation_claimed",
            summary + (f": {note}" if note else ""),
            {"status": was, "note": note},
            request,
        )
        return finding
    finding.status, finding.remediated_at = FindingStatus.REMEDIATED, now
    finding.remediated_by = actor
    finding.verified_at, finding.verified_by = now, actor
    _drop_claim(finding)
    finding.save(update_fields=VERIFIED_FIELDS)
    clocks.stop(finding, now, met=True)
    record_change(
        finding,
        actor,
        "remediated",
        "Remediated" + (f": {note}" if note else ""),
        {"from": was, "verified": True, "note": note},
        request,
    )
    return finding


@transaction.atomic
def finding_verify(finding: Finding, *, actor: User, request=None) -> Finding:
    """MSSP staff confirm a customer's claim: the finding is remediated now, its clock met
    now (the claim's time stays on the timeline)."""
    finding = _locked(finding)
    if not finding.awaits_verification:
        raise FindingError(
            "Only a finding marked remediated and awaiting verification can be verified."
        )
    now = timezone.now()
    was, claimed_at = finding.status, finding.remediation_claimed_at
    finding.verified_at, finding.verified_by = now, actor
    if finding.is_open:
        finding.status, finding.remediated_at = FindingStatus.REMEDIATED, now
        finding.remediated_by_id = finding.remediation_claimed_by_id
        clocks.stop(finding, now, met=True)
    _drop_claim(finding)
    finding.save(update_fields=VERIFIED_FIELDS)
    data = {"from": was, "claimed_at": claimed_at.isoformat() if claimed_at else None}
    record_change(finding, actor, "verified", "Remediation verified", data, request)
    return finding


@transaction.atomic
def finding_reject_remediation(
    finding: Finding, *, actor: User, reason: str, request=None
) -> Finding:
    """MSSP staff do not confirm a customer's claim: it is withdrawn, with why; the finding
    stays as it was, open on its clock."""
    finding = _locked(finding)
    reason = reason.strip()
    if not (finding.is_open and finding.awaits_verification):
        raise FindingError(
            "Only a finding marked remediated and awaiting verification can be refused."
        )
    if not reason:
        raise FindingError("Say why the remediation is not confirmed: a reason is required.")
    claimed_by = finding.remediation_claimed_by_id
    _drop_claim(finding)
    finding.save(update_fields=[*_CLAIM_FIELDS, "updated_at"])
    record_change(
        finding,
        actor,
        "remediation_rejected",
        f"Remediation not confirmed: {reason}",
        {"reason": reason, "claimed_by": claimed_by},
        request,
    )
    return finding


def risk_expiry(tenant: Tenant, until: date) -> datetime:
    """A risk accepted until a date is accepted to the end of that day in the tenant's zone."""
    zone = zoneinfo.ZoneInfo(tenant.timezone or "UTC")
    return datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone)


MAX_RISK_ACCEPTANCE_DAYS = 366


@transaction.atomic
def finding_accept_risk(
    finding: Finding, *, actor: User, reason: str, until: date, request=None
) -> Finding:
    finding = _locked(finding)
    reason = reason.strip()
    if not reason:
        raise FindingError("Say why the risk is accepted: a reason is required.")
    if finding.status not in OPEN_FINDING_STATUSES:
        raise FindingError(
            f"Only an open or in-remediation finding's risk can be accepted; this one is "
            f"{finding.status}."
        )
    now = timezone.now()
    # The bound first: the end of a day in year 9999 is past what a datetime holds.
    if until > timezone.localdate(now) + timedelta(days=MAX_RISK_ACCEPTANCE_DAYS):
        raise FindingError(
            f"A risk is accepted for at most {MAX_RISK_ACCEPTANCE_DAYS} days; "
            "accept it again later."
        )
    expires = risk_expiry(finding.tenant, until)
    if expires <= now:
        raise FindingError("The acceptance must end in the future.")
    was = finding.status
    finding.status = FindingStatus.RISK_ACCEPTED
    finding.risk_accepted_until, finding.risk_expires_at = until, expires
    finding.risk_reason, finding.risk_accepted_by, finding.risk_accepted_at = reason, actor, now
    _drop_claim(finding)
    finding.save(
        update_fields=[
            *_CLAIM_FIELDS,
            "status",
            "risk_accepted_until",
            "risk_expires_at",
            "risk_reason",
            "risk_accepted_by",
            "risk_accepted_at",
            "updated_at",
        ]
    )
    clocks.stop(finding, now, met=False)
    record_change(
        finding,
        actor,
        "risk_accepted",
        f"Risk accepted until {until.isoformat()}: {reason}",
        {"from": was, "until": until.isoformat(), "reason": reason},
        request,
    )
    return finding


@transaction.atomic
def finding_mark_false_positive(
    finding: Finding, *, actor: User, reason: str, request=None
) -> Finding:
    finding = _locked(finding)
    reason = reason.strip()
    if not reason:
        raise FindingError("Say why it is a false positive: a reason is required.")
    if finding.status == FindingStatus.FALSE_POSITIVE:
        raise FindingError("The finding is already a false positive.")
    was = finding.status
    finding.status = FindingStatus.FALSE_POSITIVE
    _drop_claim(finding)
    finding.save(update_fields=["status", *_CLAIM_FIELDS, "updated_at"])
    clocks.stop(finding, timezone.now(), met=False)
    record_change(
        finding,
        actor,
        "false_positive",
        f"False positive: {reason}",
        {"from": was, "reason": reason},
        request,
    )
    return finding


@transaction.atomic
def finding_reopen(
    finding: Finding, *, actor: User | None, reason: str, cause: str = "manual", request=None
) -> Finding:
    finding = _locked(finding)
    reason = reason.strip()
    if finding.status in OPEN_FINDING_STATUSES:
        raise FindingError(f"The finding is already {finding.status}.")
    if not reason:
        raise FindingError("Say why it is reopened: a reason is required.")
    now = timezone.now()
    was = finding.status
    finding.status = FindingStatus.OPEN
    finding.remediated_at = finding.verified_at = None
    finding.remediated_by = finding.verified_by = None
    finding.risk_expires_at = None
    finding.save(
        update_fields=[
            "status",
            "remediated_at",
            "remediated_by",
            "verified_at",
            "verified_by",
            "risk_expires_at",
            "updated_at",
        ]
    )
    clocks.resume(finding, now)
    record_change(
        finding,
        actor,
        "reopened",
        f"Reopened: {reason}",
        {"from": was, "cause": cause, "reason": reason},
        request,
    )
    return finding
