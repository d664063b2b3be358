"""Who is on call: pure computation over a schedule's layers and overrides (no database).

A schedule is a stack of layers, lowest first. Each layer rotates through its participants,
one shift each: shifts begin at the rotation's start and every `shift_hours` hours after it,
counted on the wall clock of the schedule's time zone, so a daily 09:00 hand-off is at 09:00
local time in summer and in winter (the day the clocks change is 23 or 25 hours long). A
layer may be restricted to weekly windows in local time ({"mon": [["09:00", "17:00"]], ...},
the format of a tenant's business hours); outside them it has nobody. Where a later layer has
somebody, it wins (as in PagerDuty); where it has nobody (no participants, outside its
windows, before its rotation starts) the layer below answers. Overrides win over every layer:
whoever an override names is on call for its whole span, in place of the layers.

Wall-clock times the clocks skip (02:30 on a spring-forward night in Europe) are read with the
offset before the change, so they fall an hour later (03:30); times the clocks repeat (02:30 on
a fall-back night) are their first occurrence.

Every moment given must be aware; every moment returned is in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS_PER_DAY = 24
HOURS_PER_WEEK = 7 * 24
OVERRIDE = "override"
ROTATION = "rotation"
# How far next_handoff() looks ahead before it answers "no hand-off".
HANDOFF_HORIZONS = (timedelta(days=2), timedelta(days=16), timedelta(days=64), timedelta(days=400))

Restriction = Mapping[str, Sequence[Sequence[str]]]


@dataclass(frozen=True)
class LayerSpec:
    participants: tuple[int, ...]
    rotation_start: datetime
    # The length of one shift in wall-clock hours of the schedule's time zone: 24 for a daily
    # rotation, 168 for a weekly one (hand-off on rotation_start's weekday).
    shift_hours: int
    # None: always; otherwise only inside these weekly windows (local time).
    restriction: Restriction | None = None


@dataclass(frozen=True)
class OverrideSpec:
    user_id: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ScheduleSpec:
    time_zone: str
    layers: tuple[LayerSpec, ...] = ()  # lowest first: a later layer wins where it has someone
    overrides: tuple[OverrideSpec, ...] = ()


@dataclass(frozen=True)
class Shift:
    """One person's uninterrupted time on call, and why: an override or the rotation."""

    user_id: int
    start: datetime
    end: datetime
    source: str  # OVERRIDE or ROTATION


Span = tuple[datetime, datetime]
# Who is on call over one stretch of time: (user id, source) pairs.
Who = tuple[tuple[int, str], ...]


# --- time ----------------------------------------------------------------------------------------
def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("rotation: aware datetimes only.")
    return moment.astimezone(UTC)


