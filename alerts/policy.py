"""Who may do what to an incident. Role questions are Access's (tenants.access); the rules
here add the incident: its tenant's service model, who may own it, which comments a caller may
post. The pages and the API ask these same questions (through alerts.actions), so a page offers
exactly what the API allows."""

from __future__ import annotations

from django.db.models import QuerySet

from tenants.access import Access, access_for
from tenants.actions import Invalid, Refused
from tenants.models import Tenant, User

from . import tlp
from .models import Incident, IncidentObservable, ObservableSource, ObservableTag, Visibility

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


# --- observables -------------------------------------------------------------------------------

NO_OBSERVABLES = "Your role reads observables; your organisation's responders and admins add them."
NOT_YOUR_OBSERVABLE = "You may change only the observables your organisation added."
IOC_IS_THE_SOCS = (
    "Whether an observable is an IOC is for whoever works the incident; you may mark it sighted."
)


def visible_observables(
    access: Access, rows: QuerySet[IncidentObservable]
) -> QuerySet[IncidentObservable]:
    """An internal observable is the MSSP's: a customer never sees one, anywhere (nor counts
    it in sightings or similar incidents); nor one its TLP, or its incident's, keeps from them
    (alerts.tlp)."""
    if access.is_mssp_staff:
        return rows
    return tlp.visible(access, rows.filter(visibility=Visibility.SHARED))


def can_add_observable(access: Access, incident: Incident) -> bool:
    """MSSP staff on the incidents they see; a customer's responders and admins on their own
    organisation's, whatever its service model (as they raise incidents)."""
    if access.is_mssp_staff:
        return incident.tenant_id in access.tenant_ids
    return access.is_customer_worker and access.customer_tenant_id == incident.tenant_id


def check_add_observable(access: Access, incident: Incident) -> None:
    if not can_add_observable(access, incident):
        raise Refused(NO_OBSERVABLES)


def check_change_observable(access: Access, observable: IncidentObservable) -> None:
    """Staff change any; a customer's responders and admins change their tenant's shared ones
    (what exactly: observable_changes)."""
    check_add_observable(access, observable.incident)
    if not access.is_mssp_staff and observable.visibility != Visibility.SHARED:
        raise Refused(NOT_YOUR_OBSERVABLE)  # never reached through a lookup: they cannot see it


def check_remove_observable(access: Access, observable: IncidentObservable) -> None:
    """Staff remove any; a customer only those its organisation added."""
    check_change_observable(access, observable)
    if not access.is_mssp_staff and observable.source != ObservableSource.CUSTOMER:
        raise Refused(NOT_YOUR_OBSERVABLE)


def observable_visibility(access: Access, requested: str | None) -> str:
    """MSSP staff choose, internal by default (an analyst's lead, as their comments); a
    customer's observables are shared, and asking for internal is refused."""
    if access.is_mssp_staff:
        return requested or Visibility.INTERNAL
    if requested == Visibility.INTERNAL:
        raise Invalid({"visibility": ["Customers add shared observables."]})
    return Visibility.SHARED


def observable_tag(access: Access, incident: Incident, current: str, requested: str) -> str:
    """Who works the incident (alerts.policy.can_work: MSSP staff, the in-house team of a
    hybrid or in-house tenant) tags as they judge. Another customer worker (an outsourced
    tenant's) may mark an observable sighted, or take back that mark, on one nobody has
    judged yet: IOC or not is the SOC's verdict, which a customer neither gives nor undoes."""
    if requested == current or can_work(access, incident):
        return requested
    if {requested, current} <= {ObservableTag.NONE, ObservableTag.SIGHTED}:
        return requested
    raise Refused(IOC_IS_THE_SOCS)


def observable_note(access: Access, observable: IncidentObservable | None) -> None:
    """A customer writes notes on the observables its organisation added; the MSSP's notes on
    the others are the MSSP's."""
    if access.is_mssp_staff or observable is None:
        return
    if observable.source != ObservableSource.CUSTOMER:
        raise Refused(NOT_YOUR_OBSERVABLE)
