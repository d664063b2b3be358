"""An MSSP team's own channels (TeamChannel): which teams have them, and what a channel's last
deliveries were. The pages (notifications.team_views) and the API (notifications.api.views)
read them here; who may is notifications.policy's, what is done notifications.actions'."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from tenants.access import Access
from tenants.models import Team

from .models import Delivery, TeamChannel

LAST_DELIVERIES = 20  # a team channel's last deliveries, on its page and in the API
MSSP_TEAMS = "the MSSP's own teams (tiers, NOC): they belong to no tenant"


def mssp_teams() -> QuerySet[Team]:
    """The teams that own channels: the MSSP's tiers and its NOC (no tenant)."""
    teams: QuerySet[Team] = Team.objects.dangerously_unscoped(MSSP_TEAMS).filter(
        tenant__isnull=True, kind__in=[Team.Kind.MSSP_TIER, Team.Kind.NOC]
    )
    return teams


def mssp_team(team_id: Any) -> Team | None:
    """The MSSP team of this id, or None (a customer's team, a missing one, not an id)."""
    try:
        pk = uuid.UUID(str(team_id))
    except (TypeError, ValueError):
        return None
    team: Team | None = mssp_teams().filter(pk=pk).first()
    return team


def team_channels(team: Team, access: Access) -> list[TeamChannel]:
    """The team's channels, each with its latest delivery's status and time (of the tenants
    the caller sees)."""
    latest = (
        Delivery.objects.for_tenants(access.tenant_ids)
        .filter(team_channel=OuterRef("pk"))
        .order_by("-created_at")
    )
    return list(
        TeamChannel.objects.filter(team=team)
        .annotate(
            last_status=Subquery(latest.values("status")[:1]),
            last_at=Subquery(latest.values("created_at")[:1]),
        )
        .prefetch_related("tenants")
        .order_by("name", "created_at")
    )


def last_deliveries(
    channels: TeamChannel | list[TeamChannel], access: Access, limit: int = LAST_DELIVERIES
) -> list[Delivery]:
    """The newest deliveries to these team channels, of the tenants the caller sees."""
    many = channels if isinstance(channels, list) else [channels]
    return list(
        Delivery.objects.for_tenants(access.tenant_ids)
        .filter(team_channel__in=many)
        .select_related("channel", "team_channel", "tenant")
        .order_by("-created_at")[:limit]
    )
