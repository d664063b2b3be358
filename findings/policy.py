"""Who may change findings, and which workflow actions a finding offers whom. The role
questions are Access's (tenants.access); the rules about findings are here, asked by the
actions (findings.actions) that pages and the API both run, and by the pages that offer a
button only when the server would accept the click."""

from __future__ import annotations

from tenants.access import Access
from tenants.actions import Invalid, Refused
from tenants.models import Tenant

from .models import OPEN_FINDING_STATUSES, Finding, FindingStatus

# action -> statuses it applies to (the workflow functions re-check under a lock).
APPLIES_TO = {
    "start-remediation": (FindingStatus.OPEN,),
    "mark-remediated": OPEN_FINDING_STATUSES,
    "verify": (*OPEN_FINDING_STATUSES, FindingStatus.REMEDIATED),
    "reject-remediation": OPEN_FINDING_STATUSES,
    "accept-risk": OPEN_FINDING_STATUSES,
    "false-positive": (
        FindingStatus.OPEN,
        FindingStatus.IN_REMEDIATION,
        FindingStatus.REMEDIATED,
        FindingStatus.RISK_ACCEPTED,
    ),
    "reopen": (FindingStatus.REMEDIATED, FindingStatus.RISK_ACCEPTED, FindingStatus.FALSE_POSITIVE),
}
# Verification is the MSSP's: a customer's "remediated" is a claim until MSSP staff (or an MSSP
# scan) confirm it. Reopen: the MSSP's verdicts stand.
MSSP_ONLY = {"verify", "reject-remediation", "false-positive", "reopen"}
# Only while a customer's claim awaits verification.
ON_A_CLAIM = {"verify", "reject-remediation"}

READS_ONLY = "Your role reads findings but does not change them."
STAFF_ONLY = "Only MSSP staff do this."
IMPORTERS_ONLY = "Imports are made by MSSP staff and customer responders and admins."
ENGAGEMENT_WRITERS_ONLY = "Engagements are written by MSSP staff and customer admins."


def can_import(access: Access) -> bool:
    """MSSP staff and a customer's responders and admins, with a token that may write."""
    return access.works and access.has_scope("write")


def writes_engagements(access: Access) -> bool:
    return access.is_mssp_staff or access.is_customer_admin


def check_finding_action(access: Access, action: str) -> None:
    """The role rule of a workflow action (its state rule is the workflow's, under a lock)."""
    if not access.works:
        raise Refused(READS_ONLY)
    if action in MSSP_ONLY and not access.is_mssp_staff:
        raise Refused(STAFF_ONLY)


def check_import(access: Access) -> None:
    if not can_import(access):
        raise Refused(IMPORTERS_ONLY)


def check_engagement_writer(access: Access) -> None:
    if not writes_engagements(access):
        raise Refused(ENGAGEMENT_WRITERS_ONLY)


def target_tenant(access: Access, slug: str | None) -> Tenant:
    """The tenant a new engagement or import is for: a customer's own; for MSSP staff the one
    named (required when they work several). One they cannot see reads as unknown."""
    if access.customer_tenant_id is not None:  # access.is_customer, spelled so mypy narrows
        own = Tenant.objects.get(pk=access.customer_tenant_id)
        if slug and slug != own.slug:
            raise Invalid({"tenant": "No such tenant."})
        return own
    if not slug:
        if len(access.tenant_ids) == 1:
            return Tenant.objects.get(pk=next(iter(access.tenant_ids)))
        raise Invalid({"tenant": "Name the tenant (its slug)."})
    tenant = Tenant.objects.filter(slug=str(slug)[:63], pk__in=access.tenant_ids).first()
    if tenant is None:
        raise Invalid({"tenant": "No such tenant."})
    return tenant


def allowed_actions(access: Access, finding: Finding) -> list[str]:
    """What this caller may do to this finding now (pages offer exactly these)."""
    if not access.works:
        return []
    found = []
    for action, statuses in APPLIES_TO.items():
        if finding.status not in statuses:
            continue
        if action in MSSP_ONLY and not access.is_mssp_staff:
            continue
        if action in ON_A_CLAIM and not finding.awaits_verification:
            continue
        if action == "mark-remediated" and finding.awaits_verification and not access.is_mssp_staff:
            continue  # claimed already: the MSSP verifies it (or the staff mark it)
        found.append(action)
    return found
