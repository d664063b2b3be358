"""/api/v1/schedules/: schedules of in-house teams and MSSP tiers, who is on call now and next,
overrides and swaps, iCalendar out and in, the tenant boundary, and hostile input. The clock is
frozen on Monday 1 June 2026, 10:00 in Berlin (08:00 UTC)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from oncall.models import Override, Schedule
from tenants.models import AuditEvent
from tenants.rls import rls_bypass
from tests.factories import StaffFactory, TeamFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # Monday 10:00 in Berlin
URL = "/api/v1/schedules/"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def w(two_tenants):
    w = dict(two_tenants)
    for name in ("a", "b"):
        team = TeamFactory(tenant=w[name], name=f"{name.upper()} security team")
        team.members.add(w[f"{name}_admin"], w[f"{name}_responder"], w[f"{name}_viewer"])
        w[f"{name}_team"] = team
    w["lead"] = StaffFactory(staff_role="lead", tenants=[w["a"]])
    w["analyst_l2"] = StaffFactory(staff_role="analyst_l2")
    tier = TeamFactory(tenant=None, kind="mssp_tier", name="L2")
    tier.members.add(w["analyst_a"], w["analyst_l2"], w["lead"])
    w["tier"] = tier
    return w


def layer(*users, start="2026-06-01T09:00:00", rotation="daily", **extra):
    return {
        "participants": [u.pk for u in users],
        "rotation": rotation,
        "rotation_start": start,
        **extra,
    }


def make_schedule(api, user, team, layers, name="Primary", time_zone="Europe/Berlin"):
    response = api(user).post(
        URL,
        {"name": name, "team": str(team.pk), "time_zone": time_zone, "layers": layers},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.fixture
def a_schedule(w, api):
    """Tenant A's: a daily 09:00 rotation, responder then admin (the responder's shift runs
    from 1 June 09:00; at 10:00 on 1 June the responder is on call... from 09:00)."""
    return make_schedule(api, w["a_admin"], w["a_team"], [layer(w["a_responder"], w["a_admin"])])


@pytest.fixture
def b_schedule(w, api):
    return make_schedule(
        api, w["b_admin"], w["b_team"], [layer(w["b_responder"], w["b_admin"])], name="B secret"
    )


# --- creating schedules ------------------------------------------------------------------------
def test_customer_admin_creates_a_schedule_for_their_in_house_team(w, api, a_schedule):
    assert a_schedule["tenant"] == "tenant-a"
    assert a_schedule["team"] == str(w["a_team"].pk)
    [first] = a_schedule["layers"]
    assert first["position"] == 0
    assert first["participants"] == [w["a_responder"].pk, w["a_admin"].pk]
    # without an offset, the schedule's local time: 09:00 CEST is 07:00 UTC
    assert first["rotation_start"] == "2026-06-01T07:00:00Z"
    with rls_bypass("test"):
        schedule = Schedule.objects.dangerously_unscoped("test").get(pk=a_schedule["id"])
        assert schedule.tenant_id == w["a"].pk
        assert schedule.layers.get().tenant_id == w["a"].pk
        assert (
            AuditEvent.objects.for_tenant(w["a"])
            .filter(action="oncall.schedule.created", object_id=a_schedule["id"])
            .exists()
        )


def test_mssp_admin_creates_a_schedule_for_an_mssp_tier(w, api):
    body = make_schedule(
        api,
        w["mssp_admin"],
        w["tier"],
        [layer(w["analyst_a"], w["analyst_l2"], rotation="weekly", start="2026-06-01T08:00:00Z")],
        name="L2 weekly",
        time_zone="UTC",
    )
    assert body["tenant"] is None
    with rls_bypass("test"):
        assert Schedule.objects.dangerously_unscoped("t").get(pk=body["id"]).tenant_id is None
    # a lead manages the MSSP's schedules too; an L2 analyst reads them but does not
    response = api(w["lead"]).patch(f"{URL}{body['id']}/", {"name": "L2 rota"}, format="json")
    assert response.status_code == 200, response.json()
    assert api(w["analyst_l2"]).get(f"{URL}{body['id']}/").status_code == 200
    response = api(w["analyst_l2"]).patch(f"{URL}{body['id']}/", {"name": "x"}, format="json")
    assert response.status_code == 403


def test_an_analyst_reads_the_schedules_of_tenants_they_work_but_does_not_change_them(
    w, api, a_schedule
):
    client = api(w["analyst_a"])
    assert client.get(f"{URL}{a_schedule['id']}/").status_code == 200
    response = client.post(
        URL, {"name": "x", "team": str(w["a_team"].pk), "time_zone": "UTC"}, format="json"
    )
    assert response.status_code == 403


def test_patch_replaces_the_layers_as_a_whole_and_keeps_the_team(w, api, a_schedule):
    client = api(w["a_admin"])
    url = f"{URL}{a_schedule['id']}/"
    layers = [
        layer(w["a_admin"]),
        layer(w["a_responder"], restriction={"sat": [["00:00", "24:00"]]}),
    ]
    response = client.patch(url, {"layers": layers}, format="json")
    assert response.status_code == 200, response.json()
    assert [x["participants"] for x in response.json()["layers"]] == [
        [w["a_admin"].pk],
        [w["a_responder"].pk],
    ]
    response = client.patch(url, {"time_zone": "America/New_York"}, format="json")
    assert response.json()["layers"][1]["participants"] == [w["a_responder"].pk]  # kept
    other = TeamFactory(tenant=w["a"], name="Other A team")
    response = client.patch(url, {"team": str(other.pk)}, format="json")
    assert response.status_code == 400
    assert "team" in response.json()["fields"]
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


# --- who is on call ----------------------------------------------------------------------------
def test_who_is_on_call_now_and_next(w, api, a_schedule):
    client = api(w["a_viewer"])  # every member of the tenant reads it
    body = client.get(f"{URL}{a_schedule['id']}/oncall/").json()
    assert [p["id"] for p in body["on_call"]] == [w["a_responder"].pk]
    assert body["next_handoff"] == "2026-06-02T07:00:00Z"  # Tuesday 09:00 in Berlin
    assert [p["id"] for p in body["next"]] == [w["a_admin"].pk]
    body = client.get(f"{URL}{a_schedule['id']}/oncall/", {"at": "2026-06-02T12:00:00+02:00"})
    assert [p["username"] for p in body.json()["on_call"]] == [w["a_admin"].username]
    early = client.get(f"{URL}{a_schedule['id']}/oncall/", {"at": "2026-06-01T08:59:00"}).json()
    assert early["on_call"] == [] and early["next_handoff"] == "2026-06-01T07:00:00Z"


def test_shifts_of_a_range(w, api, a_schedule):
    response = api(w["a_admin"]).get(
        f"{URL}{a_schedule['id']}/shifts/", {"start": "2026-06-01", "end": "2026-06-04"}
    )
    assert response.status_code == 200
    found = [(s["user"]["id"], s["start"], s["end"]) for s in response.json()["shifts"]]
    r, a = w["a_responder"].pk, w["a_admin"].pk
    assert found == [
        (r, "2026-06-01T07:00:00Z", "2026-06-02T07:00:00Z"),
        (a, "2026-06-02T07:00:00Z", "2026-06-03T07:00:00Z"),
        (r, "2026-06-03T07:00:00Z", "2026-06-03T22:00:00Z"),
    ]


# --- overrides ---------------------------------------------------------------------------------
def test_an_admin_overrides_anyone_of_the_team_and_removes_it(w, api, a_schedule):
    client = api(w["a_admin"])
    url = f"{URL}{a_schedule['id']}/overrides/"
    response = client.post(
        url,
        {
            "user": w["a_viewer"].pk,
            "start": "2026-06-01T10:00:00+02:00",
            "end": "2026-06-01T18:00:00+02:00",
            "reason": "doctor",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    override = response.json()
    assert override["user"]["id"] == w["a_viewer"].pk
    assert override["created_by"] == w["a_admin"].username
    now = client.get(f"{URL}{a_schedule['id']}/oncall/").json()
    assert [p["id"] for p in now["on_call"]] == [w["a_viewer"].pk]
    assert now["next_handoff"] == "2026-06-01T16:00:00Z"
    assert [p["id"] for p in now["next"]] == [w["a_responder"].pk]
    assert [o["id"] for o in client.get(url).json()] == [override["id"]]
    assert client.get(f"{URL}overrides/{override['id']}/").status_code == 200
    assert client.delete(f"{URL}overrides/{override['id']}/").status_code == 204
    assert client.get(url).json() == []


def test_a_member_swaps_their_own_shift_but_not_someone_elses(w, api, a_schedule):
    responder = api(w["a_responder"])
    url = f"{URL}{a_schedule['id']}/overrides/"
    # the responder's Monday shift to the admin; the admin's Tuesday shift to the responder
    mine = {"user": w["a_admin"].pk, "start": "2026-06-01T12:00", "end": "2026-06-02T09:00"}
    theirs = {"user": w["a_responder"].pk, "start": "2026-06-02T09:00", "end": "2026-06-03T09:00"}
    assert responder.post(url, mine, format="json").status_code == 201
    assert responder.post(url, theirs, format="json").status_code == 201  # taking one: theirs
    # handing over a shift that is not theirs (the admin's Thursday) is refused
    not_mine = {"user": w["a_viewer"].pk, "start": "2026-06-04T09:00", "end": "2026-06-04T12:00"}
    response = responder.post(url, not_mine, format="json")
    assert response.status_code == 403
    # a viewer does not work: no overrides at all
    response = api(w["a_viewer"]).post(url, {**theirs, "user": w["a_viewer"].pk}, format="json")
    assert response.status_code == 403
    shifts = api(w["a_admin"]).get(
        f"{URL}{a_schedule['id']}/shifts/", {"start": "2026-06-01T12:00", "end": "2026-06-03T09:00"}
    )
    assert [(s["user"]["id"], s["source"]) for s in shifts.json()["shifts"]] == [
        (w["a_admin"].pk, "override"),
        (w["a_responder"].pk, "override"),
    ]


# --- iCalendar ---------------------------------------------------------------------------------
def test_the_ical_feed_has_the_next_sixty_days_of_shifts(w, api, a_schedule, frozen):
    client = api(w["a_viewer"])
    response = client.get(f"{URL}{a_schedule['id']}/ical/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(response.content)
    events = calendar.walk("VEVENT")
    assert len(events) == 61  # the shift under way, then one a day for 60 days
    first = events[0]
    assert str(first["SUMMARY"]) == f"On call: {w['a_responder'].username}"
    assert first.decoded("DTSTART") == datetime(2026, 6, 1, 7, tzinfo=UTC)
    assert first.decoded("DTEND") == datetime(2026, 6, 2, 7, tzinfo=UTC)
    assert str(events[1]["SUMMARY"]) == f"On call: {w['a_admin'].username}"
    assert events[-1].decoded("DTEND") == NOW + timedelta(days=60)
    uids = [str(e["UID"]) for e in events]
    assert len(set(uids)) == len(uids)
    frozen.shift(timedelta(hours=3))  # a later fetch: the same shifts keep their UIDs
    later = icalendar.Calendar.from_ical(client.get(f"{URL}{a_schedule['id']}/ical/").content)
    assert [str(e["UID"]) for e in later.walk("VEVENT")][:60] == uids[:60]


OUTLOOK_EXPORT = """BEGIN:VCALENDAR
PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN
VERSION:2.0
METHOD:PUBLISH
X-WR-CALNAME:SOC on-call
BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16011028T030000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010325T020000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:shift-1@example.com
SUMMARY:SOC on call
ORGANIZER;CN=Rota:mailto:rota@example.com
ATTENDEE;CN=Responder;ROLE=REQ-PARTICIPANT:mailto:{responder_email}
DTSTART;TZID=W. Europe Standard Time:20260605T090000
DTEND;TZID=W. Europe Standard Time:20260606T090000
DTSTAMP:20260520T120000Z
END:VEVENT
BEGIN:VEVENT
UID:shift-2@example.com
SUMMARY:On call: {admin_username}
DTSTART;TZID=W. Europe Standard Time:20260606T090000
DTEND;TZID=W. Europe Standard Time:20260607T090000
DTSTAMP:20260520T120000Z
END:VEVENT
BEGIN:VEVENT
UID:stranger@example.com
SUMMARY:On call: Mallory
ATTENDEE:mailto:{stranger_email}
DTSTART:20260607T070000Z
DTEND:20260608T070000Z
END:VEVENT
BEGIN:VEVENT
UID:weekly@example.com
SUMMARY:On call: {admin_username}
RRULE:FREQ=WEEKLY;COUNT=4
DTSTART;TZID=W. Europe Standard Time:20260608T090000
DTEND;TZID=W. Europe Standard Time:20260609T090000
END:VEVENT
BEGIN:VEVENT
UID:past@example.com
SUMMARY:On call: {admin_username}
DTSTART;VALUE=DATE:20260501
DTEND;VALUE=DATE:20260502
END:VEVENT
END:VCALENDAR
"""


def outlook_export(w) -> str:
    text = OUTLOOK_EXPORT.format(
        responder_email=w["a_responder"].email.upper(),
        admin_username=w["a_admin"].username,
        stranger_email=w["b_admin"].email,  # a user, but of another tenant: a stranger here
    )
    return text.replace("\n", "\r\n")


def test_importing_a_calendar_creates_overrides_and_skips_strangers(w, api, a_schedule):
    client = api(w["a_admin"])
    url = f"{URL}{a_schedule['id']}/import-ical/"
    response = client.post(url, {"calendar": outlook_export(w)}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    # the weekly event (RRULE;COUNT=4) is expanded: four shifts of the admin's
    assert [(o["user"]["id"], o["start"], o["end"]) for o in body["created"]] == [
        (w["a_responder"].pk, "2026-06-05T07:00:00Z", "2026-06-06T07:00:00Z"),
        (w["a_admin"].pk, "2026-06-06T07:00:00Z", "2026-06-07T07:00:00Z"),
    ] + [
        (w["a_admin"].pk, f"2026-06-{day:02}T07:00:00Z", f"2026-06-{day + 1:02}T07:00:00Z")
        for day in (8, 15, 22, 29)
    ]
    reasons = {s["uid"]: s["reason"] for s in body["skipped"]}
    assert set(reasons) == {"stranger@example.com", "past@example.com"}
    assert "nobody of the team" in reasons["stranger@example.com"]
    assert "over already" in reasons["past@example.com"]
    assert w["b_admin"].email not in response.content.decode()
    on_saturday = client.get(f"{URL}{a_schedule['id']}/oncall/", {"at": "2026-06-06T12:00"})
    assert [p["id"] for p in on_saturday.json()["on_call"]] == [w["a_admin"].pk]

    # again, as an upload and as the raw body: nothing new
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("rota.ics", outlook_export(w).encode(), "text/calendar")
    again = client.post(url, {"file": upload}, format="multipart")
    assert again.status_code == 200, again.json()
    assert again.json()["created"] == []
    raw = client.generic("POST", url, outlook_export(w).encode(), content_type="text/calendar")
    assert raw.status_code == 200
    assert sum("exists already" in s["reason"] for s in raw.json()["skipped"]) == 6
    with rls_bypass("test"):
        assert Override.objects.for_tenant(w["a"]).count() == 6


@pytest.mark.parametrize(
    "body,content_type,field",
    [
        (b"this is not a calendar", "text/calendar", "calendar"),
        (b"BEGIN:VEVENT\r\nEND:VEVENT\r\n", "text/calendar", "calendar"),
        (b"\xff\xfe\x00garbage", "text/calendar", "calendar"),
        (b"BEGIN:VCALENDAR\r\n" + b"X" * (10 * 1024 * 1024) + b"\r\n", "text/calendar", "calendar"),
        (b"[1, 2]", "application/json", "detail"),
        (b'{"calendar": 5}', "application/json", "calendar"),
        (b'{"calendar": ""}', "application/json", "calendar"),
    ],
    ids=["text", "not-a-vcalendar", "binary", "ten-megabytes", "json-list", "number", "empty"],
)
def test_a_malformed_calendar_is_a_400_naming_it(w, api, a_schedule, body, content_type, field):
    response = api(w["a_admin"]).generic(
        "POST", f"{URL}{a_schedule['id']}/import-ical/", body, content_type=content_type
    )
    assert response.status_code == 400, response.content[:300]
    assert field in response.json().get("fields", {"detail": 1}), response.json()


# --- the tenant boundary -----------------------------------------------------------------------
@pytest.mark.parametrize("attacker", ["a_admin", "analyst_a", "a_responder"])
def test_tenant_a_cannot_read_change_or_import_into_bs_schedule(w, api, b_schedule, attacker):
    assert api(w["b_viewer"]).get(f"{URL}{b_schedule['id']}/").status_code == 200  # it exists
    client = api(w[attacker])
    assert b_schedule["id"] not in str(client.get(URL, {"tenant": "tenant-b"}).json())
    override = {"user": w[attacker].pk, "start": "2026-06-02T09:00", "end": "2026-06-02T10:00"}
    for method, path, body in [
        ("get", "", None),
        ("patch", "", {"name": "mine"}),
        ("delete", "", None),
        ("get", "oncall/", None),
        ("get", "shifts/", None),
        ("get", "ical/", None),
        ("get", "overrides/", None),
        ("post", "overrides/", override),
        ("post", "import-ical/", {"calendar": outlook_export(w)}),
    ]:
        attack = getattr(client, method)(f"{URL}{b_schedule['id']}/{path}", body, format="json")
        absent = getattr(client, method)(f"{URL}{uuid.uuid4()}/{path}", body, format="json")
        # 404 like a missing schedule (or, for a token without the admin scope, the same 403
        # insufficient_scope a missing one gets)
        assert attack.status_code in (403, 404), (method, path, attack.content[:200])
        assert (attack.status_code, attack.json()) == (absent.status_code, absent.json())
    with rls_bypass("test"):
        assert Schedule.objects.for_tenant(w["b"]).get().name == "B secret"
        assert not Override.objects.for_tenant(w["b"]).exists()


def test_a_customer_never_reads_an_mssp_tiers_schedule(w, api):
    tier = make_schedule(api, w["mssp_admin"], w["tier"], [layer(w["analyst_a"])], name="L2")
    for user in ("a_admin", "a_viewer"):
        client = api(w[user])
        assert client.get(URL).json()["results"] == []
        assert client.get(f"{URL}{tier['id']}/").status_code == 404
        assert client.get(f"{URL}{tier['id']}/oncall/").status_code == 404
        assert client.get(f"{URL}{tier['id']}/ical/").status_code == 404
    # MSSP staff see it (an analyst with no tenant of the customer's too)
    assert api(w["outsider"]).get(f"{URL}{tier['id']}/").status_code == 200
    assert [s["id"] for s in api(w["analyst_a"]).get(URL).json()["results"]] == [tier["id"]]


def test_an_override_of_another_tenant_is_not_found(w, api, b_schedule):
    created = api(w["b_admin"]).post(
        f"{URL}{b_schedule['id']}/overrides/",
        {"user": w["b_viewer"].pk, "start": "2026-06-02T09:00", "end": "2026-06-02T10:00"},
        format="json",
    )
    assert created.status_code == 201
    override = created.json()["id"]
    for user in ("a_admin", "analyst_a"):
        client = api(w[user])
        assert client.get(f"{URL}overrides/{override}/").status_code == 404
        assert client.delete(f"{URL}overrides/{override}/").status_code == 404
    with rls_bypass("test"):
        assert Override.objects.for_tenant(w["b"]).filter(pk=override).exists()


def test_participants_and_teams_of_another_tenant_are_refused(w, api, a_schedule):
    client = api(w["a_admin"])
    response = client.post(
        URL,
        {
            "name": "Mixed",
            "team": str(w["a_team"].pk),
            "time_zone": "Europe/Berlin",
            "layers": [layer(w["a_admin"]), layer(w["b_responder"])],
        },
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()["fields"]["layers"]
    assert errors[0] == {} and "participants" in errors[1]
    assert w["b_responder"].username not in response.content.decode()
    for team in (w["b_team"], w["tier"]):
        response = client.post(
            URL, {"name": "X", "team": str(team.pk), "time_zone": "UTC"}, format="json"
        )
        assert response.status_code == 400
        assert "No such team" in response.json()["fields"]["team"][0]
    response = client.post(
        f"{URL}{a_schedule['id']}/overrides/",
        {"user": w["b_responder"].pk, "start": "2026-06-02T09:00", "end": "2026-06-02T10:00"},
        format="json",
    )
    assert response.status_code == 400 and "user" in response.json()["fields"]


# --- hostile input -----------------------------------------------------------------------------
BAD_SCHEDULES = [
    ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
    ({"time_zone": 5}, "time_zone"),
    ({"team": "not-a-uuid"}, "team"),
    ({"team": ["x"]}, "team"),
    ({"name": ""}, "name"),
    ({"layers": "all of them"}, "layers"),
    ({"layers": [{"participants": [], "rotation": "daily"}]}, "layers"),
    (
        {"layers": [{"participants": [], "rotation": "custom", "rotation_start": "2026-06-01"}]},
        "layers",
    ),
    (
        {
            "layers": [
                {
                    "participants": [],
                    "rotation": "daily",
                    "rotation_start": "9999-12-31T23:00:00-20:00",
                }
            ]
        },
        "layers",
    ),
    (
        {"layers": [{"participants": ["x"], "rotation": "daily", "rotation_start": "2026-06-01"}]},
        "layers",
    ),
    (
        {
            "layers": [
                {
                    "participants": [],
                    "rotation": "daily",
                    "rotation_start": "2026-06-01",
                    "restriction": {"funday": []},
                }
            ]
        },
        "layers",
    ),
    (
        {
            "layers": [
                {
                    "participants": [],
                    "rotation": "daily",
                    "rotation_start": "2026-06-01",
                    "restriction": {"mon": [["17:00", "09:00"]]},
                }
            ]
        },
        "layers",
    ),
    ({"layers": [layer() for _ in range(11)]}, "layers"),
]


@pytest.mark.parametrize(
    "change,field", BAD_SCHEDULES, ids=[str(i) for i in range(len(BAD_SCHEDULES))]
)
def test_a_bad_schedule_is_a_400_naming_the_field(w, api, change, field):
    body = {"name": "S", "team": str(w["a_team"].pk), "time_zone": "Europe/Berlin", **change}
    response = api(w["a_admin"]).post(URL, body, format="json")
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()["fields"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"start": "2026-06-02T10:00", "end": "2026-06-02T09:00"}, "end"),
        ({"start": "2026-06-02T10:00", "end": "2026-09-30T10:00"}, "end"),
        ({"start": "2026-05-01T10:00", "end": "2026-05-02T09:00"}, "end"),
        ({"start": "yesterday", "end": "2026-06-02T09:00"}, "start"),
        ({"start": "0001-01-01T00:00:00+05:00", "end": "2026-06-02T09:00"}, "start"),
    ],
)
def test_a_bad_override_is_a_400_naming_the_field(w, api, a_schedule, body, field):
    response = api(w["a_admin"]).post(
        f"{URL}{a_schedule['id']}/overrides/", {"user": w["a_admin"].pk, **body}, format="json"
    )
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()["fields"]


@pytest.mark.parametrize(
    "path,params,field",
    [
        ("oncall/", {"at": "soon"}, "at"),
        ("oncall/", {"at": "2026-02-30T10:00"}, "at"),
        ("oncall/", {"at": "9999-12-31T23:59:59-23:00"}, "at"),
        ("shifts/", {"start": "2026-06-10", "end": "2026-06-01"}, "end"),
        ("shifts/", {"start": "2026-06-01", "end": "2026-12-01"}, "end"),
        ("overrides/", {"since": "2026-13-01"}, "since"),
    ],
)
def test_bad_query_parameters_are_a_400_naming_them(w, api, a_schedule, path, params, field):
    response = api(w["a_admin"]).get(f"{URL}{a_schedule['id']}/{path}", params)
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()["fields"]


def test_a_non_object_body_is_a_400(w, api, a_schedule):
    client = api(w["a_admin"])
    for url, method in (
        (URL, "POST"),
        (f"{URL}{a_schedule['id']}/", "PATCH"),
        (f"{URL}{a_schedule['id']}/overrides/", "POST"),
    ):
        for body in (b"[]", b"null", b'"x"', b"{"):
            response = client.generic(method, url, body, content_type="application/json")
            assert response.status_code == 400, (url, body, response.content[:200])


# --- tokens and query counts -------------------------------------------------------------------
def test_changing_a_schedule_needs_the_admin_scope_and_an_override_write(w, api, a_schedule):
    client = api(w["a_admin"], scopes={"read", "write"})
    response = client.patch(f"{URL}{a_schedule['id']}/", {"name": "x"}, format="json")
    assert response.status_code == 403 and response.json()["required_scope"] == "admin"
    response = client.post(
        f"{URL}{a_schedule['id']}/overrides/",
        {"user": w["a_admin"].pk, "start": "2026-06-02T09:00", "end": "2026-06-02T10:00"},
        format="json",
    )
    assert response.status_code == 201


def test_the_list_answers_in_the_same_number_of_queries_for_more_schedules(w, api):
    client = api(w["mssp_admin"])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL + "?page_size=100").status_code == 200
        return len(captured)

    make_schedule(api, w["mssp_admin"], w["a_team"], [layer(w["a_admin"])], name="s0")
    queries()
    few = queries()
    for i in range(1, 6):
        make_schedule(
            api, w["mssp_admin"], w["a_team"], [layer(w["a_admin"]), layer()], name=f"s{i}"
        )
    assert queries() == few
