"""Who may ask for, answer and set the contract of response actions. Role questions are
Access's (tenants.access), incident work is alerts.policy's; pages and the API ask these same
questions (through response.actions), so a page offers exactly what the API allows.

- Requesting (and reversing): whoever works the incident (alerts.policy.can_work): MSSP staff,
  and the customer's responders and admins of hybrid and in-house customers, who take an
  action themselves from their portal.
- Approving or rejecting: the customer's responders and admins (its on-call first), never the
  MSSP: approval is the customer's yes. Viewers read.
- The contract (ActionPolicy): the customer's admins and the MSSP's leads, managers and
  admins of the tenant.
"""

from __future__ import annotations

from django.db.models import QuerySet

from alerts import policy as incident_policy
from alerts import tlp
from alerts.models import Incident
from tenants.access import Access
from tenants.actions import Refused

from .models import ResponseAction

NO_REQUEST = "Your role reads this incident's response actions; it does not request them."
NO_APPROVAL = "Only the customer's responders and admins approve or reject a response action."
NO_CONTRACT = (
    "Only the customer's admins and the MSSP's leads, managers and admins set which "
    "response actions need approval."
)


def can_request(access: Access, incident: Incident) -> bool:
    return incident_policy.can_work(access, incident)


def check_request(access: Access, incident: Incident) -> None:
    if not can_request(access, incident):
        raise Refused(NO_REQUEST)


def is_customer_approver(access: Access, tenant_id: int) -> bool:
    return access.is_customer_worker and access.customer_tenant_id == tenant_id


def can_decide(access: Access, action: ResponseAction) -> bool:
    return is_customer_approver(access, action.tenant_id)


def check_decide(access: Access, action: ResponseAction) -> None:
    if not can_decide(access, action):
        raise Refused(NO_APPROVAL)


def check_reverse(access: Access, action: ResponseAction) -> None:
    check_request(access, action.incident)


def reads_contracts(access: Access) -> bool:
    """The contract page (response.views.contract_page): whoever sees a tenant reads its."""
    return bool(access.tenant_ids)


def can_set_contract(access: Access, tenant_id: int) -> bool:
    if tenant_id not in access.tenant_ids:
        return False
    if access.is_mssp_staff:
        return access.is_supervisor
    return access.can_administer(tenant_id)


def check_set_contract(access: Access, tenant_id: int) -> None:
    if not can_set_contract(access, tenant_id):
        raise Refused(NO_CONTRACT)


def visible_actions(access: Access, rows: QuerySet[ResponseAction]) -> QuerySet[ResponseAction]:
    """An action belongs to its incident: a customer never sees those of an incident its TLP
    keeps from it (a RED one's; a viewer, an AMBER one's), in lists, by id or on a page."""
    unreadable = sorted(tlp.EVERY_LEVEL - tlp.readable(access))
    if not unreadable:
        return rows
    return rows.exclude(incident__tlp__in=unreadable)
