"""Who may do what with a tenant's channels, subscriptions and delivery log. Role questions
are Access's (tenants.access); these add what is particular to telling people.

Channels and subscriptions are a tenant's administered rows, like its webhooks: read by MSSP
staff and the customer's admins, changed by MSSP admins and the customer's admins. The
delivery log is evidence for the contract: everyone who sees the tenant reads it (without the
channels' destinations). Putting a dead-lettered delivery back in the queue is the MSSP's
(its staff who work the tenant): the customer fixes a channel, the SOC re-sends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenants import policy as tenants_policy
from tenants.access import Access
from tenants.models import Team

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from .models import Delivery


def reads_channels(access: Access, tenant_id: int) -> bool:
    return tenant_id in access.tenant_ids and tenants_policy.reads_tenant_administration(access)


def may_manage_channels(access: Access, tenant_id: int) -> bool:
    return tenant_id in access.tenant_ids and tenants_policy.administers(access, tenant_id)


def reads_deliveries(access: Access, tenant_id: int) -> bool:
    return tenant_id in access.tenant_ids


def may_retry_delivery(access: Access, tenant_id: int) -> bool:
    return access.is_mssp_staff and tenant_id in access.tenant_ids


def delivery_log(queryset: QuerySet[Delivery], access: Access) -> QuerySet[Delivery]:
    """The deliveries of a tenant's log that this caller reads: a customer's users do not see
    the MSSP's pages to its own people (they are the MSSP's business, not the contract's)."""
    return queryset if access.is_mssp_staff else queryset.filter(staff_only=False)


# --- an MSSP team's own channels (TeamChannel) ----------------------------------------------------
# A tier's or the NOC's channels are the MSSP's configuration, told of escalations to the team
# and, for the tenants each names, of those tenants' events: MSSP admins and managers (who see
# every tenant) manage them; nobody else reads them (a customer never; an analyst or a lead
# would see which customers the NOC hears of, and its deliveries' titles).
def manages_team_channels(access: Access) -> bool:
    return access.is_authenticated and access.manages_staff


def may_name_tenants(access: Access, tenant_ids: set[int]) -> bool:
    """A team channel may hear of these tenants' events: the caller manages team channels and
    sees each of them."""
    return manages_team_channels(access) and tenant_ids <= access.tenant_ids


def team_has_channels(team: Team) -> bool:
    """Only the MSSP's teams (its tiers, its NOC) own channels: a customer's team's channels are
    its tenant's own (Channel)."""
    return team.tenant_id is None and team.kind in (Team.Kind.MSSP_TIER, Team.Kind.NOC)
