"""Business-time arithmetic (sla.calendar): edge cases, and properties against a slow reference.

Pure unit tests: no database. The reference below counts covered minutes one at a time from
the definition (an instant is covered when its local wall-clock time falls on a non-holiday
date inside one of that weekday's intervals), so every input to it is minute-aligned and every
zone used has whole-minute offsets in 2026.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, configuration, given, settings
from hypothesis import strategies as st

from sla.calendar import WEEKDAYS, Calendar

# Registered here and applied per test, so global Hypothesis configuration is left alone.
settings.register_profile(
    "sla-calendar",
    deadline=None,
    database=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = settings.get_profile("sla-calendar")


# database=None stores no examples, but Hypothesis also caches the constants it finds in the
# project's source under .hypothesis/constants, from test collection on. Unless somebody chose a
# place for its storage, point it at a temporary directory while this module is in use, and put
# the previous setting back after the module's tests.
_STORAGE = tempfile.TemporaryDirectory(prefix="hypothesis-sla-")
_PREVIOUS_HOME = getattr(configuration, "__hypothesis_home_directory", None)
if _PREVIOUS_HOME is None and not os.getenv("HYPOTHESIS_STORAGE_DIRECTORY"):
    configuration.set_hypothesis_home_dir(_STORAGE.name)


@pytest.fixture(autouse=True, scope="module")
def _restore_hypothesis_storage():
    yield
    configuration.set_hypothesis_home_dir(_PREVIOUS_HOME)


MINUTE = timedelta(minutes=1)
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

OFFICE = {day: [["09:00", "17:00"]] for day in WEEKDAYS[:5]} | {"sat": [], "sun": []}
EVERY_DAY = {day: [["00:00", "24:00"]] for day in WEEKDAYS}


def office(tz: str = "Europe/Berlin", holidays: list[str] = ()) -> Calendar:
    return Calendar.from_tenant_fields(tz, OFFICE, [{"date": d, "name": "x"} for d in holidays])


def every_day(tz: str, hours: list[list[str]], holidays: list[str] = ()) -> Calendar:
    return Calendar.from_tenant_fields(
        tz, {day: hours for day in WEEKDAYS}, [{"date": d, "name": "x"} for d in holidays]
    )


def at(tz: ZoneInfo | str, *parts: int, fold: int = 0) -> datetime:
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return datetime(*parts, tzinfo=zone, fold=fold)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def u(instant: datetime) -> datetime:
    """In UTC: datetimes sharing a tzinfo compare by wall clock, ignoring DST folds."""
    return instant.astimezone(UTC)


# -- the reference: minute by minute, straight from the definition ---------------------------


class Reference:
    """Slow and obviously right: looks at every minute (in UTC, so a minute is a minute)."""

    LIMIT = 21 * 24 * 60  # minutes a search may walk before giving up (returns None)

    def __init__(self, tz: str, business_hours: dict, holidays: list[dict]) -> None:
        self.zone = ZoneInfo(tz)
        self.holidays = {date.fromisoformat(h["date"]) for h in holidays}
        self.weekly = [
            [(self._minutes(a), self._minutes(b)) for a, b in business_hours.get(day, [])]
            for day in WEEKDAYS
        ]

    @staticmethod
    def _minutes(hhmm: str) -> int:
        hours, minutes = hhmm.split(":")
        return int(hours) * 60 + int(minutes)

    def covered(self, instant: datetime) -> bool:
        local = instant.astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in self.weekly[local.weekday()])

    def elapsed(self, start: datetime, end: datetime, paused=()) -> timedelta:
        start, end = u(start), u(end)
        pauses = [(u(a), end if b is None else u(b)) for a, b in paused]
        count = 0
        instant = start
        while instant < end:
            if self.covered(instant) and not any(a <= instant < b for a, b in pauses):
                count += 1
            instant += MINUTE
        return count * MINUTE

    def next_covered(self, start: datetime) -> datetime | None:
        instant = u(start)
        for _ in range(self.LIMIT):
            if self.covered(instant):
                return instant
            instant += MINUTE
        return None

    def add(self, start: datetime, minutes: int) -> datetime | None:
        if minutes == 0:
            return self.next_covered(start)
        count = 0
        instant = u(start)
        for _ in range(self.LIMIT):
            if self.covered(instant):
                count += 1
                if count == minutes:
                    return instant + MINUTE
            instant += MINUTE
        return None


# -- strategies ------------------------------------------------------------------------------

TIMEZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",  # +05:30
    "Australia/Adelaide",  # +09:30 / +10:30
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/St_Johns",  # -03:30 / -02:30
    "Pacific/Chatham",  # +12:45 / +13:45
    "Asia/Kathmandu",  # +05:45
    "America/Santiago",  # transitions at midnight: the repeated hour is 23:00-24:00
    "America/Havana",  # transitions at midnight and at 01:00
    "Africa/Cairo",  # 00:00 -> 01:00 in spring, 24:00 -> 23:00 in autumn
]


@cache
def transitions_2026(tz: str) -> tuple[datetime, ...]:
    """The zone's offset changes in 2026 (to the half hour), or mid-year if it has none."""
    zone = ZoneInfo(tz)
    found = []
    instant = utc(2026, 1, 1)
    previous = instant.astimezone(zone).utcoffset()
    while instant.year == 2026:
        instant += timedelta(minutes=30)
        offset = instant.astimezone(zone).utcoffset()
        if offset != previous:
            found.append(instant)
        previous = offset
    return tuple(found) or (utc(2026, 7, 1),)


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


