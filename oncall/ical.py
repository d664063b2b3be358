"""Schedules as iCalendar (RFC 5545): the feed of a schedule's shifts, and reading a calendar a
customer exports from the tool that holds their rotation today (each event one person's
shift). No database here: oncall.actions matches the events' people to the team."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar

from .rotation import OVERRIDE, Shift

MAX_BYTES = 1024 * 1024  # a calendar to import
MAX_EVENTS = 2000
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


def read_events(text: str, time_zone: str) -> list[Event]:
    """Every VEVENT of the calendar. Dates without a time zone (floating times, all-day
    events) are read in `time_zone`, the schedule's. Raises CalendarError for a file that is
    not one calendar."""
    if not text.strip():
        raise CalendarError("The calendar is empty.")
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise CalendarError(f"Not an iCalendar file: {_short(exc)}") from None
    if not isinstance(calendar, icalendar.Calendar) or calendar.name != "VCALENDAR":
        raise CalendarError("Not an iCalendar file: it does not begin with BEGIN:VCALENDAR.")
    zone = ZoneInfo(time_zone)
    events = calendar.walk("VEVENT")
    if len(events) > MAX_EVENTS:
        raise CalendarError(f"The calendar has {len(events)} events; at most {MAX_EVENTS}.")
    return [_event(index, component, zone) for index, component in enumerate(events, 1)]


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


def _event(index: int, component: icalendar.cal.Component, zone: ZoneInfo) -> Event:
    uid, summary = _text(component, "UID"), _text(component, "SUMMARY")
    attendees = _attendees(component)

    def refused(problem: str) -> Event:
        return Event(index, uid, summary, attendees, None, None, problem)

    errors = getattr(component, "errors", None)
    if errors:
        return refused(f"unreadable {errors[0][0]}: {str(errors[0][1])[:100]}")
    if component.get("RRULE") is not None or component.get("RDATE") is not None:
        return refused("a recurring event (RRULE): export the rotation's single shifts instead")
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
