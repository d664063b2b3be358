"""The on-call pages: /oncall/ (the schedules the caller reads, each with who is on call now and
next) and /oncall/<id>/ (a schedule's layers, its final timeline, overrides, its iCalendar feed
and an import form), and the forms to create and change a schedule.

Which schedules a caller reads is the API's rule (TenantScopedViewSet with include_mssp_rows:
MSSP staff the MSSP tiers' and their tenants', a customer's users their own tenant's, as
oncall.policy.reads_schedules_of says); `schedules_for` states it for the pages, and another
tenant's schedule is the same 404 as a missing one. Every change is the API's action
(oncall.actions) through page_perform: its check refuses (the 403 page), its serializer
validates; the forms run that serializer first only to show its errors at their inputs.
Buttons are shown by oncall.policy, the question the action's check asks."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from tenants.access import Access
from tenants.actions import page_perform
from tenants.models import Team, Tenant, User
from tenants.views import portal_view

from . import actions, feeds, ical, policy, rotation
from .forms import CalendarImportForm, OverrideForm, ScheduleForm, manageable_teams
from .models import Override, Schedule, schedules_for, team_people

TIMELINE_DAYS = (7, 14)
# A palette for the people of a timeline (SVG fill attributes: no inline style under the CSP).
COLOURS = ("#2e90fa", "#12b76a", "#f79009", "#7a5af8", "#ee46bc", "#06aed4", "#669f2a", "#dd2590")


def _schedule_or_404(access: Access, schedule_id: uuid.UUID) -> Schedule:
    schedule = schedules_for(access).filter(pk=schedule_id).first()
    if schedule is None or not policy.reads_schedules_of(access, schedule.tenant_id):
        raise Http404
    return schedule


def _viewer_zone(access: Access) -> str:
    """The viewer's time zone: a customer's, their tenant's; MSSP staff read UTC."""
    if access.customer_tenant_id is not None:
        zone = Tenant.objects.filter(pk=access.customer_tenant_id).values_list(
            "timezone", flat=True
        )
        return zone.first() or "UTC"
    return "UTC"


def _names(user_ids: set[int]) -> dict[int, str]:
    users = User.objects.filter(pk__in=user_ids).only("pk", "username", "first_name", "last_name")
    found = {u.pk: u.get_full_name() or u.username for u in users}
    return {u: found.get(u, "(deleted user)") for u in user_ids}


@dataclass
class Moment:
    """A moment as the pages say it: in the schedule's zone, and in the viewer's."""

    at: datetime
    schedule_zone: str
    viewer_zone: str

    @property
    def local(self) -> datetime:
        return self.at.astimezone(ZoneInfo(self.schedule_zone))

    @property
    def viewer(self) -> datetime:
        return self.at.astimezone(ZoneInfo(self.viewer_zone))

    @property
    def local_text(self) -> str:
        """Django's date filter would show the moment in the site's zone: formatted here."""
        return self.local.strftime("%a %-d %b, %H:%M")

    @property
    def viewer_text(self) -> str:
        return self.viewer.strftime("%a %H:%M")

    @property
    def same_zone(self) -> bool:
        return self.local.utcoffset() == self.viewer.utcoffset()


@dataclass
class OnCallNow:
    schedule: Schedule
    now: list[str]
    handoff: Moment | None
    next: list[str]
    may_manage: bool


def _now_and_next(
    schedules: list[Schedule], at: datetime, viewer_zone: str, access: Access
) -> list[OnCallNow]:
    """Who is on call now and next on each schedule: one query for the overrides of each, one
    for everybody's names."""
    found = [(schedule, *schedule.now_and_next(at)) for schedule in schedules]
    names = _names({u for _, now, _, then in found for u in (*now, *then)})
    return [
        OnCallNow(
            schedule=schedule,
            now=[names[u] for u in now],
            handoff=Moment(handoff, schedule.time_zone, viewer_zone) if handoff else None,
            next=[names[u] for u in then],
            may_manage=policy.may_manage_schedules(access, schedule.tenant_id),
        )
        for schedule, now, handoff, then in found
    ]


# --- the list ----------------------------------------------------------------------------------
def _visible_or_403(access: Access) -> None:
    if not policy.may_open_schedules(access):
        raise PermissionDenied("On-call schedules are for MSSP staff and customers' teams.")


