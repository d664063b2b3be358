"""Business-time arithmetic for SLA clocks: a tenant's calendar, from plain values.

No database and no Django here: a :class:`Calendar` is built from a tenant's ``timezone``,
``business_hours`` and ``holidays`` fields (or :meth:`Calendar.always` for 24x7 coverage) and
answers "when is N minutes of covered time after this instant?" and "how much covered time lies
between these two instants?". Every datetime in and out is timezone-aware; a naive one raises
``ValueError``. Precision is one microsecond, and the arithmetic is exact (integers throughout).

What is covered
---------------
Coverage is a property of *instants*. An instant is covered when its wall-clock time in the
tenant's timezone

* falls on a local date that is not one of the tenant's holidays, and
* lies inside one of the half-open intervals ``[start, end)`` of that date's weekday
  (``"24:00"`` as an end means up to the next local midnight, exclusive).

Daylight-saving changes follow from that definition, and business hours stay wall-clock times:

* **Gap (clocks spring forward).** Wall times that do not exist cover nothing. An interval that
  overlaps the gap is shorter by the skipped part (Europe/Berlin, last Sunday of March:
  ``00:00-06:00`` is 5 hours; ``02:00-03:00`` is empty that day; ``02:30-04:00`` starts at
  03:00 CEST, the first wall time after the gap, and is 1 hour long). A day with an hour skipped
  inside business hours has one hour less.
* **Overlap (clocks fall back).** Wall times that happen twice are covered both times: an
  interval containing the repeated hour is one hour longer (Berlin, last Sunday of October:
  ``00:00-06:00`` is 7 hours; ``01:00-02:30`` covers 01:00-02:30 CEST and then 02:00-02:30 CET
  again, 2 hours in all). So a ``00:00-24:00`` every-day calendar is exactly real elapsed time,
  the same as :meth:`Calendar.always`.
* Zones whose transitions happen at midnight (America/Santiago, America/Havana, Africa/Cairo)
  work the same way: a skipped 00:00-01:00 is simply absent, and a repeated 23:00-24:00 belongs
  to the earlier local date both times (holiday and weekday included).
* Offsets of 30 or 45 minutes (Asia/Kolkata, Australia/Adelaide, Asia/Kathmandu,
  Pacific/Chatham) and DST shifts of 30 minutes (Australia/Lord_Howe) need nothing special.

Counting
--------
* ``elapsed(start, end)`` is the measure of covered instants in ``[start, end)``; zero when
  ``end <= start``.
* ``add(start, minutes)`` starts counting at the *next covered instant* (``start`` itself when it
  is covered) and returns the earliest instant at which ``minutes`` of covered time have elapsed.
  Hence ``add(start, 0) == next_covered(start)`` (not ``start`` when ``start`` lies outside
  business hours), and a duration that runs out exactly at the end of an interval returns that
  end (17:00), not the start of the next interval (09:00 the next morning). Always
  ``elapsed(start, add(start, m)) == m``; ``add`` is non-decreasing in ``m`` and strictly
  increasing for ``m > 0``.
* A calendar without any covered time in the next :attr:`Calendar.SEARCH_YEARS` years (no
  business hours on any weekday, or every day a holiday) makes ``add`` and ``next_covered`` raise
  ``ValueError("no covered time within N years after ...")`` instead of looping.

How it works
------------
Time is walked one local day at a time, never minute by minute: each day's intervals are turned
into UTC spans using the zone's offset transitions (found once per zone and year by sampling
zoneinfo every 3 hours and bisecting to the second, then cached), so adding 90 business days
touches about 130 days. Two transitions of one zone less than 3 hours apart whose offsets cancel
out would be missed; no zone in the tz database does that in modern times.
"""

from __future__ import annotations

import bisect
import math
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any, NoReturn

__all__ = ["WEEKDAYS", "Calendar"]

# Same keys and order as tenants.models.WEEKDAYS (not imported: this module needs no Django).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_SECOND = 1_000_000  # microseconds
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_MINUTES_PER_DAY = 24 * 60

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ONE_US = timedelta(microseconds=1)

Span = tuple[int, int]  # [start, end) in microseconds since the Unix epoch (UTC)


# -- conversions ---------------------------------------------------------------------------


