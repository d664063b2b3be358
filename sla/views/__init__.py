"""Portal pages of the SLA app, one module per persona's page:

- `inbox`: the in-house team's pending hand-offs (accept / decline with a reason), the
  incidents it owns, its requests for MSSP assistance, and what was decided lately.
- `health`: the manager's view: every tenant's SLA health, worst first, and the staff and
  the tenants each works (managers and admins change them).
- `dashboard`: a customer's open incidents, SLA compliance, MTTA/MTTC/MTTR and trends, with
  the figures of /api/v1/sla/summary/ for the same period (sla.selectors).
- `escalation_policy`: the tenant's escalation policy, read-only.
- `incident`: the incident page's escalate and withdraw buttons.

Every change is an action of sla.actions, the same the API runs; every read is scoped to the
caller's tenants, so another tenant's id is the same 404 as a missing one.
"""
