"""Schedules as iCalendar (RFC 5545): the feed of a schedule's shifts, and reading a calendar a
customer exports from the tool that holds their rotation today (each event one person's
shift). No database here: oncall.actions matches the events' people to the team.

A rotation exported from Google Calendar, Outlook or PagerDuty is usually recurring events:
RRULE, RDATE, EXDATE, and instances moved or cancelled by a VEVENT with a RECURRENCE-ID. Their
occurrences are expanded by the `recurring-ical-events` library (not by hand), only within
IMPORT_HORIZON from now. Before the library runs, each rule's cost is bounded from its text
(EXPANSION_BUDGET, MAX_EVENTS): a rule that repeats more often than hourly, or would make the
library walk hundreds of thousands of occurrences to reach today, is refused with a 400."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from .rotation import OVERRIDE, Shift

MAX_BYTES = 1024 * 1024  # a calendar to import
MAX_EVENTS = 2000  # events in the file, and occurrences within the horizon after expansion
IMPORT_HORIZON = timedelta(days=90)  # recurring events are expanded from now until then
# Occurrences the library may have to step through from a rule's DTSTART to the end of the
# horizon (it starts at DTSTART: an hourly rule begun in 1900 is a million steps, ~20 s).
EXPANSION_BUDGET = 50_000
# The shortest period of each FREQ; SECONDLY and MINUTELY are not shift rotations.
_PERIODS = {
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(days=7),
    "MONTHLY": timedelta(days=28),
    "YEARLY": timedelta(days=365),
}
_TOO_FREQUENT = ("SECONDLY", "MINUTELY")
PRODID = "-//MSSP portal//On-call schedule//EN"
UID_DOMAIN = "oncall.mssp-portal"
# "On call: alice", "On-call - alice", "Oncall: alice" name alice.
_ON_CALL_PREFIX = re.compile(r"^\s*on[\s-]?call\s*[:\-\u2013\u2014]\s*", re.IGNORECASE)


class CalendarError(ValueError):
    """The file is not a calendar we can read (a 400 with this message)."""


@dataclass(frozen=True)
class Event:
    """One VEVENT as read: its moments in UTC, and `problem` when it cannot be a shift."""

    index: int  # 1-based, in the file's order
    uid: str
    summary: str
    attendees: tuple[str, ...]  # e-mail addresses, lower case
    start: datetime | None
    end: datetime | None
    problem: str = ""


# --- export ------------------------------------------------------------------------------------
def shift_uid(schedule_id: object, shift: Shift) -> str:
    """The same shift has the same UID in every fetch of the feed (calendar clients update an
    event by its UID instead of adding a copy)."""
    key = (
        f"{schedule_id}|{shift.user_id}|{shift.source}|{shift.start.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    )
    return f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@{UID_DOMAIN}"


def export(
    *,
    schedule_id: object,
    name: str,
    time_zone: str,
    shifts: Iterable[Shift],
    names: Mapping[int, str],
    stamp: datetime,
) -> bytes:
    """A VCALENDAR with one VEVENT per shift: SUMMARY "On call: <username>", in UTC."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"On call: {name}")
    calendar.add("x-wr-timezone", time_zone)
    for shift in shifts:
        event = icalendar.Event()
        event.add("uid", shift_uid(schedule_id, shift))
        event.add("dtstamp", stamp.astimezone(UTC))
        event.add("dtstart", shift.start.astimezone(UTC))
        event.add("dtend", shift.end.astimezone(UTC))
        event.add("summary", f"On call: {names.get(shift.user_id, f'user {shift.user_id}')}")
        event.add("description", "Override" if shift.source == OVERRIDE else "Rotation")
        event.add("transp", "TRANSPARENT")  # being on call is not being busy
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


