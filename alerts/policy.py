"""Who may do what to an incident. Role questions are Access's (tenants.access); the rules
here add the incident: its tenant's service model, who may own it, which comments a caller may
post. The pages and the API ask these same questions (through alerts.actions), so a page offers
exactly what the API allows."""

from __future__ import annotations

from tenants.access import Access, access_for
from tenants.actions import Invalid, Refused
from tenants.models import Tenant, User

from .models import Incident, Visibility

READ_ONLY = "You may read this incident but not change it."
NO_OPENING = "Your role reads incidents; your organisation's responders and admins raise them."
STAFF_PROMOTE = "MSSP staff add alerts to incidents."
NO_COMMENTS = "Your role reads incidents but does not comment."


def can_work(access: Access, incident: Incident) -> bool:
    """MSSP staff work every incident they see; a customer's responders and admins work their
    own tenant's when the tenant works incidents itself (hybrid, in-house)."""
    if access.is_mssp_staff:
        return True
    return (
        access.is_customer_worker
        and incident.tenant.service_model != Tenant.ServiceModel.OUTSOURCED
    )


def check_work(access: Access, incident: Incident) -> None:
    """Refused unless the caller works this incident (every workflow change asks this)."""
    if not can_work(access, incident):
        raise Refused(READ_ONLY)


def check_comment(access: Access, incident: Incident) -> None:
    """Whoever works at all comments (viewers read), even where the MSSP works the incident:
    a customer's team answers the analysts on an outsourced tenant's incidents too."""
    if not access.works:
        raise Refused(NO_COMMENTS)


def comment_visibility(access: Access, requested: str | None) -> str:
    """The visibility a new comment gets. MSSP staff choose, internal by default (a note among
    analysts); a customer's comments are always shared, and asking for internal is refused."""
    if access.is_mssp_staff:
        return requested or Visibility.INTERNAL
    if requested == Visibility.INTERNAL:
        raise Invalid({"visibility": "Customers post shared comments."})
    return Visibility.SHARED


def may_own(user: User, incident: Incident) -> bool:
    """Only someone who may see the incident's tenant can own its incident."""
    return incident.tenant_id in access_for(user).tenant_ids


def can_open_incident(access: Access, tenant: Tenant) -> bool:
    """MSSP staff open incidents for the tenants they work (a phone call, a threat report); a
    customer's responders and admins raise their own tenant's, whatever its service model
    (an outsourced customer reports a phishing e-mail too). Viewers read."""
    if tenant.pk not in access.tenant_ids:
        return False
    if access.is_mssp_staff:
        return True
    return access.is_customer_worker and access.customer_tenant_id == tenant.pk


def check_open_incident(access: Access, tenant: Tenant) -> None:
    if not can_open_incident(access, tenant):
        raise Refused(NO_OPENING)


def check_promote(access: Access, incident: Incident) -> None:
    """Which alerts belong together is the SOC's call: MSSP staff only."""
    if not access.is_mssp_staff:
        raise Refused(STAFF_PROMOTE)
    check_work(access, incident)