def _to_us(value: datetime, name: str) -> int:
    """Microseconds since the epoch of an aware datetime; naive ones are refused."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got the naive {value.isoformat()}.")
    return (value - _EPOCH) // _ONE_US


def _from_us(us: int, tz: tzinfo | None) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(tz)


def _duration_us(minutes: float | int | timedelta) -> int:
    """A non-negative duration (minutes as a number, or a timedelta) in microseconds."""
    if isinstance(minutes, timedelta):
        us = minutes // _ONE_US
    elif isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise TypeError(f"minutes must be a number or a timedelta, not {type(minutes).__name__}.")
    elif isinstance(minutes, int):
        us = minutes * _MINUTE
    else:
        if not math.isfinite(minutes):
            raise ValueError(f"minutes must be finite, got {minutes}.")
        us = round(minutes * _MINUTE)
    if us < 0:
        raise ValueError("A duration of covered time cannot be negative.")
    return us


def _year_start(year: int) -> int:
    return (date(year, 1, 1).toordinal() - _EPOCH_ORDINAL) * _DAY


def _year_of(us: int) -> int:
    return date.fromordinal(us // _DAY + _EPOCH_ORDINAL).year


def _parse_hhmm(value: object, where: str) -> int:
    """ "HH:MM" (or "24:00") as minutes after midnight."""
    if value == "24:00":
        return _MINUTES_PER_DAY
    if not isinstance(value, str):
        raise ValueError(f"{where}: {value!r} is not a time of day as HH:MM.")
    try:
        parsed = datetime.strptime(value, "%H:%M")  # noqa: DTZ007 (a wall-clock time)
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not a time of day as HH:MM.") from None
    return parsed.hour * 60 + parsed.minute


# -- a zone's offsets, as runs between transitions --------------------------------------------


class _ZoneOffsets:
    """The UTC offset of one zone as runs of constant offset, computed per year on demand.

    Transitions in the tz database happen at whole seconds, so they are searched in seconds.
    """

    STEP = 3 * 3600  # seconds between samples

    def __init__(self, zone: tzinfo) -> None:
        self._zone = zone
        self._years: dict[int, tuple[list[int], list[int]]] = {}

    def _offset(self, seconds: int) -> int:
        """The offset in microseconds at a Unix time in seconds."""
        offset = self._zone.utcoffset(datetime.fromtimestamp(seconds, self._zone))
        assert offset is not None  # noqa: S101 (a ZoneInfo always has one)
        return offset // _ONE_US

    def _year(self, year: int) -> tuple[list[int], list[int]]:
        """(run starts in microseconds, run offsets) of one UTC year, from 1 January."""
        cached = self._years.get(year)
        if cached is not None:
            return cached
        low, high = _year_start(year) // _SECOND, _year_start(year + 1) // _SECOND
        starts, offsets = [low], [self._offset(low)]
        before, before_offset = low, offsets[0]
        while before < high:
            after = min(before + self.STEP, high)
            after_offset = self._offset(after)
            if after_offset != before_offset:
                self._bisect(before, before_offset, after, after_offset, starts, offsets)
            before, before_offset = after, after_offset
        if starts[-1] >= high:  # a transition exactly at New Year belongs to the next year
            del starts[-1], offsets[-1]
        result = ([start * _SECOND for start in starts], offsets)
        self._years[year] = result
        return result

    def _bisect(
        self,
        low: int,
        low_offset: int,
        high: int,
        high_offset: int,
        starts: list[int],
        offsets: list[int],
    ) -> None:
        """Record the transition(s) in (low, high] (seconds)."""
        while low_offset != high_offset:
            a, b = low, high
            while b - a > 1:
                middle = (a + b) // 2
                if self._offset(middle) == low_offset:
                    a = middle
                else:
                    b = middle
            low, low_offset = b, self._offset(b)
            starts.append(low)
            offsets.append(low_offset)

    def segments(self, low: int, high: int) -> list[tuple[int, int, int]]:
        """[(start, end, offset)] covering the instants [low, high), in order."""
        out: list[tuple[int, int, int]] = []
        for year in range(_year_of(low), _year_of(high - 1) + 1):
            starts, offsets = self._year(year)
            year_end = _year_start(year + 1)
            count = len(starts)
            for i in range(max(bisect.bisect_right(starts, low) - 1, 0), count):
                start = starts[i]
                if start >= high:
                    break
                end = starts[i + 1] if i + 1 < count else year_end
                start, end = max(start, low), min(end, high)
                if start >= end:
                    continue
                offset = offsets[i]
                if out and out[-1][1] == start and out[-1][2] == offset:
                    out[-1] = (out[-1][0], end, offset)
                else:
                    out.append((start, end, offset))
        return out


@lru_cache(maxsize=256)
def _zone_offsets(key: str) -> _ZoneOffsets:
    return _ZoneOffsets(zoneinfo.ZoneInfo(key))


# -- the calendar ----------------------------------------------------------------------------


class Calendar:
    """Covered time of one tenant: weekly wall-clock business hours, holidays, a timezone.

    Build it with :meth:`from_tenant_fields` (a tenant's settings) or :meth:`always` (24x7).
    Immutable once built; safe to share. See the module docstring for the exact semantics.
    """

    #: How far ``add`` and ``next_covered`` look for covered time before giving up.
    SEARCH_YEARS = 5

    _DAY_CACHE_LIMIT = 20_000

    def __init__(
        self,
        timezone: str,
        weekly: Sequence[Sequence[tuple[int, int]]],
        holidays: Iterable[date] = (),
    ) -> None:
        """A calendar from parsed values.

        ``weekly`` has seven entries, Monday first, each a sorted list of non-overlapping
        ``(start_minute, end_minute)`` intervals with ``0 <= start < end <= 1440``.
        ``holidays`` are local dates without coverage. Most callers want
        :meth:`from_tenant_fields` instead.
        """
        try:
            zone = zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"{timezone!r} is not an IANA time zone.") from None
        if len(weekly) != 7:
            raise ValueError("weekly has one list of intervals per weekday, Monday first.")
        days: list[tuple[tuple[int, int], ...]] = []
        for name, intervals in zip(WEEKDAYS, weekly, strict=True):
            previous_end = 0
            parsed = []
            for start, end in intervals:
                if not 0 <= start < end <= _MINUTES_PER_DAY:
                    raise ValueError(f"{name}: interval {start}-{end} (minutes) is not valid.")
                if start < previous_end:
                    raise ValueError(f"{name}: intervals overlap or are out of order.")
                previous_end = end
                parsed.append((int(start), int(end)))
            days.append(tuple(parsed))
        self._timezone = timezone
        self._zone = zone
        self._weekly: tuple[tuple[tuple[int, int], ...], ...] = tuple(days)
        self._holidays: frozenset[int] = frozenset(day.toordinal() for day in holidays)
        self._offsets = _zone_offsets(timezone)
        self._always = False
        self._has_hours = any(self._weekly)
        self._days: dict[int, tuple[Span, ...]] = {}

    # -- construction --------------------------------------------------------------------

    @classmethod
    def from_tenant_fields(
        cls,
        timezone: str,
        business_hours: Mapping[str, Sequence[Sequence[str]]] | None,
        holidays: Sequence[Mapping[str, Any]] | None,
    ) -> Calendar:
        """A tenant's calendar from its ``timezone``, ``business_hours`` and ``holidays``.

        ``business_hours`` is ``{"mon": [["09:00", "17:00"]], ..., "sun": []}`` (a missing
        weekday has no hours; ``"24:00"`` may end an interval); ``holidays`` is
        ``[{"date": "YYYY-MM-DD", "name": ...}]`` with dates in the tenant's timezone.
        Invalid values raise ``ValueError`` (the same rules as the Tenant validators).
        """
        business_hours = business_hours or {}
        if not isinstance(business_hours, Mapping):
            raise ValueError("Business hours are an object keyed by weekday (mon ... sun).")
        unknown = set(business_hours) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"Unknown weekday(s): {', '.join(sorted(map(str, unknown)))}.")
        weekly = []
        for name in WEEKDAYS:
            intervals = business_hours.get(name) or []
            if not isinstance(intervals, list | tuple):
                raise ValueError(f"{name}: a list of [start, end] intervals.")
            parsed = []
            for interval in intervals:
                if not isinstance(interval, list | tuple) or len(interval) != 2:
                    raise ValueError(f'{name}: each interval is ["HH:MM", "HH:MM"].')
                start, end = (_parse_hhmm(part, name) for part in interval)
                if start >= end:
                    raise ValueError(f"{name}: {interval[0]}-{interval[1]} ends before it starts.")
                parsed.append((start, end))
            weekly.append(parsed)
        days = []
        for item in holidays or []:
            if not isinstance(item, Mapping) or not isinstance(item.get("date"), str):
                raise ValueError('Each holiday is {"date": "YYYY-MM-DD", "name": "..."}.')
            try:
                days.append(date.fromisoformat(item["date"]))
            except ValueError:
                raise ValueError(f"{item['date']!r} is not a date as YYYY-MM-DD.") from None
        return cls(timezone, weekly, days)

    @classmethod
    def always(cls) -> Calendar:
        """24x7 coverage: covered time is plain elapsed time (computed without walking days)."""
        calendar = cls("UTC", [[(0, _MINUTES_PER_DAY)]] * 7)
        calendar._always = True
        return calendar

    # -- queries ---------------------------------------------------------------------------

    @property
    def timezone(self) -> str:
        """The IANA name of the calendar's timezone."""
        return self._timezone

    def is_covered(self, at: datetime) -> bool:
        """Whether the instant ``at`` is covered (inside business hours, not on a holiday)."""
        us = _to_us(at, "at")
        if self._always:
            return True
        local = (_EPOCH + timedelta(microseconds=us)).astimezone(self._zone)
        day = local.toordinal()
        if day in self._holidays:
            return False
        into_day = (
            (local.hour * 60 + local.minute) * _MINUTE + local.second * _SECOND + local.microsecond
        )
        return any(
            start * _MINUTE <= into_day < end * _MINUTE
            for start, end in self._weekly[(day - 1) % 7]
        )

    def next_covered(self, at: datetime) -> datetime:
        """``at`` itself when covered, else the first covered instant after it.

        Returned in ``at``'s tzinfo. Raises ``ValueError`` when there is no covered time within
        :attr:`SEARCH_YEARS` years.
        """
        us = _to_us(at, "at")
        if self._always:
            return at
        for start, _end in self._spans(us, None):
            return _from_us(max(start, us), at.tzinfo)
        raise AssertionError("unreachable: _spans without an end raises instead of ending")

    def add(self, start: datetime, minutes: float | int | timedelta) -> datetime:
        """The instant at which ``minutes`` of covered time have elapsed after ``start``.

        ``minutes`` is a number of minutes (int or float) or a timedelta, never negative.
        Counting begins at the next covered instant, so ``add(start, 0)`` is
        ``next_covered(start)``; for a positive duration the result is the earliest instant
        ``t`` with ``elapsed(start, t) == minutes`` (an interval's end, such as 17:00, rather
        than the next morning's start). Returned in ``start``'s tzinfo. Raises ``ValueError``
        when the calendar has no covered time within :attr:`SEARCH_YEARS` years.
        """
        begin = _to_us(start, "start")
        remaining = _duration_us(minutes)
        if self._always:
            return _from_us(begin + remaining, start.tzinfo)
        for span_start, span_end in self._spans(begin, None):
            span_start = max(span_start, begin)
            if remaining <= span_end - span_start:
                return _from_us(span_start + remaining, start.tzinfo)
            remaining -= span_end - span_start
        raise AssertionError("unreachable: _spans without an end raises instead of ending")

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Covered time in ``[start, end)``; zero when ``end <= start``."""
        return timedelta(microseconds=self._elapsed_us(_to_us(start, "start"), _to_us(end, "end")))

    def elapsed_excluding(
        self,
        start: datetime,
        end: datetime,
        paused: Iterable[tuple[datetime, datetime | None]],
    ) -> timedelta:
        """Covered time in ``[start, end)`` minus the covered time inside the paused spans.

        Each pause is ``(paused_at, resumed_at)``; ``resumed_at`` ``None`` means still paused
        (until ``end``). Pauses may overlap each other and reach outside ``[start, end)``;
        covered time inside several pauses is subtracted once. A pause that ends before it
        starts pauses nothing.
        """
        low, high = _to_us(start, "start"), _to_us(end, "end")
        clipped: list[Span] = []
        for pause_start, pause_end in paused:
            a = max(_to_us(pause_start, "a pause's start"), low)
            b = high if pause_end is None else min(_to_us(pause_end, "a pause's end"), high)
            if a < b:
                clipped.append((a, b))
        clipped.sort()
        total = 0
        cursor = low
        for a, b in clipped:
            if a > cursor:
                total += self._elapsed_us(cursor, a)
            cursor = max(cursor, b)
        if cursor < high:
            total += self._elapsed_us(cursor, high)
        return timedelta(microseconds=total)

    def __repr__(self) -> str:
        if self._always:
            return "Calendar.always()"
        hours = {
            name: [f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in day]
            for name, day in zip(WEEKDAYS, self._weekly, strict=True)
            if day
        }
        return f"Calendar({self._timezone!r}, {hours}, {len(self._holidays)} holidays)"

    # -- internals -------------------------------------------------------------------------

    def _elapsed_us(self, low: int, high: int) -> int:
        if high <= low:
            return 0
        if self._always:
            return high - low
        total = 0
        for start, end in self._spans(low, high):
            total += min(end, high) - max(start, low)
        return total

    def _day_spans(self, day: int) -> tuple[Span, ...]:
        """The covered UTC spans of one local date (a proleptic ordinal), sorted, merged."""
        cached = self._days.get(day)
        if cached is not None:
            return cached
        intervals = self._weekly[(day - 1) % 7]  # ordinal 1 (0001-01-01) was a Monday
        if not intervals or day in self._holidays:
            spans: tuple[Span, ...] = ()
        else:
            midnight = (day - _EPOCH_ORDINAL) * _DAY  # the local wall clock, as if UTC
            # An instant t shows local time t + offset(t), and |offset| < 24 h.
            segments = self._offsets.segments(midnight - _DAY, midnight + 2 * _DAY)
            pieces: list[Span] = []
            for start_minute, end_minute in intervals:
                wall_start = midnight + start_minute * _MINUTE
                wall_end = midnight + end_minute * _MINUTE
                for segment_start, segment_end, offset in segments:
                    a = max(wall_start - offset, segment_start)
                    b = min(wall_end - offset, segment_end)
                    if a < b:
                        pieces.append((a, b))
            pieces.sort()
            merged: list[Span] = []
            for a, b in pieces:
                if merged and a <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
                else:
                    merged.append((a, b))
            spans = tuple(merged)
        if len(self._days) >= self._DAY_CACHE_LIMIT:
            self._days.clear()
        self._days[day] = spans
        return spans

    def _spans(self, low: int, high: int | None) -> Iterator[Span]:
        """Covered spans ending after ``low`` (and starting before ``high``), in order.

        Without ``high`` the walk goes on while there is coverage and raises ``ValueError`` after
        :attr:`SEARCH_YEARS` years without any.
        """
        if not self._has_hours:
            if high is not None:
                return
            self._raise_no_coverage(low)
        local_day = _from_us(low, self._zone).toordinal()
        # Local dates of later instants are at most two days earlier (|offset| < 24 h).
        day = local_day - 2
        pending: list[Span] = []
        progress = low
        horizon = self.SEARCH_YEARS * 366 * _DAY
        while True:
            spans = self._day_spans(day)
            if spans:
                pending.extend(spans)
                pending.sort()
            # An instant of a later local date shows a wall-clock time after the midnight ending
            # `day`, and its offset is under 24 h: it lies after `bound`, so pending spans that
            # start at or before `bound` come before anything still to be computed.
            bound = (day + 1 - _EPOCH_ORDINAL) * _DAY - _DAY
            finished = high is not None and bound >= high
            ready = len(pending) if finished else bisect.bisect_right(pending, (bound, math.inf))
            for span in pending[:ready]:
                if span[1] <= low:
                    continue
                if high is not None and span[0] >= high:
                    return
                progress = span[1]
                yield span
            del pending[:ready]
            if finished:
                return
            if high is None and not pending and bound - progress > horizon:
                self._raise_no_coverage(progress)
            day += 1

    def _raise_no_coverage(self, low: int) -> NoReturn:
        raise ValueError(
            f"no covered time within {self.SEARCH_YEARS} years after "
            f"{_from_us(low, UTC).isoformat()} in calendar {self!r}"
        )
