"""Importing a recurring rotation from iCalendar: RRULE with BYDAY, EXDATE, RDATE, an instance
moved or cancelled by a RECURRENCE-ID, a time zone whose clocks change, floating times, and
hostile rules (every second, from 1900, thousands a day) refused with a 400 that says why,
quickly. The clock is frozen on Monday 1 June 2026, 10:00 in Berlin (08:00 UTC)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import time_machine

from oncall import ical
from oncall.models import Override
from tenants.rls import rls_bypass
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
URL = "/api/v1/schedules/"

BERLIN = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
"""


def calendar(*events: str, timezone: str = BERLIN) -> str:
    body = "".join(f"BEGIN:VEVENT\n{event.strip()}\nEND:VEVENT\n" for event in events)
    head = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\n"
    text = f"{head}{timezone}{body}END:VCALENDAR\n"
    return text.replace("\n", "\r\n")


# Google Calendar's export of a two-person weekly rotation: Alice every other Monday 09:00 to
# the next Monday, Bob the weeks between; Alice's 15 June week is cancelled (EXDATE) and her
# 29 June hand-off moved to Tuesday 30 June (an instance with a RECURRENCE-ID).
ALICE_WEEKS = """UID:alice-rota@google.com
SUMMARY:On call: {alice}
DTSTART;TZID=Europe/Berlin:20260601T090000
DTEND;TZID=Europe/Berlin:20260608T090000
RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO
EXDATE;TZID=Europe/Berlin:20260615T090000
DTSTAMP:20260520T120000Z"""
ALICE_MOVED = """UID:alice-rota@google.com
RECURRENCE-ID;TZID=Europe/Berlin:20260629T090000
SUMMARY:On call: {alice}
DTSTART;TZID=Europe/Berlin:20260630T090000
DTEND;TZID=Europe/Berlin:20260707T090000
DTSTAMP:20260520T120000Z"""
BOB_WEEKS = """UID:bob-rota@google.com
SUMMARY:Primary
ATTENDEE;CN=Bob:mailto:{bob_email}
DTSTART;TZID=Europe/Berlin:20260608T090000
DTEND;TZID=Europe/Berlin:20260615T090000
RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;UNTIL=20260720T070000Z
DTSTAMP:20260520T120000Z"""


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def w(two_tenants, api):
    w = dict(two_tenants)
    team = TeamFactory(tenant=w["a"], name="A security team")
    team.members.add(w["a_admin"], w["a_responder"])
    w["team"] = team
    response = api(w["a_admin"]).post(
        URL,
        {"name": "Primary", "team": str(team.pk), "time_zone": "Europe/Berlin", "layers": []},
        format="json",
    )
    assert response.status_code == 201, response.json()
    w["schedule"] = response.json()["id"]
    return w


def post(api, w, text: str):
    return api(w["a_admin"]).post(
        f"{URL}{w['schedule']}/import-ical/", {"calendar": text}, format="json"
    )


def spans(body) -> list[tuple[str, str, str]]:
    """The overrides made, soonest first (they are made in the file's order)."""
    return sorted(
        ((o["user"]["username"], o["start"], o["end"]) for o in body["created"]),
        key=lambda span: span[1],
    )


def test_a_weekly_rotation_with_an_exdate_and_a_moved_instance_is_expanded(w, api):
    alice, bob = w["a_admin"], w["a_responder"]
    text = calendar(
        ALICE_WEEKS.format(alice=alice.username),
        ALICE_MOVED.format(alice=alice.username),
        BOB_WEEKS.format(bob_email=bob.email),
    )
    response = post(api, w, text)
    assert response.status_code == 200, response.json()
    body = response.json()
    a, b = alice.username, bob.username
    # 09:00 in Berlin (CEST) is 07:00 UTC; 15 June is gone, 29 June moved to the 30th; Bob's
    # rule ends on 20 July (UNTIL); Alice's has no end: up to 90 days from now (30 August).
    assert spans(body) == [
        (a, "2026-06-01T07:00:00Z", "2026-06-08T07:00:00Z"),
        (b, "2026-06-08T07:00:00Z", "2026-06-15T07:00:00Z"),
        (b, "2026-06-22T07:00:00Z", "2026-06-29T07:00:00Z"),
        (a, "2026-06-30T07:00:00Z", "2026-07-07T07:00:00Z"),
        (b, "2026-07-06T07:00:00Z", "2026-07-13T07:00:00Z"),
        (a, "2026-07-13T07:00:00Z", "2026-07-20T07:00:00Z"),
        (b, "2026-07-20T07:00:00Z", "2026-07-27T07:00:00Z"),
        (a, "2026-07-27T07:00:00Z", "2026-08-03T07:00:00Z"),
        (a, "2026-08-10T07:00:00Z", "2026-08-17T07:00:00Z"),
        (a, "2026-08-24T07:00:00Z", "2026-08-31T07:00:00Z"),
    ]
    assert body["skipped"] == []
    # who is on call follows: Bob on 10 June, nobody's override on 16 June (cancelled week)
    client = api(w["a_admin"])
    on = client.get(f"{URL}{w['schedule']}/oncall/", {"at": "2026-06-10T12:00"}).json()
    assert [p["id"] for p in on["on_call"]] == [bob.pk]
    on = client.get(f"{URL}{w['schedule']}/oncall/", {"at": "2026-06-16T12:00"}).json()
    assert on["on_call"] == []
    # importing the same file again adds nothing
    again = post(api, w, text).json()
    assert again["created"] == []
    assert {s["reason"] for s in again["skipped"]} == {"the same override exists already"}