boundary = st.one_of(
    st.integers(0, 96).map(lambda quarter: quarter * 15),
    st.sampled_from([0, 60, 90, 120, 150, 180, 210, 1380, 1410, 1440]),  # near DST changes
)


def _pairs(points: list[int]) -> list[list[str]]:
    points = sorted(set(points))
    return [[hhmm(a), hhmm(b)] for a, b in zip(points[::2], points[1::2], strict=False)]


day_hours = st.one_of(
    st.just([]),
    st.just([["00:00", "24:00"]]),
    st.just([["09:00", "17:00"]]),
    st.lists(boundary, max_size=6).map(_pairs),
)
business_hours = st.fixed_dictionaries({day: day_hours for day in WEEKDAYS})


@st.composite
def scenarios(draw, max_span_days: int = 6):
    """A random calendar and a minute-aligned window near one of its zone's DST changes."""
    tz = draw(st.sampled_from(TIMEZONES))
    anchor = draw(st.sampled_from(transitions_2026(tz)))
    start = anchor + MINUTE * draw(
        st.one_of(st.integers(-180, 180), st.integers(-6 * 1440, 3 * 1440))
    )
    length = MINUTE * draw(st.one_of(st.integers(0, 600), st.integers(0, max_span_days * 1440)))
    hours = draw(business_hours)
    local_anchor = anchor.astimezone(ZoneInfo(tz)).date()
    holiday_dates = draw(st.lists(st.integers(-8, 8), max_size=4, unique=True))
    holidays = [
        {"date": (local_anchor + timedelta(days=d)).isoformat(), "name": "h"} for d in holiday_dates
    ]
    # Hand the calendar instants in a zone other than UTC now and then: it must not matter.
    shown_in = ZoneInfo(draw(st.sampled_from(["UTC", tz, "Asia/Tokyo"])))
    return {
        "calendar": Calendar.from_tenant_fields(tz, hours, holidays),
        "reference": Reference(tz, hours, holidays),
        "start": start.astimezone(shown_in),
        "end": (start + length).astimezone(shown_in),
    }


# -- unit tests: the edges -------------------------------------------------------------------


