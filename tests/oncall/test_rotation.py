"""oncall.rotation on its own: rotations, hand-offs on the local wall clock across changes of
the clocks (both ways, two zones), restrictions, layers, overrides. Fixed dates, no database,
no clock: the functions take the moment they answer for."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from oncall.rotation import (
    OVERRIDE,
    ROTATION,
    LayerSpec,
    OverrideSpec,
    ScheduleSpec,
    Shift,
    next_handoff,
    on_call,
    shifts,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4
WORKDAYS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def daily(*participants: int, start: datetime, restriction=None) -> LayerSpec:
    return LayerSpec(tuple(participants), start, 24, restriction)


def schedule(*layers: LayerSpec, overrides=(), zone: str = "Europe/Berlin") -> ScheduleSpec:
    return ScheduleSpec(zone, tuple(layers), tuple(overrides))


# --- rotations ---------------------------------------------------------------------------------
def test_a_daily_rotation_hands_off_at_the_local_time_of_its_start():
    spec = schedule(daily(ALICE, BOB, CAROL, start=berlin(2026, 6, 1, 9)))
    assert on_call(spec, berlin(2026, 6, 1, 9)) == [ALICE]
    assert on_call(spec, berlin(2026, 6, 2, 8, 59)) == [ALICE]
    assert on_call(spec, berlin(2026, 6, 2, 9)) == [BOB]
    assert on_call(spec, berlin(2026, 6, 3, 23)) == [CAROL]
    assert on_call(spec, berlin(2026, 6, 4, 9)) == [ALICE]  # round again
    assert on_call(spec, berlin(2026, 6, 30, 10)) == [[ALICE, BOB, CAROL][29 % 3]]  # day 30


def test_nobody_is_on_call_before_the_rotation_starts():
    spec = schedule(daily(ALICE, BOB, start=berlin(2026, 6, 1, 9)))
    assert on_call(spec, berlin(2026, 6, 1, 8, 59)) == []
    assert next_handoff(spec, berlin(2026, 5, 30)) == berlin(2026, 6, 1, 9).astimezone(UTC)


def test_a_weekly_rotation_hands_off_on_the_weekday_of_its_start():
    monday = berlin(2026, 6, 1, 10)  # a Monday
    spec = schedule(LayerSpec((ALICE, BOB), monday, 168))
    assert on_call(spec, berlin(2026, 6, 7, 23)) == [ALICE]  # Sunday night
    assert on_call(spec, berlin(2026, 6, 8, 9, 59)) == [ALICE]
    assert on_call(spec, berlin(2026, 6, 8, 10)) == [BOB]
    assert on_call(spec, berlin(2026, 6, 15, 10)) == [ALICE]
    assert next_handoff(spec, berlin(2026, 6, 3)) == berlin(2026, 6, 8, 10).astimezone(UTC)


def test_a_rotation_far_in_the_past_is_computed_not_walked():
    spec = schedule(daily(ALICE, BOB, start=berlin(1990, 1, 1, 9)))
    days = (date(2026, 6, 1) - date(1990, 1, 1)).days
    assert on_call(spec, berlin(2026, 6, 1, 12)) == [[ALICE, BOB][days % 2]]


# --- the clocks change -------------------------------------------------------------------------
def test_a_daily_handoff_stays_at_nine_local_when_berlin_springs_forward():
    # 29 March 2026: 02:00 CET becomes 03:00 CEST; 28 March's shift lasts 23 hours.
    spec = schedule(daily(ALICE, BOB, start=berlin(2026, 3, 23, 9)))
    found = shifts(spec, berlin(2026, 3, 27, 9), berlin(2026, 3, 31, 9))
    assert [(s.user_id, s.start, s.end) for s in found] == [
        (ALICE, utc(2026, 3, 27, 8), utc(2026, 3, 28, 8)),
        (BOB, utc(2026, 3, 28, 8), utc(2026, 3, 29, 7)),
        (ALICE, utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)),
        (BOB, utc(2026, 3, 30, 7), utc(2026, 3, 31, 7)),
    ]
    assert found[1].end - found[1].start == timedelta(hours=23)
    assert all(s.start.astimezone(BERLIN).hour == 9 for s in found)


def test_a_daily_handoff_stays_at_nine_local_when_berlin_falls_back():
    # 25 October 2026: 03:00 CEST becomes 02:00 CET; 24 October's shift lasts 25 hours.
    spec = schedule(daily(ALICE, BOB, start=berlin(2026, 10, 19, 9)))
    found = shifts(spec, berlin(2026, 10, 24, 9), berlin(2026, 10, 26, 9))
    assert [(s.user_id, s.start, s.end) for s in found] == [
        (BOB, utc(2026, 10, 24, 7), utc(2026, 10, 25, 8)),
        (ALICE, utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)),
    ]
    assert found[0].end - found[0].start == timedelta(hours=25)
    assert next_handoff(spec, berlin(2026, 10, 24, 12)) == utc(2026, 10, 25, 8)


def test_new_york_handoffs_in_the_hour_the_clocks_skip_and_repeat():
    ny = lambda *a: datetime(*a, tzinfo=NEW_YORK)  # noqa: E731
    # 8 March 2026 has no 02:30 (02:00 EST -> 03:00 EDT): a 02:30 hand-off is at 03:30 EDT.
    spring = ScheduleSpec("America/New_York", (LayerSpec((ALICE, BOB), ny(2026, 3, 1, 2, 30), 24),))
    assert next_handoff(spring, ny(2026, 3, 7, 12)) == utc(2026, 3, 8, 7, 30)  # 03:30 EDT
    assert next_handoff(spring, ny(2026, 3, 8, 12)) == utc(2026, 3, 9, 6, 30)  # 02:30 EDT
    found = shifts(spring, ny(2026, 3, 6, 12), ny(2026, 3, 10, 12))
    assert [s.user_id for s in found] == [BOB, ALICE, BOB, ALICE, BOB]  # one hand-off a day
    # 1 November 2026 has 01:30 twice (02:00 EDT -> 01:00 EST): the hand-off is the first.
    fall = ScheduleSpec("America/New_York", (LayerSpec((ALICE, BOB), ny(2026, 10, 1, 1, 30), 24),))
    assert next_handoff(fall, ny(2026, 10, 31, 12)) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert next_handoff(fall, ny(2026, 11, 1, 12)) == utc(2026, 11, 2, 6, 30)  # 01:30 EST
    found = shifts(fall, ny(2026, 10, 31, 12), ny(2026, 11, 2, 12))
    assert [s.end - s.start for s in found][1] == timedelta(hours=25)


def test_a_twelve_hour_rotation_keeps_its_wall_clock_times_across_the_change():
    spec = schedule(LayerSpec((ALICE, BOB), berlin(2026, 3, 20, 8), 12))
    found = shifts(spec, berlin(2026, 3, 28, 8), berlin(2026, 3, 30, 8))
    assert [s.start.astimezone(BERLIN).hour for s in found] == [8, 20, 8, 20]
    assert [s.user_id for s in found] == [ALICE, BOB, ALICE, BOB]
    assert found[1].end - found[1].start == timedelta(hours=11)  # the short night


# --- restrictions ------------------------------------------------------------------------------
def test_a_restricted_layer_has_nobody_outside_its_windows():
    spec = schedule(daily(ALICE, start=berlin(2026, 6, 1, 0), restriction=WORKDAYS))
    assert on_call(spec, berlin(2026, 6, 3, 10)) == [ALICE]  # Wednesday 10:00
    assert on_call(spec, berlin(2026, 6, 3, 17)) == []
    assert on_call(spec, berlin(2026, 6, 6, 10)) == []  # Saturday
    assert next_handoff(spec, berlin(2026, 6, 3, 10)) == berlin(2026, 6, 3, 17).astimezone(UTC)
    assert next_handoff(spec, berlin(2026, 6, 5, 18)) == berlin(2026, 6, 8, 9).astimezone(UTC)


def test_restrictions_are_local_time_on_both_sides_of_a_change_of_the_clocks():
    spec = schedule(daily(ALICE, start=berlin(2026, 3, 1, 0), restriction=WORKDAYS))
    found = shifts(spec, berlin(2026, 3, 27), berlin(2026, 3, 31))
    assert [(s.start, s.end) for s in found] == [
        (utc(2026, 3, 27, 8), utc(2026, 3, 27, 16)),  # Friday, CET
        (utc(2026, 3, 30, 7), utc(2026, 3, 30, 15)),  # Monday, CEST
    ]


def test_a_restricted_window_falls_through_to_the_layer_below():
    base = daily(CAROL, DAVE, start=berlin(2026, 6, 1, 9))
    business = daily(ALICE, BOB, start=berlin(2026, 6, 1, 9), restriction=WORKDAYS)
    spec = schedule(base, business)
    assert on_call(spec, berlin(2026, 6, 2, 12)) == [BOB]  # Tuesday noon: business layer
    assert on_call(spec, berlin(2026, 6, 2, 20)) == [DAVE]  # Tuesday evening: base
    assert on_call(spec, berlin(2026, 6, 6, 12)) == [DAVE]  # Saturday: base (Jun 5 09:00 shift)
    day = shifts(spec, berlin(2026, 6, 2, 9), berlin(2026, 6, 3, 9))
    assert [(s.user_id, s.start.astimezone(BERLIN).hour) for s in day] == [(BOB, 9), (DAVE, 17)]


def test_windows_that_touch_at_midnight_make_one_shift():
    weekend = {
        "fri": [["17:00", "24:00"]],
        "sat": [["00:00", "24:00"]],
        "sun": [["00:00", "24:00"]],
    }
    weekend["mon"] = [["00:00", "09:00"]]
    spec = schedule(LayerSpec((ALICE,), berlin(2026, 1, 2, 17), 168, weekend))
    found = shifts(spec, berlin(2026, 6, 1), berlin(2026, 6, 10))
    assert [(s.user_id, s.start, s.end) for s in found] == [
        (ALICE, berlin(2026, 6, 1).astimezone(UTC), berlin(2026, 6, 1, 9).astimezone(UTC)),
        (ALICE, berlin(2026, 6, 5, 17).astimezone(UTC), berlin(2026, 6, 8, 9).astimezone(UTC)),
    ]


# --- layers and overrides ----------------------------------------------------------------------
def test_a_later_layer_wins_and_an_empty_one_falls_through():
    base = daily(ALICE, start=berlin(2026, 6, 1, 9))
    empty = LayerSpec((), berlin(2026, 6, 1, 9), 24)
    top = daily(BOB, start=berlin(2026, 6, 3, 9))
    assert on_call(schedule(base, empty), berlin(2026, 6, 2)) == [ALICE]
    assert on_call(schedule(base, top), berlin(2026, 6, 2, 12)) == [ALICE]  # top not started
    assert on_call(schedule(base, top), berlin(2026, 6, 3, 12)) == [BOB]
    assert on_call(schedule(top, base), berlin(2026, 6, 3, 12)) == [ALICE]  # order decides


def test_an_override_replaces_whoever_is_on_call_and_splits_the_shift():
    layer = daily(ALICE, BOB, start=berlin(2026, 6, 1, 9))
    cover = OverrideSpec(CAROL, berlin(2026, 6, 1, 12), berlin(2026, 6, 1, 14))
    spec = schedule(layer, overrides=[cover])
    assert on_call(spec, berlin(2026, 6, 1, 13)) == [CAROL]
    found = shifts(spec, berlin(2026, 6, 1, 9), berlin(2026, 6, 2, 9))
    assert [(s.user_id, s.source, s.start.astimezone(BERLIN).hour) for s in found] == [
        (ALICE, ROTATION, 9),
        (CAROL, OVERRIDE, 12),
        (ALICE, ROTATION, 14),
    ]
    assert next_handoff(spec, berlin(2026, 6, 1, 10)) == berlin(2026, 6, 1, 12).astimezone(UTC)


def test_an_override_wins_over_every_layer_and_over_a_restriction():
    business = daily(ALICE, start=berlin(2026, 6, 1, 9), restriction=WORKDAYS)
    night = OverrideSpec(BOB, berlin(2026, 6, 6, 20), berlin(2026, 6, 7, 8))  # Saturday night
    spec = schedule(daily(CAROL, start=berlin(2026, 6, 1)), business, overrides=[night])
    assert on_call(spec, berlin(2026, 6, 6, 23)) == [BOB]
    assert on_call(spec, berlin(2026, 6, 7, 8)) == [CAROL]


def test_a_swap_is_two_overrides():
    layer = daily(ALICE, BOB, start=berlin(2026, 6, 1, 9))
    # Alice (1 June) and Bob (2 June) trade days.
    swap = [
        OverrideSpec(BOB, berlin(2026, 6, 1, 9), berlin(2026, 6, 2, 9)),
        OverrideSpec(ALICE, berlin(2026, 6, 2, 9), berlin(2026, 6, 3, 9)),
    ]
    spec = schedule(layer, overrides=swap)
    assert on_call(spec, berlin(2026, 6, 1, 12)) == [BOB]
    assert on_call(spec, berlin(2026, 6, 2, 12)) == [ALICE]
    assert on_call(spec, berlin(2026, 6, 3, 12)) == [ALICE]  # the rotation again


def test_overlapping_overrides_put_both_on_call():
    spec = schedule(
        overrides=[
            OverrideSpec(ALICE, berlin(2026, 6, 1, 9), berlin(2026, 6, 1, 17)),
            OverrideSpec(BOB, berlin(2026, 6, 1, 12), berlin(2026, 6, 1, 20)),
        ]
    )
    assert on_call(spec, berlin(2026, 6, 1, 13)) == [ALICE, BOB]
    assert on_call(spec, berlin(2026, 6, 1, 18)) == [BOB]
    found = shifts(spec, berlin(2026, 6, 1), berlin(2026, 6, 2))
    assert found == [
        Shift(
            ALICE,
            berlin(2026, 6, 1, 9).astimezone(UTC),
            berlin(2026, 6, 1, 17).astimezone(UTC),
            OVERRIDE,
        ),
        Shift(
            BOB,
            berlin(2026, 6, 1, 12).astimezone(UTC),
            berlin(2026, 6, 1, 20).astimezone(UTC),
            OVERRIDE,
        ),
    ]


# --- edges -------------------------------------------------------------------------------------
def test_an_empty_schedule_has_nobody_and_no_handoff():
    spec = schedule()
    assert on_call(spec, berlin(2026, 6, 1)) == []
    assert shifts(spec, berlin(2026, 6, 1), berlin(2026, 6, 8)) == []
    assert next_handoff(spec, berlin(2026, 6, 1)) is None


def test_one_participant_around_the_clock_is_one_shift_and_no_handoff():
    spec = schedule(daily(ALICE, start=berlin(2026, 6, 1, 9)))
    found = shifts(spec, berlin(2026, 6, 2), berlin(2026, 6, 30))
    assert found == [Shift(ALICE, utc(2026, 6, 1, 22), utc(2026, 6, 29, 22), ROTATION)]
    assert next_handoff(spec, berlin(2026, 6, 2)) is None


def test_shifts_are_cut_at_the_ends_of_the_range():
    spec = schedule(daily(ALICE, BOB, start=berlin(2026, 6, 1, 9)))
    found = shifts(spec, berlin(2026, 6, 1, 12), berlin(2026, 6, 2, 12))
    assert [(s.user_id, s.start, s.end) for s in found] == [
        (ALICE, utc(2026, 6, 1, 10), utc(2026, 6, 2, 7)),
        (BOB, utc(2026, 6, 2, 7), utc(2026, 6, 2, 10)),
    ]
    assert shifts(spec, berlin(2026, 6, 2), berlin(2026, 6, 1)) == []


def test_naive_moments_are_refused():
    with pytest.raises(ValueError, match="aware"):
        on_call(schedule(), datetime(2026, 6, 1))  # noqa: DTZ001
