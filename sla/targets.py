"""Who an escalation can be addressed to, for one tenant's incident: a team (the MSSP's tiers
and NOC, or the tenant's own teams), the on-call of a schedule (an MSSP team's or one of the
tenant's teams'), or one person (who may see the tenant: MSSP staff who work it, or one of
its own users). One lookup each, used where a policy is written (so a step naming another
tenant's team, schedule or person is refused) and where a step fires (so a target that has
since moved out of reach is skipped rather than told about the wrong customer)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import Q

from oncall.models import Schedule
from tenants.access import access_for
from tenants.models import Team, User

# The keys of an escalation policy step that name its target; at most one per step.
TARGET_KEYS = ("team", "schedule", "person")


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _mssp_or_tenant(tenant_id: int) -> Q:
    return Q(tenant__isnull=True) | Q(tenant_id=tenant_id)


def team_for(tenant_id: int, team_id: object) -> Team | None:
    """The team `team_id` if it is the MSSP's or this tenant's, else None."""
    pk = _uuid(team_id)
    if pk is None:
        return None
    team: Team | None = (
        Team.objects.dangerously_unscoped("the MSSP's teams and this tenant's")
        .filter(_mssp_or_tenant(tenant_id), pk=pk)
        .first()
    )
    return team


def schedule_for(tenant_id: int, schedule_id: object) -> Schedule | None:
    """The schedule `schedule_id` if it is an MSSP team's or one of this tenant's teams'."""
    pk = _uuid(schedule_id)
    if pk is None:
        return None
    schedule: Schedule | None = (
        Schedule.objects.dangerously_unscoped("the MSSP's schedules and this tenant's")
        .filter(_mssp_or_tenant(tenant_id), pk=pk)
        .select_related("team")
        .first()
    )
    return schedule


def person_for(tenant_id: int, user_id: object) -> User | None:
    """The active user `user_id` if they may see this tenant (tenants.access decides, as for
    every request), else None."""
    if isinstance(user_id, bool) or not isinstance(user_id, int | str):
        return None
    try:
        pk = int(user_id)
    except ValueError:
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or tenant_id not in access_for(user).tenant_ids:
        return None
    return user


@dataclass(frozen=True)
class StepTarget:
    team: Team | None = None
    schedule: Schedule | None = None
    person: User | None = None

    @property
    def named_team(self) -> Team | None:
        """The team the escalation is to: the step's, or its schedule's."""
        return self.team or (self.schedule.team if self.schedule is not None else None)


class TargetMissing(ValueError):
    """A step's target is not one this tenant's incidents may be escalated to."""


def step_target(tenant_id: int, step: dict) -> StepTarget:
    """The target a policy step names (none: StepTarget()); TargetMissing, with a human
    message, when it names one out of reach or more than one."""
    named = [key for key in TARGET_KEYS if step.get(key) not in (None, "")]
    if len(named) > 1:
        raise TargetMissing(f"name one of {', '.join(named)}, not several")
    if not named:
        return StepTarget()
    key = named[0]
    value = step[key]
    if key == "team":
        team = team_for(tenant_id, value)
        if team is None:
            raise TargetMissing("no such team for this customer")
        return StepTarget(team=team)
    if key == "schedule":
        schedule = schedule_for(tenant_id, value)
        if schedule is None:
            raise TargetMissing("no such on-call schedule for this customer")
        return StepTarget(schedule=schedule)
    person = person_for(tenant_id, value)
    if person is None:
        raise TargetMissing("no such person who works for this customer")
    return StepTarget(person=person)
