"""The SCIM 2.0 protocol (RFC 7643, RFC 7644): errors, filters, PATCH, schemas and resources.

Written here rather than taken from django-scim2: that package filters with raw SQL over the
whole user table and drops other tenants' rows afterwards in Python, authenticates through a
global Django user, and maps one global Group model, none of which keeps a tenant's SCIM
client inside its tenant the way the rest of the portal does (scoped managers, row-level
security). See docs/CONTRACT.md, "SCIM provisioning".
"""