class TestOfficeHours:
    def test_inside_hours(self):
        calendar = office()
        assert calendar.add(at(BERLIN, 2026, 1, 12, 10), 60) == at(BERLIN, 2026, 1, 12, 11)
        assert calendar.is_covered(at(BERLIN, 2026, 1, 12, 9))
        assert not calendar.is_covered(at(BERLIN, 2026, 1, 12, 17))

    def test_start_before_hours_counts_from_opening(self):
        calendar = office()
        monday_early = at(BERLIN, 2026, 1, 12, 7, 30)
        assert calendar.add(monday_early, 60) == at(BERLIN, 2026, 1, 12, 10)
        assert calendar.add(monday_early, 0) == at(BERLIN, 2026, 1, 12, 9)
        assert calendar.next_covered(monday_early) == at(BERLIN, 2026, 1, 12, 9)
        assert calendar.elapsed(monday_early, at(BERLIN, 2026, 1, 12, 10)) == timedelta(hours=1)

    def test_start_after_hours_counts_from_next_morning(self):
        calendar = office()
        assert calendar.add(at(BERLIN, 2026, 1, 12, 18), 60) == at(BERLIN, 2026, 1, 13, 10)

    def test_add_zero_inside_hours_is_start(self):
        start = at(BERLIN, 2026, 1, 12, 11, 17, 5, 123)
        assert office().add(start, 0) == start
        assert office().next_covered(start) == start

    def test_ending_exactly_at_closing_time_returns_closing_time(self):
        calendar = office()
        assert calendar.add(at(BERLIN, 2026, 1, 12, 15), 120) == at(BERLIN, 2026, 1, 12, 17)
        assert calendar.add(at(BERLIN, 2026, 1, 12, 15), 121) == at(BERLIN, 2026, 1, 13, 9, 1)

    def test_weekend_is_skipped(self):
        calendar = office()
        friday = at(BERLIN, 2026, 1, 16, 16)
        assert calendar.add(friday, 120) == at(BERLIN, 2026, 1, 19, 10)
        assert calendar.elapsed(friday, at(BERLIN, 2026, 1, 19, 10)) == timedelta(hours=2)
        assert not calendar.is_covered(at(BERLIN, 2026, 1, 17, 12))
        assert calendar.next_covered(at(BERLIN, 2026, 1, 17, 12)) == at(BERLIN, 2026, 1, 19, 9)

    def test_holiday_is_skipped(self):
        calendar = office(holidays=["2026-01-16"])  # the Friday
        thursday = at(BERLIN, 2026, 1, 15, 16)
        assert calendar.add(thursday, 120) == at(BERLIN, 2026, 1, 19, 10)
        assert not calendar.is_covered(at(BERLIN, 2026, 1, 16, 12))
        assert calendar.elapsed(thursday, at(BERLIN, 2026, 1, 19, 9)) == timedelta(hours=1)

    def test_holiday_is_a_local_date(self):
        # 2026-01-16 00:30 in Berlin is still the 15th in UTC: the tenant's date decides.
        calendar = every_day("Europe/Berlin", [["00:00", "24:00"]], holidays=["2026-01-16"])
        assert not calendar.is_covered(utc(2026, 1, 15, 23, 30))
        assert calendar.is_covered(utc(2026, 1, 15, 22, 59))
        assert calendar.next_covered(utc(2026, 1, 15, 23, 30)) == utc(2026, 1, 16, 23)

    def test_split_day(self):
        hours = {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]}
        calendar = Calendar.from_tenant_fields("Europe/Berlin", hours, [])
        monday = (2026, 1, 12)
        assert calendar.add(at(BERLIN, *monday, 11), 120) == at(BERLIN, *monday, 14)
        assert calendar.add(at(BERLIN, *monday, 11), 60) == at(BERLIN, *monday, 12)
        assert calendar.elapsed(at(BERLIN, *monday, 8), at(BERLIN, *monday, 18)) == timedelta(
            hours=7
        )
        assert not calendar.is_covered(at(BERLIN, *monday, 12, 30))
        assert calendar.next_covered(at(BERLIN, *monday, 12, 30)) == at(BERLIN, *monday, 13)
        # Nothing until next Monday.
        assert calendar.add(at(BERLIN, *monday, 16), 61) == at(BERLIN, 2026, 1, 19, 9, 1)

    def test_adjacent_intervals_behave_as_one(self):
        hours = {"mon": [["09:00", "12:00"], ["12:00", "17:00"]]}
        calendar = Calendar.from_tenant_fields("Europe/Berlin", hours, [])
        assert calendar.add(at(BERLIN, 2026, 1, 12, 11), 120) == at(BERLIN, 2026, 1, 12, 13)

    def test_interval_ending_at_midnight(self):
        hours = {"mon": [["18:00", "24:00"]], "tue": [["00:00", "06:00"]]}
        calendar = Calendar.from_tenant_fields("Europe/Berlin", hours, [])
        monday_night = at(BERLIN, 2026, 1, 12, 23)
        assert calendar.add(monday_night, 120) == at(BERLIN, 2026, 1, 13, 1)
        assert calendar.elapsed(
            at(BERLIN, 2026, 1, 12, 12), at(BERLIN, 2026, 1, 13, 12)
        ) == timedelta(hours=12)
        assert calendar.is_covered(at(BERLIN, 2026, 1, 12, 23, 59, 59, 999999))
        assert calendar.add(monday_night, 60) == at(BERLIN, 2026, 1, 13, 0)

    def test_fractional_and_timedelta_durations(self):
        calendar = office()
        start = at(BERLIN, 2026, 1, 12, 16, 59)
        assert calendar.add(start, 1.5) == at(BERLIN, 2026, 1, 13, 9, 0, 30)
        assert calendar.add(start, timedelta(seconds=61, microseconds=5)) == at(
            BERLIN, 2026, 1, 13, 9, 0, 1, 5
        )

    def test_result_is_in_the_start_timezone(self):
        start = utc(2026, 1, 12, 8)  # 09:00 in Berlin
        result = office().add(start, 60)
        assert result == at(BERLIN, 2026, 1, 12, 10)
        assert result.tzinfo is UTC
        assert office().add(start.astimezone(NEW_YORK), 60).tzinfo is NEW_YORK

    def test_elapsed_is_zero_when_end_is_not_after_start(self):
        calendar = office()
        start = at(BERLIN, 2026, 1, 12, 10)
        assert calendar.elapsed(start, start) == timedelta(0)
        assert calendar.elapsed(start, start - timedelta(hours=3)) == timedelta(0)

    def test_thirty_minute_offsets(self):
        kolkata = office("Asia/Kolkata")
        friday = at("Asia/Kolkata", 2026, 1, 16, 16, 30)
        assert kolkata.add(friday, 60) == at("Asia/Kolkata", 2026, 1, 19, 9, 30)
        assert kolkata.add(friday, 60) == utc(2026, 1, 19, 4)
        adelaide = office("Australia/Adelaide")
        assert adelaide.next_covered(utc(2026, 1, 11, 22)) == utc(2026, 1, 11, 22, 30)

    def test_ninety_business_days_is_exact(self):
        calendar = office("America/New_York", holidays=["2026-05-25", "2026-07-03"])
        start = at(NEW_YORK, 2026, 3, 2, 10)
        ninety_days = 90 * 8 * 60
        due = Calendar.from_tenant_fields(calendar.timezone, OFFICE, []).add(start, ninety_days)
        # 90 weekdays from Monday 2 March, no holidays: 18 weeks later, Monday 6 July, 10:00.
        assert due == at(NEW_YORK, 2026, 7, 6, 10)
        assert calendar.add(start, ninety_days) == at(NEW_YORK, 2026, 7, 8, 10)
        assert calendar.elapsed(start, due) == timedelta(hours=88 * 8)


