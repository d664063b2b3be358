"""Who may request a report, and have it e-mailed. Role questions are Access's.

A report derives a document from data the caller may already read and changes none, so anyone
who sees the tenant may request one: viewers too, and a token with the `read` scope only
(`REQUEST_SCOPE`). That includes `email_contacts`: a viewer, or a read-only token, may have
the report e-mailed to the tenant's report contacts (`may_email_contacts`). This is today's
behaviour, kept as it is; whether sending mail to others should need more than reading is an
open question for the product owners.
"""

from __future__ import annotations

from typing import Any

from alerts import tlp
from alerts.models import Tlp
from tenants.access import Access
from tenants.actions import Refused

# The token scope that requesting a report needs (POST /api/v1/reports/).
REQUEST_SCOPE = "read"


def may_request_report(access: Access, tenant_id: int) -> bool:
    """Anyone who sees the tenant: MSSP staff who work it, and its customer's members."""
    return tenant_id in access.tenant_ids


def may_email_contacts(access: Access, tenant_id: int) -> bool:
    """Who may have a report e-mailed to the tenant's report contacts: today, whoever may
    request it (see the module docstring)."""
    return may_request_report(access, tenant_id)


# --- post-incident reports (reports.incident_reports) ------------------------------------------

NOT_STAFF = "MSSP staff who work this customer write its post-incident reports."
NOT_SUPERVISOR = "A lead, manager or MSSP admin approves, shares and reopens post-incident reports."


def works_incident_report(access: Access, tenant_id: int) -> bool:
    """Drafting, editing and refreshing: MSSP staff who work the tenant (analysts and up)."""
    return access.is_mssp_staff and tenant_id in access.tenant_ids


def supervises_incident_report(access: Access, tenant_id: int) -> bool:
    """Approving, sharing and reopening: a lead, manager or MSSP admin who sees the tenant."""
    return works_incident_report(access, tenant_id) and access.is_supervisor


def may_read_incident_report(
    access: Access, tenant_id: int, status: str, marking: str = Tlp.GREEN
) -> bool:
    """Staff see every state; the customer only a shared report (nothing before) whose TLP
    marking they may read (alerts.tlp: an AMBER report is for its responders and admins)."""
    if tenant_id not in access.tenant_ids:
        return False
    return access.is_mssp_staff or (status == "shared" and tlp.may_read(access, marking))


def check_work_incident_report(access: Access, target: Any) -> None:
    if not works_incident_report(access, target.tenant_id):
        raise Refused(NOT_STAFF)


def check_supervise_incident_report(access: Access, target: Any) -> None:
    if not supervises_incident_report(access, target.tenant_id):
        raise Refused(
            NOT_SUPERVISOR if works_incident_report(access, target.tenant_id) else NOT_STAFF
        )
