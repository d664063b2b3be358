"""What a user can do with on-call schedules, for the API (oncall.api.views) and a page alike
(tenants.actions explains the split): create, change and delete a schedule, add and remove
overrides, import a rotation from a calendar. Every change is audited."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from tenants import audit
from tenants.access import Access
from tenants.actions import Action, Refused
from tenants.models import Team, User

from . import feeds, ical, policy, rotation
from .api.serializers import (
    MAX_OVERRIDE,
    CalendarImportSerializer,
    OverrideInputSerializer,
    ScheduleInputSerializer,
)
from .models import FeedToken, Layer, Override, Schedule, team_people


def check_may_create(access: Access, _target: None) -> None:
    if not policy.may_manage_any_schedule(access):
        raise Refused(policy.CHANGE_REFUSED)


def check_manage(access: Access, schedule: Schedule) -> None:
    if not policy.may_manage_schedules(access, schedule.tenant_id):
        raise Refused(policy.CHANGE_REFUSED)


def _audit(
    verb: str,
    schedule: Schedule,
    *,
    actor: User | None,
    request: HttpRequest | None,
    summary: str,
    data: dict[str, Any] | None = None,
) -> None:
    audit.record(
        f"oncall.{verb}",
        actor=actor,
        tenant=schedule.tenant_id,
        obj=schedule,
        request=request,
        summary=summary,
        data=data or {},
    )


def _replace_layers(schedule: Schedule, layers: list[dict[str, Any]]) -> None:
    schedule.layers.all().delete()
    for position, layer in enumerate(layers):
        Layer(schedule=schedule, position=position, **layer).save()


def _layers_data(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**layer, "rotation_start": layer["rotation_start"].isoformat()} for layer in layers]


# --- schedules ---------------------------------------------------------------------------------
def create_schedule(
    _target: None,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    team: Team,
    name: str,
    time_zone: str,
    layers: list[dict[str, Any]] | None = None,
) -> Schedule:
    # The team is in the input (resolved among the caller's), so whether the caller may
    # manage its schedules is answered once the input is read.
    if not policy.may_manage_schedules(access, team.tenant_id):
        raise Refused(policy.CHANGE_REFUSED)
    schedule = Schedule(team=team, name=name, time_zone=time_zone)
    schedule.save()
    _replace_layers(schedule, layers or [])
    _audit(
        "schedule.created",
        schedule,
        actor=actor,
        request=request,
        summary=f"on-call schedule {name} of {team.name} created",
        data={"time_zone": time_zone, "layers": _layers_data(layers or [])},
    )
    return schedule


def update_schedule(
    schedule: Schedule,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    layers: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Schedule:
    fields.pop("team", None)  # the serializer refused a different one
    for name, value in fields.items():
        setattr(schedule, name, value)
    schedule.save()
    if layers is not None:
        _replace_layers(schedule, layers)
    changed: dict[str, Any] = dict(fields)
    if layers is not None:
        changed["layers"] = _layers_data(layers)
    _audit(
        "schedule.updated",
        schedule,
        actor=actor,
        request=request,
        summary=f"on-call schedule {schedule.name} changed",
        data=changed,
    )
    return schedule


def delete_schedule(
    schedule: Schedule, *, actor: User, access: Access, request: HttpRequest | None
) -> Schedule:
    _audit(
        "schedule.deleted",
        schedule,
        actor=actor,
        request=request,
        summary=f"on-call schedule {schedule.name} deleted",
    )
    schedule.delete()
    return schedule


SCHEDULE_CREATE = Action(
    "oncall.schedule.create",
    do=create_schedule,
    check=check_may_create,
    serializer=ScheduleInputSerializer,
    done=lambda schedule: f"Schedule '{schedule.name}' created.",
)
SCHEDULE_UPDATE = Action(
    "oncall.schedule.update",
    do=update_schedule,
    check=check_manage,
    serializer=ScheduleInputSerializer,
    changes_target=True,
    done=lambda schedule: f"Schedule '{schedule.name}' saved.",
)
SCHEDULE_DELETE = Action(
    "oncall.schedule.delete",
    do=delete_schedule,
    check=check_manage,
    done=lambda schedule: f"Schedule '{schedule.name}' deleted.",
)


# --- subscription links (oncall.feeds) ------------------------------------------------------------
@dataclass
class FeedLink:
    """A subscription link just made: its raw token is in `url`'s path, shown this once."""

    token: FeedToken
    raw: str


def check_may_read(access: Access, schedule: Schedule) -> None:
    if not access.is_authenticated or not policy.reads_schedules_of(access, schedule.tenant_id):
        raise Refused(policy.READ_REFUSED)


def create_feed_link(
    schedule: Schedule, *, actor: User, access: Access, request: HttpRequest | None
) -> FeedLink:
    token, raw = feeds.mint(actor, schedule)
    _audit(
        "feed_link.created",
        schedule,
        actor=actor,
        request=request,
        summary=f"iCalendar subscription link to {schedule.name} made ({token.prefix}…)",
        data={"prefix": token.prefix},
    )
    return FeedLink(token, raw)


def delete_feed_link(
    schedule: Schedule, *, actor: User, access: Access, request: HttpRequest | None
) -> int:
    deleted, _ = FeedToken.objects.filter(user=actor, schedule=schedule).delete()
    if deleted:
        _audit(
            "feed_link.revoked",
            schedule,
            actor=actor,
            request=request,
            summary=f"iCalendar subscription link to {schedule.name} revoked",
        )
    return deleted


FEED_LINK_CREATE = Action(
    "oncall.feed_link.create",
    do=create_feed_link,
    check=check_may_read,
    done="Subscription link made. Copy it now: it is shown once.",
)
FEED_LINK_DELETE = Action(
    "oncall.feed_link.delete",
    do=delete_feed_link,
    check=check_may_read,
    done=lambda deleted: (
        "Subscription link revoked." if deleted else "There was no link to revoke."
    ),
)