def test_rdate_adds_and_a_cancelled_instance_removes_an_occurrence(w, api):
    alice = w["a_admin"].username
    text = calendar(
        f"""UID:extra@example.com
SUMMARY:On call: {alice}
DTSTART:20260602T070000Z
DTEND:20260603T070000Z
RRULE:FREQ=DAILY;COUNT=3
RDATE:20260610T070000Z,20260611T070000Z""",
        """UID:extra@example.com
RECURRENCE-ID:20260603T070000Z
STATUS:CANCELLED
DTSTART:20260603T070000Z
DTEND:20260604T070000Z""",
    )
    response = post(api, w, text)
    assert response.status_code == 200, response.json()
    assert [start[:10] for _, start, _ in spans(response.json())] == [
        "2026-06-02",
        "2026-06-04",
        "2026-06-10",
        "2026-06-11",
    ]


def test_hand_offs_keep_their_local_time_across_the_change_of_the_clocks(w, api):
    """Weekly Monday 09:00 in Berlin: 07:00 UTC in summer, 08:00 UTC once the clocks go back on
    Sunday 25 October 2026."""
    alice = w["a_admin"].username
    with time_machine.travel(datetime(2026, 10, 12, 8, 0, tzinfo=UTC), tick=False):
        text = calendar(
            f"""UID:dst@example.com
SUMMARY:On call: {alice}
DTSTART;TZID=Europe/Berlin:20261012T090000
DTEND;TZID=Europe/Berlin:20261013T090000
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4"""
        )
        response = post(api, w, text)
    assert response.status_code == 200, response.json()
    assert [start for _, start, _ in spans(response.json())] == [
        "2026-10-12T07:00:00Z",
        "2026-10-19T07:00:00Z",
        "2026-10-26T08:00:00Z",
        "2026-11-02T08:00:00Z",
    ]


def test_floating_times_of_a_recurring_event_are_the_schedules_local_time(w, api):
    alice = w["a_admin"].username
    text = calendar(
        f"""UID:floating@example.com
SUMMARY:On call: {alice}
DTSTART:20260602T090000
DTEND:20260602T170000
RRULE:FREQ=WEEKLY;BYDAY=TU,TH;COUNT=2""",
        timezone="",
    )
    response = post(api, w, text)
    assert response.status_code == 200, response.json()
    assert spans(response.json()) == [
        (alice, "2026-06-02T07:00:00Z", "2026-06-02T15:00:00Z"),
        (alice, "2026-06-04T07:00:00Z", "2026-06-04T15:00:00Z"),
    ]


def test_occurrences_over_already_and_beyond_the_horizon_are_left_out(w, api):
    """A rule begun a year ago: only the shift under way and those of the next 90 days."""
    alice = w["a_admin"].username
    text = calendar(
        f"""UID:old@example.com
SUMMARY:On call: {alice}
DTSTART:20250602T070000Z
DTEND:20250609T070000Z
RRULE:FREQ=WEEKLY"""
    )
    created = spans(post(api, w, text).json())
    assert created[0][1] == "2026-06-01T07:00:00Z"  # under way now (08:00 UTC)
    assert created[-1][1] == "2026-08-24T07:00:00Z"  # the last to begin within 90 days
    assert len(created) == 13