@portal_view
def schedules(request: HttpRequest, access: Access) -> HttpResponse:
    _visible_or_403(access)
    at = timezone.now()
    zone = _viewer_zone(access)
    rows = _now_and_next(list(schedules_for(access).order_by("name")), at, zone, access)
    context = {
        "rows": rows,
        "mssp_rows": [r for r in rows if r.schedule.tenant_id is None],
        "tenant_rows": [r for r in rows if r.schedule.tenant_id is not None],
        "may_create": policy.may_manage_any_schedule(access) and manageable_teams(access).exists(),
        "viewer_zone": zone,
    }
    return render(request, "oncall/schedules.html", context)


# --- one schedule ------------------------------------------------------------------------------
@dataclass
class Bar:
    x: float  # minutes from the day's local midnight
    width: float
    colour: str
    label: str


@dataclass
class Day:
    day: date
    bars: list[Bar]
    shifts: list[dict[str, Any]]

    @property
    def summary(self) -> str:
        if not self.shifts:
            return "Nobody on call"
        return "; ".join(f"{s['name']} {s['from']}–{s['to']}" for s in self.shifts)


def _timeline(schedule: Schedule, start: datetime, days: int) -> tuple[list[Day], dict[int, str]]:
    """The final shifts of `days` local days from `start`'s local midnight, cut by day."""
    zone = ZoneInfo(schedule.time_zone)
    first = start.astimezone(zone).date()
    lo = datetime.combine(first, time(), tzinfo=zone)
    hi = datetime.combine(first + timedelta(days=days), time(), tzinfo=zone)
    found = rotation.shifts(schedule.spec(lo, hi), lo, hi)
    names = _names({s.user_id for s in found})
    colours = {
        user_id: COLOURS[i % len(COLOURS)]
        for i, user_id in enumerate(sorted(names, key=lambda u: names[u]))
    }
    timeline = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        begin = datetime.combine(day, time(), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
        length = (end - begin).total_seconds() / 60  # 23 or 25 hours on a change of the clocks
        bars, shifts = [], []
        for shift in found:
            s, e = max(shift.start, begin), min(shift.end, end)
            if s >= e:
                continue
            name = names[shift.user_id]
            from_, to = s.astimezone(zone).strftime("%H:%M"), e.astimezone(zone).strftime("%H:%M")
            to = "24:00" if e == end else to
            label = f"{name} {from_}–{to}" + (" (override)" if shift.source == "override" else "")
            bars.append(
                Bar(
                    x=round((s - begin).total_seconds() / 60 * 1440 / length, 1),
                    width=round((e - s).total_seconds() / 60 * 1440 / length, 1),
                    colour=colours[shift.user_id],
                    label=label,
                )
            )
            shifts.append(
                {"name": name, "from": from_, "to": to, "override": shift.source == "override"}
            )
        timeline.append(Day(day, bars, shifts))
    return timeline, {u: colours[u] for u in colours}


def _page(
    request: HttpRequest,
    access: Access,
    schedule: Schedule,
    *,
    override_form: OverrideForm | None = None,
    import_form: CalendarImportForm | None = None,
    imported: actions.ImportResult | None = None,
    new_feed_link: actions.FeedLink | None = None,
    status: int = 200,
) -> HttpResponse:
    at = timezone.now()
    zone = _viewer_zone(access)
    try:
        days = int(request.GET.get("days", TIMELINE_DAYS[0]))
    except ValueError:
        days = TIMELINE_DAYS[0]
    days = days if days in TIMELINE_DAYS else TIMELINE_DAYS[0]
    timeline, colours = _timeline(schedule, at, days)
    names = _names(set(colours))
    layers = schedule.ordered_layers()
    layer_names = _names({int(u) for layer in layers for u in layer.participants})
    overrides = list(
        schedule.overrides.filter(end__gt=at)
        .select_related("user", "created_by")
        .order_by("start", "id")[:200]
    )
    for override in overrides:
        override.may_remove = policy.may_remove_override(
            access,
            schedule.tenant_id,
            created_by_id=override.created_by_id,
            user_id=override.user_id,
        )
    may_manage = policy.may_manage_schedules(access, schedule.tenant_id)
    in_team = (
        access.user_id is not None and team_people(schedule.team).filter(pk=access.user_id).exists()
    )
    feed = reverse("schedule-ical", args=[schedule.pk])
    context: dict[str, Any] = {
        "schedule": schedule,
        "now": _now_and_next([schedule], at, zone, access)[0],
        "viewer_zone": zone,
        "layers": [
            {
                "layer": layer,
                "people": [layer_names[int(u)] for u in layer.participants],
                "start": Moment(layer.rotation_start, schedule.time_zone, zone),
                "restriction": _restriction_text(layer.restriction),
            }
            for layer in layers
        ],
        "days": days,
        "day_choices": TIMELINE_DAYS,
        "timeline": timeline,
        "legend": [(names[u], c) for u, c in colours.items()],
        "overrides": overrides,
        "may_manage": may_manage,
        "may_override": may_manage or (in_team and access.works),
        "override_form": override_form or OverrideForm(schedule=schedule),
        "import_form": import_form or CalendarImportForm(),
        "imported": imported,
        "feed_url": request.build_absolute_uri(feed),
        "feed_path": feed,
        "feed_link": feeds.link_of(cast(User, request.user), schedule),
        "new_feed_url": (
            request.build_absolute_uri(reverse("oncall-feed", args=[new_feed_link.raw]))
            if new_feed_link is not None
            else ""
        ),
        "max_import_kib": ical.MAX_BYTES // 1024,
        "import_days": ical.IMPORT_HORIZON.days,
    }
    return render(request, "oncall/schedule.html", context, status=status)


def _restriction_text(restriction: dict[str, Any] | None) -> str:
    if not restriction:
        return "Always"
    parts = []
    for day in rotation.WEEKDAYS:
        windows = restriction.get(day) or []
        if windows:
            parts.append(f"{day.capitalize()} " + ", ".join(f"{a}–{b}" for a, b in windows))
    return "; ".join(parts)


@portal_view
def schedule_detail(request: HttpRequest, access: Access, schedule_id: uuid.UUID) -> HttpResponse:
    return _page(request, access, _schedule_or_404(access, schedule_id))


# --- creating and changing ---------------------------------------------------------------------
@portal_view
def schedule_new(request: HttpRequest, access: Access) -> HttpResponse:
    """As POST /api/v1/schedules/: for a team the caller manages."""
    _visible_or_403(access)
    if not policy.may_manage_any_schedule(access):
        raise PermissionDenied(policy.CHANGE_REFUSED)
    teams = manageable_teams(access)
    form = ScheduleForm(
        request.POST if request.method == "POST" else None, access=access, teams=teams
    )
    if request.method == "POST" and form.is_valid():
        done, made = page_perform(
            request, actions.SCHEDULE_CREATE, access=access, target=None, data=form.inputs()
        )
        if done:
            return redirect("oncall-schedule", schedule_id=made.pk)
    context = {
        "form": form,
        "schedule": None,
        "has_teams": bool(form.teams),
        "members": _members(form.teams),
    }
    return render(
        request, "oncall/schedule_edit.html", context, status=400 if form.is_bound else 200
    )


@portal_view
def schedule_edit(request: HttpRequest, access: Access, schedule_id: uuid.UUID) -> HttpResponse:
    """As PATCH /api/v1/schedules/{id}/ with name, time zone and all the layers."""
    schedule = _schedule_or_404(access, schedule_id)
    if not policy.may_manage_schedules(access, schedule.tenant_id):
        raise PermissionDenied(policy.CHANGE_REFUSED)
    data = request.POST if request.method == "POST" else None
    form = ScheduleForm(data, access=access, instance=schedule)
    if request.method == "POST" and form.is_valid():
        done, _ = page_perform(
            request, actions.SCHEDULE_UPDATE, access=access, target=schedule, data=form.inputs()
        )
        if done:
            return redirect("oncall-schedule", schedule_id=schedule.pk)
    context = {
        "form": form,
        "schedule": schedule,
        "has_teams": True,
        "members": _members([schedule.team]),
    }
    return render(
        request, "oncall/schedule_edit.html", context, status=400 if form.is_bound else 200
    )


def _members(teams: Iterable[Team]) -> list[tuple[Team, list[str]]]:
    """Each team with the usernames of who may be on call for it (the participants' input)."""
    return [(team, list(team_people(team).values_list("username", flat=True))) for team in teams]


@require_POST
@portal_view
def schedule_delete(request: HttpRequest, access: Access, schedule_id: uuid.UUID) -> HttpResponse:
    schedule = _schedule_or_404(access, schedule_id)
    done, _ = page_perform(
        request, actions.SCHEDULE_DELETE, access=access, target=schedule, data={}
    )
    return redirect("oncall") if done else redirect("oncall-schedule", schedule_id=schedule.pk)


# --- overrides and importing -------------------------------------------------------------------
@require_POST
@portal_view
def override_add(request: HttpRequest, access: Access, schedule_id: uuid.UUID) -> HttpResponse:
    """As POST /api/v1/schedules/{id}/overrides/."""
    schedule = _schedule_or_404(access, schedule_id)
    form = OverrideForm(request.POST, schedule=schedule)
    if form.is_valid():
        done, _ = page_perform(
            request, actions.OVERRIDE_CREATE, access=access, target=schedule, data=form.inputs()
        )
        if done:
            return redirect("oncall-schedule", schedule_id=schedule.pk)
    return _page(request, access, schedule, override_form=form, status=400)


def _override_or_404(schedule: Schedule, override_id: uuid.UUID) -> Override:
    override = schedule.overrides.select_related("schedule").filter(pk=override_id).first()
    if override is None:
        raise Http404
    return cast(Override, override)


@require_POST
@portal_view
def override_delete(
    request: HttpRequest, access: Access, schedule_id: uuid.UUID, override_id: uuid.UUID
) -> HttpResponse:
    """As DELETE /api/v1/overrides/{id}/."""
    schedule = _schedule_or_404(access, schedule_id)
    override = _override_or_404(schedule, override_id)
    page_perform(request, actions.OVERRIDE_DELETE, access=access, target=override, data={})
    return redirect("oncall-schedule", schedule_id=schedule.pk)


@require_POST
@portal_view
def calendar_import(request: HttpRequest, access: Access, schedule_id: uuid.UUID) -> HttpResponse:
    """As POST /api/v1/schedules/{id}/import-ical/: an uploaded .ics, or its text pasted."""
    schedule = _schedule_or_404(access, schedule_id)
    if not policy.may_manage_schedules(access, schedule.tenant_id):  # before a file is read
        raise PermissionDenied(policy.CHANGE_REFUSED)
    form = CalendarImportForm(request.POST, request.FILES)
    text = ""
    if form.is_valid():
        upload = form.cleaned_data.get("file")
        try:
            if upload is not None:
                if upload.size > ical.MAX_BYTES:
                    raise ical.CalendarError(
                        f"The calendar is larger than {ical.MAX_BYTES // 1024} KiB."
                    )
                text = ical.decode(upload.read())
            else:
                text = form.cleaned_data.get("calendar") or ""
                ical.decode(text.encode())  # the same size limit as a file's
        except ical.CalendarError as exc:
            form.add_error("file" if upload is not None else "calendar", str(exc))
        if not text.strip() and not form.errors:
            form.add_error(None, "Choose a .ics file, or paste the calendar's text.")
    if form.errors:
        return _page(request, access, schedule, import_form=form, status=400)
    done, result = page_perform(
        request, actions.CALENDAR_IMPORT, access=access, target=schedule, data={"calendar": text}
    )
    if not done:
        return _page(request, access, schedule, import_form=form, status=400)
    return _page(request, access, schedule, imported=result)


# --- subscription links --------------------------------------------------------------------------
@require_POST
@portal_view
def feed_link_create(request: HttpRequest, access: Access, schedule_id: uuid.UUID) -> HttpResponse:
    """As POST /api/v1/schedules/{id}/feed-link/: the new link is on the page this once."""
    schedule = _schedule_or_404(access, schedule_id)
    done, made = page_perform(
        request, actions.FEED_LINK_CREATE, access=access, target=schedule, data={}
    )
    if not done:
        return redirect("oncall-schedule", schedule_id=schedule.pk)
    return _page(request, access, schedule, new_feed_link=made)


@require_POST
@portal_view
def feed_link_delete(request: HttpRequest, access: Access, schedule_id: uuid.UUID) -> HttpResponse:
    schedule = _schedule_or_404(access, schedule_id)
    page_perform(request, actions.FEED_LINK_DELETE, access=access, target=schedule, data={})
    return redirect("oncall-schedule", schedule_id=schedule.pk)


@require_GET
def feed(request: HttpRequest, token: str) -> HttpResponse:
    """A calendar app's fetch of a subscription link: no session, the URL is the credential.
    Every failure is the same 404, so a guessed or revoked link learns nothing."""
    response = feeds.serve(token)
    if response is None:
        raise Http404("No such calendar.")
    response["Cache-Control"] = "private, max-age=300"
    response["Referrer-Policy"] = "no-referrer"
    return response