class TestDaylightSaving:
    # 2026: Europe/Berlin springs forward on Sunday 29 March (02:00 -> 03:00) and falls back
    # on Sunday 25 October (03:00 -> 02:00); America/New_York on Sunday 8 March and 1 November.

    def test_every_day_calendar_is_real_elapsed_time(self):
        for tz in ("Europe/Berlin", "America/New_York"):
            calendar = Calendar.from_tenant_fields(tz, EVERY_DAY, [])
            for day in (date(2026, 3, 29), date(2026, 3, 8), date(2026, 10, 25), date(2026, 11, 1)):
                eve = day - timedelta(days=1)
                start = at(tz, eve.year, eve.month, eve.day, 12)
                end = u(start) + timedelta(hours=48)
                assert calendar.elapsed(start, end) == timedelta(hours=48)
                assert u(calendar.add(start, 48 * 60)) == end
                assert u(Calendar.always().add(start, 48 * 60)) == end

    def test_every_day_calendar_day_lengths(self):
        calendar = Calendar.from_tenant_fields("Europe/Berlin", EVERY_DAY, [])
        spring = calendar.elapsed(at(BERLIN, 2026, 3, 29), at(BERLIN, 2026, 3, 30))
        autumn = calendar.elapsed(at(BERLIN, 2026, 10, 25), at(BERLIN, 2026, 10, 26))
        assert (spring, autumn) == (timedelta(hours=23), timedelta(hours=25))
        # 24 hours of covered time from Saturday noon end at Sunday 13:00 on the wall clock.
        assert calendar.add(at(BERLIN, 2026, 3, 28, 12), 24 * 60) == at(BERLIN, 2026, 3, 29, 13)
        assert calendar.add(at(BERLIN, 2026, 10, 24, 12), 24 * 60) == at(BERLIN, 2026, 10, 25, 11)

    @pytest.mark.parametrize(
        ("tz", "spring", "autumn"),
        [
            ("Europe/Berlin", date(2026, 3, 29), date(2026, 10, 25)),
            ("America/New_York", date(2026, 3, 8), date(2026, 11, 1)),
        ],
    )
    def test_hour_skipped_or_repeated_inside_business_hours(self, tz, spring, autumn):
        calendar = every_day(tz, [["00:00", "06:00"], ["09:00", "17:00"]])

        def day_total(day: date) -> timedelta:
            return calendar.elapsed(
                at(tz, day.year, day.month, day.day), at(tz, day.year, day.month, day.day, 23)
            )

        assert day_total(spring) == timedelta(hours=13)
        assert day_total(autumn) == timedelta(hours=15)
        assert day_total(spring - timedelta(days=1)) == timedelta(hours=14)
        # Opening hours later in the day are the usual wall-clock times.
        nine = at(tz, spring.year, spring.month, spring.day, 9)
        assert calendar.next_covered(at(tz, spring.year, spring.month, spring.day, 7)) == nine

    def test_interval_inside_the_gap_is_empty(self):
        calendar = every_day("Europe/Berlin", [["02:00", "03:00"]])
        saturday, sunday = at(BERLIN, 2026, 3, 28), at(BERLIN, 2026, 3, 29)
        assert calendar.elapsed(saturday, sunday) == timedelta(hours=1)
        assert calendar.elapsed(sunday, sunday + timedelta(hours=23)) == timedelta(0)
        assert calendar.next_covered(sunday) == at(BERLIN, 2026, 3, 30, 2)

    def test_interval_starting_in_the_gap_starts_after_it(self):
        calendar = every_day("Europe/Berlin", [["02:30", "04:00"]])
        sunday = at(BERLIN, 2026, 3, 29)
        assert calendar.next_covered(sunday) == at(BERLIN, 2026, 3, 29, 3)
        assert calendar.next_covered(sunday) == utc(2026, 3, 29, 1)
        assert calendar.add(sunday, 60) == at(BERLIN, 2026, 3, 29, 4)
        assert calendar.add(sunday, 61) == at(BERLIN, 2026, 3, 30, 2, 31)

    def test_repeated_wall_times_are_covered_twice(self):
        calendar = every_day("Europe/Berlin", [["01:00", "02:30"]])
        first_pass = at(BERLIN, 2026, 10, 25, 1)  # 23:00 UTC the day before
        assert calendar.elapsed(first_pass, at(BERLIN, 2026, 10, 25, 12)) == timedelta(hours=2)
        # 90 minutes run out at the end of the first pass (02:30 CEST), the 91st minute is
        # the first of the second pass (02:00 CET).
        assert u(calendar.add(first_pass, 90)) == utc(2026, 10, 25, 0, 30)
        assert u(calendar.add(first_pass, 91)) == utc(2026, 10, 25, 1, 1)
        assert u(calendar.add(first_pass, 91)) == u(at(BERLIN, 2026, 10, 25, 2, 1, fold=1))
        assert calendar.add(first_pass, 91).fold == 1  # 02:01 CET, the second time
        assert calendar.is_covered(at(BERLIN, 2026, 10, 25, 2, 15, fold=0))
        assert calendar.is_covered(at(BERLIN, 2026, 10, 25, 2, 15, fold=1))

    def test_new_york_fall_back_inside_hours(self):
        calendar = every_day("America/New_York", [["00:30", "03:00"]])
        start = at(NEW_YORK, 2026, 11, 1)
        # 00:30-01:00 EDT, 01:00-02:00 EDT, 01:00-02:00 EST, 02:00-03:00 EST.
        assert calendar.elapsed(start, at(NEW_YORK, 2026, 11, 1, 12)) == timedelta(hours=3.5)
        assert calendar.add(start, 3 * 60) == at(NEW_YORK, 2026, 11, 1, 2, 30)

    def test_business_week_across_the_change(self):
        calendar = office()
        friday = at(BERLIN, 2026, 3, 27, 15)  # CET
        monday = calendar.add(friday, 180)
        assert monday == at(BERLIN, 2026, 3, 30, 10)  # CEST
        assert u(monday) - u(friday) == timedelta(days=2, hours=18)
        assert calendar.elapsed(friday, monday) == timedelta(hours=3)

    def test_midnight_transitions(self):
        # Santiago falls back at Sunday 5 April 00:00 -> Saturday 23:00 (the hour is
        # Saturday's twice) and springs forward at Sunday 6 September 00:00 -> 01:00.
        tz = "America/Santiago"
        late = Calendar.from_tenant_fields(tz, {"sat": [["22:00", "24:00"]]}, [])
        saturday = at(tz, 2026, 4, 4, 12)
        assert late.elapsed(saturday, saturday + timedelta(days=1)) == timedelta(hours=3)
        assert u(late.add(saturday, 150)) == utc(2026, 4, 5, 3, 30)  # 23:30 the second time
        holiday = Calendar.from_tenant_fields(
            tz, {"sat": [["22:00", "24:00"]]}, [{"date": "2026-04-04", "name": "x"}]
        )
        assert holiday.elapsed(saturday, saturday + timedelta(days=1)) == timedelta(0)
        early = Calendar.from_tenant_fields(tz, {"sun": [["00:00", "02:00"]]}, [])
        # 00:00 does not exist that day: coverage begins at 01:00.
        assert u(early.next_covered(at(tz, 2026, 9, 5, 12))) == u(at(tz, 2026, 9, 6, 1))
        assert early.elapsed(at(tz, 2026, 9, 5, 12), at(tz, 2026, 9, 7)) == timedelta(hours=1)

    def test_half_hour_shift(self):
        # Lord Howe Island moves its clocks by 30 minutes: 02:00 -> 01:30 on 5 April 2026.
        calendar = every_day("Australia/Lord_Howe", [["01:00", "03:00"]])
        day = at("Australia/Lord_Howe", 2026, 4, 5)
        assert calendar.elapsed(day, day + timedelta(hours=12)) == timedelta(hours=2.5)

    def test_adelaide_fall_back(self):
        calendar = every_day("Australia/Adelaide", [["00:00", "06:00"]])
        day = at("Australia/Adelaide", 2026, 4, 5)
        assert calendar.elapsed(day, day + timedelta(hours=12)) == timedelta(hours=7)


