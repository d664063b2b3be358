"""Who may request a report, and have it e-mailed. Role questions are Access's.

A report derives a document from data the caller may already read and changes none, so anyone
who sees the tenant may request one: viewers too, and a token with the `read` scope only
(`REQUEST_SCOPE`). That includes `email_contacts`: a viewer, or a read-only token, may have
the report e-mailed to the tenant's report contacts (`may_email_contacts`). This is today's
behaviour, kept as it is; whether sending mail to others should need more than reading is an
open question for the product owners.
"""

from __future__ import annotations

from tenants.access import Access

# The token scope that requesting a report needs (POST /api/v1/reports/).
REQUEST_SCOPE = "read"


def may_request_report(access: Access, tenant_id: int) -> bool:
    """Anyone who sees the tenant: MSSP staff who work it, and its customer's members."""
    return tenant_id in access.tenant_ids


def may_email_contacts(access: Access, tenant_id: int) -> bool:
    """Who may have a report e-mailed to the tenant's report contacts: today, whoever may
    request it (see the module docstring)."""
    return may_request_report(access, tenant_id)
