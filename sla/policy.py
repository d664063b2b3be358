"""Who may do what with escalations: the SLA app's permission rules, built from
tenants.access.Access (role questions) and the escalation at hand (object rules). The pages,
the API and sla.actions ask these, so a button offered and a request accepted agree.

Role questions that are only role questions are asked of Access directly: the in-house
inbox is for `access.is_customer_worker`, SLA health for `access.is_supervisor`, assigning
staff to customers for `access.manages_staff`.
"""

from __future__ import annotations

from django.db.models import QuerySet

from alerts import tlp
from tenants.access import Access
from tenants.actions import Refused
from tenants.models import StaffRole, Tenant, User

from .models import Escalation


class NotAllowed(Refused):
    """The caller may not make this escalation change (the API answers 403)."""


# --- seeing --------------------------------------------------------------------------------
def visible_escalations(access: Access, escalations: QuerySet[Escalation]) -> QuerySet[Escalation]:
    """Customers never see MSSP-internal tier escalations (direction TO_TIER): the inbox, the
    incident page and /api/v1/escalations/ all narrow their rows with this; nor those of an
    incident whose TLP keeps it from them (alerts.tlp)."""
    if access.is_mssp_staff:
        return escalations
    readable = sorted(tlp.readable(access))
    return escalations.exclude(direction=Escalation.Direction.TO_TIER).filter(
        incident__tlp__in=readable
    )


def reads_escalation_policy(access: Access) -> bool:
    """MSSP staff and a customer's in-house team; a customer's viewers do not."""
    return access.is_mssp_staff or access.is_customer_worker


def changes_escalation_policy(access: Access) -> bool:
    """MSSP admins and leads."""
    return access.is_mssp_admin or access.staff_role == StaffRole.LEAD


# --- asking --------------------------------------------------------------------------------
def check_escalate(access: Access, direction: str) -> None:
    """MSSP staff hand off to the in-house team, a NOC or a tier; a customer's responders and
    admins ask the MSSP for assistance."""
    if access.is_mssp_staff == (direction == Escalation.Direction.TO_MSSP):
        raise NotAllowed("MSSP staff escalate to a team; customers ask the MSSP.")
    if not access.is_mssp_staff and not access.is_customer_worker:
        raise NotAllowed("Your role does not escalate incidents.")


def check_withdraw(access: Access, esc: Escalation) -> None:
    """Only the side that asked withdraws an escalation."""
    asked_by_mssp = esc.direction != Escalation.Direction.TO_MSSP
    if asked_by_mssp != access.is_mssp_staff:
        raise NotAllowed("Only the side that asked may withdraw an escalation.")


# --- answering -----------------------------------------------------------------------------
def answers_hand_offs(user: User, tenant: Tenant) -> bool:
    """A tenant's responders answer the MSSP's hand-offs to it (guardian's
    respond_escalations on the tenant, granted with the responder role)."""
    return user.has_perm("tenants.respond_escalations", tenant)


def may_answer(access: Access, esc: Escalation) -> bool:
    """To the customer: only that tenant's responders. To the MSSP: its staff who work the
    tenant. Nothing else is answered by anyone."""
    if esc.direction == Escalation.Direction.TO_CUSTOMER:
        if access.user_id is None:
            return False
        user = User.objects.get(pk=access.user_id)
        return answers_hand_offs(user, Tenant.objects.get(pk=esc.tenant_id))
    if esc.direction == Escalation.Direction.TO_MSSP:
        return access.is_mssp_staff and esc.tenant_id in access.tenant_ids
    return False


def check_answer(access: Access, esc: Escalation) -> None:
    if not may_answer(access, esc):
        raise NotAllowed("Only the team this escalation went to may answer it.")