class TestAlways:
    def test_equals_wall_clock_arithmetic_in_utc(self):
        calendar = Calendar.always()
        start = at(BERLIN, 2026, 3, 28, 23, 59, 1, 7)  # the eve of a spring-forward day
        for minutes in (0, 1, 59.5, 24 * 60, 30 * 24 * 60):
            assert u(calendar.add(start, minutes)) == u(start) + timedelta(minutes=minutes)
        end = at(BERLIN, 2026, 10, 26, 3)
        assert calendar.elapsed(start, end) == end.astimezone(UTC) - start.astimezone(UTC)
        assert calendar.is_covered(start)
        assert calendar.next_covered(start) == start

    def test_matches_a_walked_every_day_calendar(self):
        walked = Calendar.from_tenant_fields("Australia/Sydney", EVERY_DAY, [])
        start = at("Australia/Sydney", 2026, 4, 1, 8, 30)
        for minutes in (0, 1, 5000, 90 * 1440):
            assert u(walked.add(start, minutes)) == u(Calendar.always().add(start, minutes))


class TestNoCoverage:
    def test_empty_business_hours(self):
        calendar = Calendar.from_tenant_fields("Europe/Berlin", {d: [] for d in WEEKDAYS}, [])
        start = at(BERLIN, 2026, 1, 12, 10)
        with pytest.raises(ValueError, match="no covered time within 5 years"):
            calendar.add(start, 60)
        with pytest.raises(ValueError, match="no covered time within 5 years"):
            calendar.add(start, 0)
        with pytest.raises(ValueError, match="no covered time within 5 years"):
            calendar.next_covered(start)
        assert calendar.elapsed(start, start + timedelta(days=400)) == timedelta(0)
        assert not calendar.is_covered(start)

    def test_every_day_a_holiday(self):
        first = date(2026, 1, 1)
        holidays = [{"date": (first + timedelta(days=n)).isoformat()} for n in range(366 * 7)]
        calendar = Calendar.from_tenant_fields("Europe/Berlin", OFFICE, holidays)
        start = at(BERLIN, 2026, 1, 12, 10)
        began = time.perf_counter()
        with pytest.raises(ValueError, match="no covered time within 5 years"):
            calendar.add(start, 60)
        assert time.perf_counter() - began < 2
        assert calendar.elapsed(start, start + timedelta(days=30)) == timedelta(0)
        # Coverage after the search horizon is still found by a search starting nearer to it.
        assert calendar.next_covered(at(BERLIN, 2032, 12, 1)) == at(BERLIN, 2033, 1, 6, 9)

    def test_coverage_starting_years_later_is_found(self):
        first = date(2026, 1, 1)
        holidays = [{"date": (first + timedelta(days=n)).isoformat()} for n in range(3 * 365)]
        calendar = Calendar.from_tenant_fields("UTC", OFFICE, holidays)
        assert calendar.add(utc(2026, 1, 1), 60) == utc(2029, 1, 1, 10)