HOSTILE = {
    "every-second": (
        "DTSTART:20260601T000000Z\nDTEND:20260601T000001Z\nRRULE:FREQ=SECONDLY",
        "repeats secondly",
    ),
    "every-minute": (
        "DTSTART:20260601T000000Z\nDTEND:20260601T000100Z\nRRULE:FREQ=MINUTELY;INTERVAL=1",
        "repeats minutely",
    ),
    "hourly-since-1900": (
        "DTSTART:19000101T000000Z\nDTEND:19000101T010000Z\nRRULE:FREQ=HOURLY",
        "Export the rotation with a recent start",
    ),
    "many-a-day": (
        "DTSTART:20260101T000000Z\nDTEND:20260101T000100Z\n"
        "RRULE:FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23"
        ";BYMINUTE=0,15,30,45",
        "more than 2000 times",
    ),
    "hourly-for-ever": (
        "DTSTART:20260601T000000Z\nDTEND:20260601T010000Z\nRRULE:FREQ=HOURLY",
        "more than 2000 times",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_rule_too_costly_to_expand_is_a_400_that_says_why_and_is_quick(w, api, name):
    rule, why = HOSTILE[name]
    text = calendar(f"UID:{name}@example.com\nSUMMARY:On call: {w['a_admin'].username}\n{rule}")
    began = time.monotonic()
    response = post(api, w, text)
    assert time.monotonic() - began < 5
    assert response.status_code == 400, response.json()
    message = " ".join(response.json()["fields"]["calendar"])
    assert why in message, message
    with rls_bypass("test"):
        assert not Override.objects.for_tenant(w["a"]).exists()


def test_many_recurring_events_together_may_not_exceed_the_limit(w, api):
    """Each alone is harmless (daily for 90 days); 30 of them are 2,700 shifts."""
    events = [
        f"UID:many-{i}@example.com\nSUMMARY:On call: {w['a_admin'].username}\n"
        f"DTSTART:20260601T{i % 24:02}0000Z\nDTEND:20260601T{i % 24:02}3000Z\nRRULE:FREQ=DAILY"
        for i in range(30)
    ]
    response = post(api, w, calendar(*events))
    assert response.status_code == 400
    assert "more than 2000 times" in response.json()["fields"]["calendar"][0]


@pytest.mark.parametrize(
    "rule,reason",
    [
        ("RRULE:FREQ=FORTNIGHTLY", "unreadable RRULE"),
        ("RRULE:FREQ=WEEKLY;BYDAY=XX", "unreadable RRULE"),
        ("RRULE:FREQ=WEEKLY;COUNT=abc", "unreadable RRULE"),
    ],
)
def test_a_malformed_rule_skips_its_event_with_the_reason(w, api, rule, reason):
    alice = w["a_admin"].username
    text = calendar(
        f"UID:bad@example.com\nSUMMARY:On call: {alice}\nDTSTART:20260602T070000Z\n"
        f"DTEND:20260603T070000Z\n{rule}",
        f"UID:fine@example.com\nSUMMARY:On call: {alice}\nDTSTART:20260605T070000Z\n"
        "DTEND:20260606T070000Z",
    )
    response = post(api, w, text)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [o["start"] for o in body["created"]] == ["2026-06-05T07:00:00Z"]
    [skipped] = body["skipped"]
    assert skipped["uid"] == "bad@example.com" and reason in skipped["reason"], skipped


def test_a_huge_recurring_calendar_is_refused_by_size(w, api):
    event = (
        f"UID:big@example.com\nSUMMARY:On call: {w['a_admin'].username}\n"
        "DTSTART:20260601T070000Z\nDTEND:20260602T070000Z\nRRULE:FREQ=WEEKLY\n"
        f"DESCRIPTION:{'x' * 70}\n"
    )
    text = calendar(*[event.replace("big@", f"big-{i}@") for i in range(15_000)])
    assert len(text.encode()) > ical.MAX_BYTES
    response = api(w["a_admin"]).generic(
        "POST", f"{URL}{w['schedule']}/import-ical/", text.encode(), content_type="text/calendar"
    )
    assert response.status_code == 400
    assert "larger than 1024 KiB" in response.json()["fields"]["calendar"][0]


def test_read_events_expands_only_within_the_horizon_from_now():
    text = calendar(
        "UID:r@example.com\nSUMMARY:On call: x\nDTSTART:20260601T070000Z\n"
        "DTEND:20260602T070000Z\nRRULE:FREQ=DAILY"
    )
    events = ical.read_events(text, "UTC", now=datetime(2026, 7, 1, tzinfo=UTC))
    assert events[0].start == datetime(2026, 6, 30, 7, tzinfo=UTC)  # under way then
    assert len(events) == 91
    assert all(e.uid == "r@example.com" and e.index == 1 for e in events)