# --- overrides ---------------------------------------------------------------------------------
def holds_span(schedule: Schedule, user_id: int, start: datetime, end: datetime) -> bool:
    """Whether `user_id` is on call throughout [start, end) as the schedule stands."""
    covered = start
    for shift in rotation.shifts(schedule.spec(start, end), start, end):
        if shift.user_id != user_id or shift.start > covered:
            continue
        covered = max(covered, shift.end)
    return covered >= end


def create_override(
    schedule: Schedule,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    user: User,
    start: datetime,
    end: datetime,
    reason: str = "",
) -> Override:
    if not policy.may_manage_schedules(access, schedule.tenant_id):
        caller = access.user_id
        in_team = caller is not None and team_people(schedule.team).filter(pk=caller).exists()
        owns = caller is not None and in_team and holds_span(schedule, caller, start, end)
        if not policy.may_override_for_themselves(
            access, schedule.tenant_id, in_team=in_team, owns_the_span=owns, user_id=user.pk
        ):
            raise Refused(policy.OVERRIDE_REFUSED)
    override = Override(
        schedule=schedule, user=user, start=start, end=end, reason=reason, created_by=actor
    )
    override.save()
    _audit(
        "override.created",
        schedule,
        actor=actor,
        request=request,
        summary=f"{user.username} on call for {schedule.name} from {start:%Y-%m-%d %H:%M} UTC",
        data={
            "override": str(override.pk),
            "user": user.pk,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "reason": reason,
        },
    )
    return override


def check_may_override(access: Access, schedule: Schedule) -> None:
    """Before the input is read: a manager, or someone who works (the rest is create's)."""
    if not (policy.may_manage_schedules(access, schedule.tenant_id) or access.works):
        raise Refused(policy.OVERRIDE_REFUSED)


def check_remove_override(access: Access, override: Override) -> None:
    if not policy.may_remove_override(
        access, override.tenant_id, created_by_id=override.created_by_id, user_id=override.user_id
    ):
        raise Refused(policy.OVERRIDE_DELETE_REFUSED)


def delete_override(
    override: Override, *, actor: User, access: Access, request: HttpRequest | None
) -> Override:
    _audit(
        "override.deleted",
        override.schedule,
        actor=actor,
        request=request,
        summary=f"override of {override.user_id} on {override.schedule.name} removed",
        data={
            "override": str(override.pk),
            "user": override.user_id,
            "start": override.start.isoformat(),
            "end": override.end.isoformat(),
        },
    )
    override.delete()
    return override


OVERRIDE_CREATE = Action(
    "oncall.override.create",
    do=create_override,
    check=check_may_override,
    serializer=OverrideInputSerializer,
    done="Override added.",
)
OVERRIDE_DELETE = Action(
    "oncall.override.delete",
    do=delete_override,
    check=check_remove_override,
    done="Override removed.",
)


# --- importing a calendar ----------------------------------------------------------------------
@dataclass
class ImportResult:
    created: list[Override] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def _member_names(team: Team) -> dict[str, set[int]]:
    """Lower-case usernames, e-mail addresses and full names of the team's people -> ids."""
    names: dict[str, set[int]] = {}
    for user in team_people(team).only("pk", "username", "email", "first_name", "last_name"):
        for name in (user.username, user.email, user.get_full_name()):
            if name.strip():
                names.setdefault(name.strip().lower(), set()).add(user.pk)
    return names


def import_calendar(
    schedule: Schedule,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    calendar: list[ical.Event],
) -> ImportResult:
    """Each event that names one member of the team becomes an override; every other one is
    reported with why. Importing the same file again adds nothing."""
    result = ImportResult()
    members = _member_names(schedule.team)
    now = timezone.now()
    existing = {
        (o.user_id, o.start, o.end)
        for o in schedule.overrides.filter(end__gt=now).only("user_id", "start", "end")
    }

    def skip(event: ical.Event, reason: str) -> None:
        result.skipped.append(
            {
                "index": event.index,
                "uid": event.uid,
                "summary": event.summary,
                "start": event.start,
                "end": event.end,
                "reason": reason,
            }
        )

    for event in calendar:
        if event.problem or event.start is None or event.end is None:
            skip(event, event.problem or "it has no dates")
            continue
        user_id, why_not = ical.named_member(event, members)
        if user_id is None:
            skip(event, why_not)
        elif event.end <= event.start:
            skip(event, "it ends before it starts")
        elif event.end - event.start > MAX_OVERRIDE:
            skip(event, "it is longer than 90 days")
        elif event.end <= now:
            skip(event, "it is over already")
        elif (user_id, event.start, event.end) in existing:
            skip(event, "the same override exists already")
        else:
            override = Override(
                schedule=schedule,
                user_id=user_id,
                start=event.start,
                end=event.end,
                reason=f"Imported from iCalendar: {event.summary}"[:300],
                created_by=actor,
            )
            override.save()
            existing.add((user_id, event.start, event.end))
            result.created.append(override)
    _audit(
        "schedule.imported",
        schedule,
        actor=actor,
        request=request,
        summary=f"{len(result.created)} overrides imported into {schedule.name} "
        f"({len(result.skipped)} events skipped)",
        data={"created": [str(o.pk) for o in result.created], "skipped": len(result.skipped)},
    )
    return result


CALENDAR_IMPORT = Action(
    "oncall.schedule.import",
    do=import_calendar,
    check=check_manage,
    serializer=CalendarImportSerializer,
    done=lambda result: f"{len(result.created)} overrides imported.",
)