class TestPauses:
    def test_overlapping_and_open_pauses(self):
        calendar = office()
        start, end = at(BERLIN, 2026, 1, 12, 9), at(BERLIN, 2026, 1, 14, 17)  # 24 h covered
        paused = [
            (at(BERLIN, 2026, 1, 12, 10), at(BERLIN, 2026, 1, 12, 12)),
            (at(BERLIN, 2026, 1, 12, 11), at(BERLIN, 2026, 1, 12, 13)),  # overlaps the first
            (at(BERLIN, 2026, 1, 12, 16), at(BERLIN, 2026, 1, 13, 10)),  # spans the night
            (at(BERLIN, 2026, 1, 14, 15), None),  # still paused
        ]
        assert calendar.elapsed(start, end) == timedelta(hours=24)
        assert calendar.elapsed_excluding(start, end, paused) == timedelta(hours=24 - 3 - 2 - 2)

    def test_pauses_outside_the_window_and_backwards(self):
        calendar = office()
        start, end = at(BERLIN, 2026, 1, 12, 12), at(BERLIN, 2026, 1, 12, 16)
        paused = [
            (at(BERLIN, 2026, 1, 12, 8), at(BERLIN, 2026, 1, 12, 13)),  # began before start
            (at(BERLIN, 2026, 1, 12, 15, 30), at(BERLIN, 2026, 1, 12, 18)),  # past the end
            (at(BERLIN, 2026, 1, 12, 15), at(BERLIN, 2026, 1, 12, 14)),  # backwards: nothing
            (at(BERLIN, 2026, 1, 13, 9), None),  # after the end
        ]
        assert calendar.elapsed_excluding(start, end, paused) == timedelta(hours=2.5)
        assert calendar.elapsed_excluding(start, end, []) == timedelta(hours=4)
        assert calendar.elapsed_excluding(end, start, paused) == timedelta(0)

    def test_open_pause_from_the_start_stops_the_clock(self):
        calendar = Calendar.always()
        start = utc(2026, 1, 1)
        assert calendar.elapsed_excluding(start, start + timedelta(days=9), [(start, None)]) == (
            timedelta(0)
        )