# --- import ------------------------------------------------------------------------------------
def decode(raw: bytes) -> str:
    if len(raw) > MAX_BYTES:
        raise CalendarError(f"The calendar is larger than {MAX_BYTES // 1024} KiB.")
    if b"\x00" in raw:
        raise CalendarError("The calendar contains NUL bytes: it is not an iCalendar file.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CalendarError(f"The calendar is not UTF-8 text (byte {exc.start}).") from None


def read_events(text: str, time_zone: str, now: datetime | None = None) -> list[Event]:
    """Every VEVENT of the calendar, recurring ones expanded into their occurrences between
    `now` and IMPORT_HORIZON after it (each occurrence an Event with its VEVENT's index and
    UID). Dates without a time zone (floating times, all-day events) are read in `time_zone`,
    the schedule's. Raises CalendarError for a file that is not one calendar, or whose
    recurrences are too costly to expand."""
    if not text.strip():
        raise CalendarError("The calendar is empty.")
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise CalendarError(f"Not an iCalendar file: {_short(exc)}") from None
    if not isinstance(calendar, icalendar.Calendar) or calendar.name != "VCALENDAR":
        raise CalendarError("Not an iCalendar file: it does not begin with BEGIN:VCALENDAR.")
    zone = ZoneInfo(time_zone)
    components = calendar.walk("VEVENT")
    if len(components) > MAX_EVENTS:
        raise CalendarError(f"The calendar has {len(components)} events; at most {MAX_EVENTS}.")
    lo = (now or datetime.now(UTC)).astimezone(UTC)
    hi = lo + IMPORT_HORIZON
    recurring = {
        _text(c, "UID")
        for c in components
        if _is_recurring(c) and not getattr(c, "errors", None) and _text(c, "UID")
    }
    events: list[Event] = []
    expected = 0
    for index, component in enumerate(components, 1):
        uid = _text(component, "UID")
        if uid in recurring and component.get("RECURRENCE-ID") is not None:
            continue  # a moved or cancelled instance: its series' expansion uses it
        if uid in recurring and _is_recurring(component):
            expected += _check_cost(index, component, zone, lo, hi)
            if expected > MAX_EVENTS:
                raise CalendarError(
                    f"The recurring events repeat more than {MAX_EVENTS} times in the next "
                    f"{IMPORT_HORIZON.days} days: not a rotation this portal imports."
                )
            events.extend(_occurrences(index, component, calendar, zone, lo, hi))
        else:
            events.append(_event(index, component, zone))
    if len(events) > MAX_EVENTS:
        raise CalendarError(
            f"The calendar has {len(events)} shifts in the next {IMPORT_HORIZON.days} days "
            f"once its recurring events are expanded; at most {MAX_EVENTS}."
        )
    return events


def _is_recurring(component: icalendar.cal.Component) -> bool:
    return component.get("RRULE") is not None or component.get("RDATE") is not None


def _rules(component: icalendar.cal.Component) -> list[Mapping[str, list[object]]]:
    found = component.get("RRULE")
    return found if isinstance(found, list) else [found] if found is not None else []


def _rdate_count(component: icalendar.cal.Component) -> int:
    found = component.get("RDATE")
    values = found if isinstance(found, list) else [found] if found is not None else []
    return sum(len(getattr(value, "dts", [value])) for value in values)


def _per_period(rule: Mapping[str, list[object]], freq: str) -> int:
    """At most how many occurrences one period of `freq` has under the rule's BY parts (an
    upper bound: a BY part finer than the period multiplies, a coarser one only limits)."""
    finer = {
        "BYSECOND": ("MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"),
        "BYMINUTE": ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"),
        "BYHOUR": ("DAILY", "WEEKLY", "MONTHLY", "YEARLY"),
    }
    count = 1
    for part, periods in finer.items():
        if freq in periods and rule.get(part):
            count *= len(rule[part])
    days = {"WEEKLY": 1, "MONTHLY": 5, "YEARLY": 53}
    if freq in days and rule.get("BYDAY"):
        count *= len(rule["BYDAY"]) * days[freq]
    elif freq == "MONTHLY" and rule.get("BYMONTHDAY"):
        count *= len(rule["BYMONTHDAY"])
    elif freq == "YEARLY":
        for part, scale in (("BYMONTHDAY", 12), ("BYYEARDAY", 1), ("BYWEEKNO", 7)):
            if rule.get(part):
                count *= len(rule[part]) * scale
                break
        else:
            if rule.get("BYMONTH"):
                count *= len(rule["BYMONTH"])
    return count


def _check_cost(
    index: int, component: icalendar.cal.Component, zone: ZoneInfo, lo: datetime, hi: datetime
) -> int:
    """How many occurrences the recurring event may have within [lo, hi) (an upper bound), or
    CalendarError when expanding it would cost too much."""
    label = f"Event {index} ({_text(component, 'SUMMARY') or _text(component, 'UID')})"[:120]
    start_prop = component.get("DTSTART")
    try:
        start = _moment(start_prop.dt, zone) if start_prop is not None else None
    except (ValueError, TypeError, OverflowError, AttributeError):
        start = None
    if start is None:
        return 0  # _occurrences reports it as an event whose recurrence cannot be read
    total = _rdate_count(component)
    for rule in _rules(component):
        freq = str((rule.get("FREQ") or [""])[0]).upper()
        if freq in _TOO_FREQUENT:
            raise CalendarError(
                f"{label} repeats {freq.lower()}: a rotation's shifts repeat at most hourly."
            )
        period = _PERIODS.get(freq)
        if period is None:
            raise CalendarError(f"{label} has a recurrence rule without a known FREQ.")
        interval = max(1, int(str((rule.get("INTERVAL") or [1])[0]) or 1))
        step = period * interval
        per_period = _per_period(rule, freq)
        counted = rule.get("COUNT")
        limit = int(str(counted[0])) if counted else None
        walked = max(0.0, (hi - start) / step + 1) * per_period
        if limit is not None:
            walked = min(walked, limit)
        if walked > EXPANSION_BUDGET:
            raise CalendarError(
                f"{label} repeats {freq.lower()} from {start:%Y-%m-%d}: expanding it up to "
                f"today would take about {math.ceil(walked):,} steps, at most "
                f"{EXPANSION_BUDGET:,}. Export the rotation with a recent start."
            )
        within = (IMPORT_HORIZON / step + 1) * per_period
        total += math.ceil(min(within, walked))
    return total


def _occurrences(
    index: int,
    master: icalendar.cal.Component,
    calendar: icalendar.Calendar,
    zone: ZoneInfo,
    lo: datetime,
    hi: datetime,
) -> list[Event]:
    """The occurrences of one recurring event (its RRULE, RDATE and EXDATE, and the file's
    instances with its UID and a RECURRENCE-ID) that overlap [lo, hi)."""
    uid = _text(master, "UID")
    series = icalendar.Calendar()
    for name, value in calendar.property_items(recursive=False):
        if name not in ("BEGIN", "END"):
            series.add(name, value)
    for timezone_ in calendar.walk("VTIMEZONE"):
        series.add_component(timezone_)
    for component in calendar.walk("VEVENT"):
        if _text(component, "UID") == uid:
            series.add_component(component)
    try:
        found = recurring_ical_events.of(series, components=["VEVENT"]).between(lo, hi)
    except Exception as exc:  # the library's errors are many and undocumented: one event's
        problem = f"its recurrence cannot be read: {_short(exc)}"  # problem, not a 500
        return [_event(index, master, zone, problem=problem)]
    events = []
    for occurrence in found[: MAX_EVENTS + 1]:
        if str(occurrence.get("STATUS", "")).upper() == "CANCELLED":
            continue
        events.append(_event(index, occurrence, zone, recurring_ok=True))
    return events


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _text(component: icalendar.cal.Component, name: str) -> str:
    value = component.get(name)
    return str(value).strip()[:300] if value is not None else ""


def _attendees(component: icalendar.cal.Component) -> tuple[str, ...]:
    found = component.get("ATTENDEE")
    values = found if isinstance(found, list) else [found] if found is not None else []
    addresses = []
    for value in values:
        address = str(value).strip()
        if address.lower().startswith("mailto:"):
            addresses.append(address[len("mailto:") :].strip().lower())
    return tuple(addresses)


def _moment(value: object, zone: ZoneInfo) -> datetime:
    """A DTSTART/DTEND value in UTC: a date is its midnight, a floating time is local."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=zone).astimezone(UTC)
    raise ValueError(f"not a date or a date-time: {value!r}")


def _event(
    index: int,
    component: icalendar.cal.Component,
    zone: ZoneInfo,
    *,
    problem: str = "",
    recurring_ok: bool = False,
) -> Event:
    """One VEVENT (or one occurrence of a recurring one, `recurring_ok`) as an Event."""
    uid, summary = _text(component, "UID"), _text(component, "SUMMARY")
    attendees = _attendees(component)

    def refused(problem: str) -> Event:
        return Event(index, uid, summary, attendees, None, None, problem)

    if problem:
        return refused(problem)
    errors = getattr(component, "errors", None)
    if errors:
        return refused(f"unreadable {errors[0][0]}: {str(errors[0][1])[:100]}")
    if not recurring_ok and _is_recurring(component):
        return refused("a recurring event without a UID: give it one to import its shifts")
    start_prop, end_prop = component.get("DTSTART"), component.get("DTEND")
    if start_prop is None:
        return refused("it has no DTSTART")
    try:
        start = _moment(start_prop.dt, zone)
        if end_prop is not None:
            end = _moment(end_prop.dt, zone)
        elif component.get("DURATION") is not None:
            duration = component.get("DURATION").dt
            if not isinstance(duration, timedelta):
                return refused("its DURATION is not a duration")
            end = start + duration
        elif not isinstance(start_prop.dt, datetime):
            end = _moment(start_prop.dt + timedelta(days=1), zone)  # an all-day event
        else:
            return refused("it has no DTEND or DURATION")
    except (ValueError, TypeError, OverflowError, AttributeError) as exc:
        return refused(f"its dates cannot be read: {_short(exc)}")
    return Event(index, uid, summary, attendees, start, end)


def named_member(event: Event, members: Mapping[str, set[int]]) -> tuple[int | None, str]:
    """The one member of the team the event names, by an ATTENDEE's e-mail address, else by
    its SUMMARY ("On call: alice", "alice", "Alice Smith", "alice@example.com"). `members`
    maps lower-case usernames, e-mail addresses and full names to user ids. Returns
    (user id, "") or (None, why not)."""
    by_attendee: set[int] = set()
    for address in event.attendees:
        by_attendee |= members.get(address, set())
    if len(by_attendee) == 1:
        return next(iter(by_attendee)), ""
    name = _ON_CALL_PREFIX.sub("", event.summary).strip().lower()
    by_summary = members.get(name, set()) if name else set()
    if len(by_summary) == 1 and (not by_attendee or by_summary <= by_attendee):
        return next(iter(by_summary)), ""
    if len(by_attendee) > 1 or len(by_summary) > 1:
        return None, "it names several members of the team; one person per event"
    return None, "it names nobody of the team (by ATTENDEE e-mail or SUMMARY)"
