"""A schedule's iCalendar feed: the body (the API's `ical/` and the subscription URL serve the
same one) and the subscription links that let a calendar app fetch it without a session or a
header (oncall.models.FeedToken)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.http import HttpResponse
from django.utils import timezone

from tenants.access import access_for
from tenants.models import User
from tenants.rls import access_scope, rls_bypass

from . import ical, policy, rotation
from .models import FeedToken, Schedule, schedules_for

FEED_DAYS = 60
# last_used_at is written at most this often: calendar apps poll, and a write per poll
# would be a write per poll.
USE_RECORDED_EVERY = timedelta(minutes=5)


def calendar_body(schedule: Schedule, now: datetime | None = None) -> bytes:
    """The next FEED_DAYS days of shifts: one event per shift, "On call: <username>", each
    with a UID that stays the same from one fetch to the next."""
    now = now or timezone.now()
    # From a fixed point a little in the past, so the shift under way keeps its real start
    # (and with it its UID) from one fetch to the next.
    since = (now - timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
    until = now + timedelta(days=FEED_DAYS)
    found = [
        shift
        for shift in rotation.shifts(schedule.spec(since, until), since, until)
        if shift.end > now
    ]
    names = dict(
        User.objects.filter(pk__in={shift.user_id for shift in found}).values_list("pk", "username")
    )
    return ical.export(
        schedule_id=schedule.pk,
        name=schedule.name,
        time_zone=schedule.time_zone,
        shifts=found,
        names={
            user_id: names.get(user_id, "(deleted user)") for user_id in {s.user_id for s in found}
        },
        stamp=now,
    )


def calendar_response(schedule: Schedule) -> HttpResponse:
    return HttpResponse(
        calendar_body(schedule),
        content_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="oncall-{schedule.pk}.ics"'},
    )


def mint(user: User, schedule: Schedule) -> tuple[FeedToken, str]:
    """A new subscription link for `user` to `schedule`, replacing theirs if they had one.
    The raw token is returned once and never stored."""
    FeedToken.objects.filter(user=user, schedule=schedule).delete()
    raw, prefix, digest = FeedToken.generate()
    token = FeedToken.objects.create(user=user, schedule=schedule, prefix=prefix, digest=digest)
    return token, raw


def link_of(user: User, schedule: Schedule) -> FeedToken | None:
    return FeedToken.objects.filter(user=user, schedule=schedule).first()


def serve(raw: str) -> HttpResponse | None:
    """The feed a subscription URL names, or None (the caller answers 404, whatever the
    reason: unknown, replaced, its owner deactivated or no longer reading the schedule)."""
    if not raw.startswith(FeedToken.PREFIX) or len(raw) > 100:
        return None
    with rls_bypass("an iCalendar subscription link: finding its owner"):
        token = (
            FeedToken.objects.select_related("user").filter(digest=FeedToken.digest_of(raw)).first()
        )
    if token is None:
        return None
    access = access_for(token.user)  # NO_ACCESS for a deactivated account
    with access_scope(access):
        schedule = schedules_for(access).filter(pk=token.schedule_id).first()
        if schedule is None or not policy.reads_schedules_of(access, schedule.tenant_id):
            return None
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > USE_RECORDED_EVERY:
            FeedToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return calendar_response(schedule)