class TestBadInput:
    def test_naive_datetimes_are_refused(self):
        calendar = office()
        naive = datetime(2026, 1, 12, 10)  # noqa: DTZ001
        aware = at(BERLIN, 2026, 1, 12, 10)
        for call in (
            lambda: calendar.add(naive, 5),
            lambda: calendar.elapsed(naive, aware),
            lambda: calendar.elapsed(aware, naive),
            lambda: calendar.elapsed_excluding(aware, aware, [(naive, None)]),
            lambda: calendar.elapsed_excluding(aware, aware, [(aware, naive)]),
            lambda: calendar.next_covered(naive),
            lambda: calendar.is_covered(naive),
            lambda: Calendar.always().add(naive, 5),
        ):
            with pytest.raises(ValueError, match="timezone-aware"):
                call()

    def test_negative_or_odd_durations(self):
        start = at(BERLIN, 2026, 1, 12, 10)
        for minutes in (-1, -0.5, timedelta(seconds=-1), float("nan"), float("inf")):
            with pytest.raises(ValueError):
                office().add(start, minutes)
        with pytest.raises(TypeError):
            office().add(start, "60")

    @pytest.mark.parametrize(
        ("tz", "hours", "holidays"),
        [
            ("Mars/Olympus", OFFICE, []),
            ("Europe/Berlin", {"mon": [["17:00", "09:00"]]}, []),
            ("Europe/Berlin", {"mon": [["09:00", "12:00"], ["11:00", "17:00"]]}, []),
            ("Europe/Berlin", {"mon": [["09:00", "25:00"]]}, []),
            ("Europe/Berlin", {"mon": [["09:00"]]}, []),
            ("Europe/Berlin", {"monday": [["09:00", "17:00"]]}, []),
            ("Europe/Berlin", OFFICE, [{"date": "2026-02-30"}]),
            ("Europe/Berlin", OFFICE, ["2026-12-25"]),
        ],
    )
    def test_invalid_settings(self, tz, hours, holidays):
        with pytest.raises(ValueError):
            Calendar.from_tenant_fields(tz, hours, holidays)