def _wall_clock(moment: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall-clock time of `moment` in `zone`."""
    return moment.astimezone(zone).replace(tzinfo=None)


def _moment(wall_clock: datetime, zone: ZoneInfo) -> datetime:
    """The moment (UTC) a naive wall-clock time names in `zone` (see the module docstring for
    skipped and repeated times: fold=0)."""
    return wall_clock.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _time_of_day(day: date, text: str) -> datetime:
    """`day` at "HH:MM" (naive); "24:00" is the next day's midnight."""
    hours, minutes = (int(part) for part in text.split(":"))
    if hours == 24 and minutes == 0:
        return datetime.combine(day + timedelta(days=1), time())
    return datetime.combine(day, time(hours, minutes))


def _merge(spans: list[Span]) -> list[Span]:
    """Sorted, overlapping or touching spans joined."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


# --- one layer ---------------------------------------------------------------------------------
def _rotation_segments(
    layer: LayerSpec, zone: ZoneInfo, lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime, int]]:
    """(start, end, user id) of each shift of the layer's rotation within [lo, hi)."""
    count = len(layer.participants)
    if not count or hi <= lo:
        return []
    if layer.shift_hours < 1:
        raise ValueError("rotation: a shift is at least one hour long.")
    origin = _wall_clock(layer.rotation_start, zone)
    step = timedelta(hours=layer.shift_hours)

    def handoff(k: int) -> datetime:
        return _moment(origin + k * step, zone)

    if handoff(0) >= hi:
        return []
    # The shift under way at `lo`: estimated on the wall clock, then settled on real moments
    # (the estimate is off by at most one around a change of the clocks).
    k = max(0, (_wall_clock(max(lo, handoff(0)), zone) - origin) // step)
    while k > 0 and handoff(k) > lo:
        k -= 1
    while handoff(k + 1) <= lo:
        k += 1
    segments = []
    previous_end = lo
    while (begin := handoff(k)) < hi:
        start, end = max(begin, previous_end), min(handoff(k + 1), hi)
        if start < end:
            segments.append((start, end, layer.participants[k % count]))
            previous_end = end
        k += 1
    return segments


def _restriction_windows(
    restriction: Restriction, zone: ZoneInfo, lo: datetime, hi: datetime
) -> list[Span]:
    """The layer's weekly windows as moments within [lo, hi), joined where they touch (Friday
    17:00-24:00 and Saturday 00:00-24:00 are one window)."""
    windows = []
    day = _wall_clock(lo, zone).date() - timedelta(days=1)
    last = _wall_clock(hi, zone).date() + timedelta(days=1)
    while day <= last:
        for start_text, end_text in restriction.get(WEEKDAYS[day.weekday()], ()):
            start = max(_moment(_time_of_day(day, start_text), zone), lo)
            end = min(_moment(_time_of_day(day, end_text), zone), hi)
            if start < end:
                windows.append((start, end))
        day += timedelta(days=1)
    return _merge(windows)


def _intersect(
    segments: list[tuple[datetime, datetime, int]], windows: list[Span]
) -> list[tuple[datetime, datetime, int]]:
    """The parts of each shift inside a window (both lists sorted and non-overlapping)."""
    found = []
    w = 0
    for start, end, user_id in segments:
        while w < len(windows) and windows[w][1] <= start:
            w += 1
        i = w
        while i < len(windows) and windows[i][0] < end:
            s, e = max(start, windows[i][0]), min(end, windows[i][1])
            if s < e:
                found.append((s, e, user_id))
            i += 1
    return found


def _layer_coverage(
    layer: LayerSpec, zone: ZoneInfo, lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime, int]]:
    segments = _rotation_segments(layer, zone, lo, hi)
    if layer.restriction is None or not segments:
        return segments
    return _intersect(segments, _restriction_windows(layer.restriction, zone, lo, hi))


# --- the whole schedule ------------------------------------------------------------------------
def _timeline(spec: ScheduleSpec, start: datetime, end: datetime) -> Iterator[tuple[Span, Who]]:
    """Consecutive stretches covering [start, end), each with who is on call throughout."""
    lo, hi = _utc(start), _utc(end)
    if hi <= lo:
        return
    zone = ZoneInfo(spec.time_zone)
    coverages = [_layer_coverage(layer, zone, lo, hi) for layer in spec.layers]
    begins: dict[datetime, list[int]] = {}
    ends: dict[datetime, list[int]] = {}
    for override in spec.overrides:
        o_start, o_end = max(_utc(override.start), lo), min(_utc(override.end), hi)
        if o_start < o_end:
            begins.setdefault(o_start, []).append(override.user_id)
            ends.setdefault(o_end, []).append(override.user_id)
    cuts = {lo, hi, *begins, *ends}
    for coverage in coverages:
        for s, e, _ in coverage:
            cuts.update((s, e))
    ordered = sorted(cuts)
    active: dict[int, int] = {}  # user id -> overrides of theirs under way
    pointers = [0] * len(coverages)
    for a, b in zip(ordered, ordered[1:], strict=False):
        for user_id in ends.get(a, ()):
            active[user_id] -= 1
        for user_id in begins.get(a, ()):
            active[user_id] = active.get(user_id, 0) + 1
        who: Who = tuple(sorted((u, OVERRIDE) for u, n in active.items() if n > 0))
        if not who:
            for index in reversed(range(len(coverages))):
                coverage, p = coverages[index], pointers[index]
                while p < len(coverage) and coverage[p][1] <= a:
                    p += 1
                pointers[index] = p
                if p < len(coverage) and coverage[p][0] <= a:
                    who = ((coverage[p][2], ROTATION),)
                    break
        yield (a, b), who


def on_call(spec: ScheduleSpec, at: datetime) -> list[int]:
    """The ids of who is on call at `at` (none, one, or everyone overrides name then)."""
    for _span, who in _timeline(spec, at, _utc(at) + timedelta(seconds=1)):
        return [user_id for user_id, _source in who]
    return []


def shifts(spec: ScheduleSpec, start: datetime, end: datetime) -> list[Shift]:
    """The final shifts within [start, end), after layers and overrides: one per person and
    uninterrupted stretch on call for the same reason (cut at the range's ends)."""
    done: list[Shift] = []
    open_: dict[tuple[int, str], tuple[datetime, datetime]] = {}
    for (a, b), who in _timeline(spec, start, end):
        current = set(who)
        for key in [key for key in open_ if key not in current]:
            begun, ended = open_.pop(key)
            done.append(Shift(key[0], begun, ended, key[1]))
        for key in current:
            begun = open_[key][0] if key in open_ else a
            open_[key] = (begun, b)
    done += [Shift(key[0], begun, ended, key[1]) for key, (begun, ended) in open_.items()]
    return sorted(done, key=lambda shift: (shift.start, shift.user_id, shift.source))


def next_handoff(spec: ScheduleSpec, at: datetime) -> datetime | None:
    """The next moment after `at` at which who is on call changes (None: not within about a
    year, e.g. a single participant around the clock)."""
    at = _utc(at)
    current = set(on_call(spec, at))
    lo = at
    for horizon in HANDOFF_HORIZONS:
        hi = at + horizon
        for (a, _b), who in _timeline(spec, lo, hi):
            if a > at and {user_id for user_id, _source in who} != current:
                return a
        lo = hi
    return None