# -- properties ------------------------------------------------------------------------------


durations = st.one_of(st.integers(0, 600), st.integers(0, 60 * 24 * 60))


@PROFILE
@given(case=scenarios(), minutes=durations)
def test_elapsed_of_add_is_the_duration(case, minutes):
    calendar, start = case["calendar"], case["start"]
    try:
        due = calendar.add(start, minutes)
    except ValueError:
        assert not any(calendar._weekly)  # only a calendar without any hours finds nothing
        return
    assert u(due) >= u(start)
    assert calendar.elapsed(start, due) == timedelta(minutes=minutes)
    assert calendar.is_covered(calendar.add(start, 0))


@PROFILE
@given(
    case=scenarios(),
    offset=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=1)),
    duration=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)),
)
def test_elapsed_of_add_is_the_duration_to_the_microsecond(case, offset, duration):
    calendar, start = case["calendar"], case["start"] + offset
    if not any(calendar._weekly):
        return
    due = calendar.add(start, duration)
    assert calendar.elapsed(start, due) == duration
    if duration:  # the earliest such instant
        assert calendar.elapsed(start, u(due) - timedelta(microseconds=1)) < duration


@PROFILE
@given(case=scenarios(), a=durations, b=durations, later=st.integers(0, 3 * 1440))
def test_add_is_monotonic(case, a, b, later):
    calendar, start = case["calendar"], case["start"]
    if not any(calendar._weekly):
        return
    low, high = sorted((a, b))
    if low < high:
        assert u(calendar.add(start, low)) < u(calendar.add(start, high))
    else:
        assert u(calendar.add(start, low)) == u(calendar.add(start, high))
    assert u(calendar.add(start, 0)) <= u(calendar.add(start, low))
    assert u(calendar.add(start, low)) <= u(calendar.add(u(start) + MINUTE * later, low))


@settings(PROFILE, max_examples=120)
@given(case=scenarios(), minutes=st.one_of(st.integers(0, 120), st.integers(0, 4 * 1440)))
def test_matches_the_minute_by_minute_reference(case, minutes):
    calendar, reference = case["calendar"], case["reference"]
    start, end = case["start"], case["end"]
    assert calendar.elapsed(start, end) == reference.elapsed(start, end)
    assert calendar.is_covered(start) == reference.covered(start)
    assert calendar.is_covered(end) == reference.covered(end)
    expected_next = reference.next_covered(start)
    if expected_next is not None:
        assert u(calendar.next_covered(start)) == expected_next
    expected_due = reference.add(start, minutes)
    if expected_due is not None:
        assert u(calendar.add(start, minutes)) == expected_due
    elif any(calendar._weekly):
        assert u(calendar.add(start, minutes)) - u(start) > Reference.LIMIT * MINUTE


pauses = st.lists(
    st.tuples(
        st.integers(-1440, 7 * 1440),
        st.one_of(st.none(), st.integers(0, 3 * 1440)),
    ),
    max_size=4,
)


@settings(PROFILE, max_examples=80)
@given(case=scenarios(), spans=pauses)
def test_elapsed_excluding_matches_the_reference(case, spans):
    calendar, reference = case["calendar"], case["reference"]
    start, end = case["start"], case["end"]
    paused = [
        (u(start) + MINUTE * a, None if length is None else u(start) + MINUTE * (a + length))
        for a, length in spans
    ]
    assert calendar.elapsed_excluding(start, end, paused) == reference.elapsed(start, end, paused)
