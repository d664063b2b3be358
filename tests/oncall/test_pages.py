"""The on-call pages (/oncall/...): who sees which schedules (the API's rule), who is on call now
and next, the timeline, creating and changing a schedule and its layers, overrides, importing
a calendar, refusals by oncall.policy, and the tenant boundary for every page URL. The clock
is frozen on Monday 1 June 2026, 10:00 in Berlin (08:00 UTC)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, reverse

from oncall import urls as oncall_urls
from oncall.models import Layer, Override, Schedule
from tenants.models import AuditEvent
from tenants.rls import rls_bypass
from tests.factories import StaffFactory, TeamFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # Monday 10:00 in Berlin


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def unscoped(model):
    return model.objects.dangerously_unscoped("test")


def make(team, name, time_zone, *layers, overrides=()):
    """A schedule straight in the database (the API's and page's writes are tested below)."""
    with rls_bypass("test"):
        schedule = Schedule.objects.create(team=team, name=name, time_zone=time_zone)
        for position, (people, rotation, start) in enumerate(layers):
            Layer.objects.create(
                schedule=schedule,
                position=position,
                participants=[u.pk for u in people],
                rotation=rotation,
                rotation_start=start,
            )
        for user, start, end in overrides:
            Override.objects.create(schedule=schedule, user=user, start=start, end=end)
    return schedule


@pytest.fixture
def w(two_tenants):
    w = dict(two_tenants)
    with rls_bypass("test"):
        w["a"].timezone = "America/New_York"  # A's people read times in their own zone too
        w["a"].save(update_fields=["timezone"])
    for name in ("a", "b"):
        team = TeamFactory(tenant=w[name], name=f"{name.upper()} security team")
        team.members.add(w[f"{name}_admin"], w[f"{name}_responder"], w[f"{name}_viewer"])
        w[f"{name}_team"] = team
    w["lead"] = StaffFactory(staff_role="lead", tenants=[w["a"]])
    tier = TeamFactory(tenant=None, kind="mssp_tier", name="SOC L2")
    tier.members.add(w["analyst_a"], w["lead"])
    w["tier"] = tier
    daily = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)  # 09:00 in Berlin
    rota = ([w["a_responder"], w["a_admin"]], "daily", daily)
    w["a_schedule"] = make(w["a_team"], "A primary", "Europe/Berlin", rota)
    w["b_schedule"] = make(
        w["b_team"],
        "B secret rota",
        "Europe/Berlin",
        ([w["b_responder"], w["b_admin"]], "daily", daily),
        overrides=[(w["b_admin"], NOW + timedelta(days=2), NOW + timedelta(days=3))],
    )
    with rls_bypass("test"):
        w["b_override"] = unscoped(Override).get(schedule=w["b_schedule"])
    w["tier_schedule"] = make(
        tier, "L2 weekly", "UTC", ([w["analyst_a"], w["lead"]], "weekly", daily)
    )
    return w


def page(client, user, url, status=200):
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.content.decode()


def detail(schedule) -> str:
    return reverse("oncall-schedule", args=[schedule.pk])


# --- the list ------------------------------------------------------------------------------------
def test_a_customer_sees_its_own_schedules_with_who_is_on_call_now_and_next(client, w):
    html = page(client, w["a_responder"], "/oncall/")
    assert "A primary" in html
    assert "B secret rota" not in html and "L2 weekly" not in html  # another tenant's, the MSSP's
    row = html.split(f'id="schedule-{w["a_schedule"].pk}"')[1].split("</tr>")[0]
    on_call = row.split("data-on-call>")[1].split("</td>")[0]
    assert w["a_responder"].username in on_call  # responder's shift runs from 09:00 today
    # next: the admin, from tomorrow 09:00 in Berlin, which is 03:00 in New York (A's zone)
    assert w["a_admin"].username in row
    assert "Tue 2 Jun, 09:00 Europe/Berlin" in row
    assert "Tue 03:00 America/New_York" in row


def test_mssp_staff_see_the_tiers_and_their_tenants_schedules(client, w):
    html = page(client, w["analyst_a"], "/oncall/")
    assert "L2 weekly" in html and "A primary" in html
    assert "B secret rota" not in html
    assert "MSSP teams" in html and "Customers' teams" in html
    assert "New schedule" not in html  # an L1 analyst manages no schedules
    assert "New schedule" in page(client, w["lead"], "/oncall/")


@pytest.mark.parametrize(
    "persona", ["a_admin", "a_responder", "a_viewer", "analyst_a", "lead", "mssp_admin"]
)
def test_the_list_shows_exactly_the_schedules_the_api_lists(client, w, api, persona):
    """One rule for both: the page's rows are the API's."""
    user = w[persona]
    body = api(user).get("/api/v1/schedules/").json()
    from_api = {row["id"] for row in body["results"]}
    html = page(client, user, "/oncall/")
    on_page = set(re.findall(r'id="schedule-([0-9a-f-]{36})"', html))
    assert on_page == from_api and on_page


def test_the_list_costs_one_query_more_per_schedule(client, w):
    """The overrides of each schedule; layers, names and the rest are fetched once."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(w["lead"])
    client.get("/oncall/")  # warm: sessions, content types
    with CaptureQueriesContext(connection) as before:
        assert client.get("/oncall/").status_code == 200
    daily = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)
    for n in range(3):
        make(w["a_team"], f"More {n}", "UTC", ([w["a_admin"], w["a_viewer"]], "daily", daily))
    with CaptureQueriesContext(connection) as after:
        html = client.get("/oncall/").content.decode()
    assert "More 2" in html
    assert len(after.captured_queries) <= len(before.captured_queries) + 3


def test_an_empty_list_says_what_to_do(client, w):
    with rls_bypass("test"):
        unscoped(Schedule).filter(tenant=w["a"]).delete()
    html = page(client, w["a_admin"], "/oncall/")
    assert "No schedules yet" in html and reverse("oncall-schedule-new") in html
    html = page(client, w["a_viewer"], "/oncall/")
    assert "No schedules yet" in html and reverse("oncall-schedule-new") not in html


def test_the_nav_offers_on_call_to_those_who_read_schedules(client, w):
    assert 'href="/oncall/"' in page(client, w["a_viewer"], "/oncall/")
    assert 'href="/oncall/"' in page(client, w["outsider"], "/oncall/")  # reads the MSSP tiers'


# --- one schedule ------------------------------------------------------------------------------
def test_the_schedule_page_shows_layers_timeline_overrides_and_the_feed(client, w):
    with rls_bypass("test"):
        Override.objects.create(
            schedule=w["a_schedule"],
            user=w["a_viewer"],
            start=datetime(2026, 6, 3, 10, 0, tzinfo=UTC),
            end=datetime(2026, 6, 3, 14, 0, tzinfo=UTC),
            reason="Covering a dentist appointment",
        )
    html = page(client, w["a_admin"], detail(w["a_schedule"]))
    assert f"{w['a_responder'].username} → {w['a_admin'].username}" in html  # layer order
    assert "Covering a dentist appointment" in html
    assert html.count('class="day-bar"') == 7
    # Wednesday 3 June: the responder's rotation until 12:00 local, the override 12:00-16:00
    wednesday = html.split("Wed 3 Jun")[1].split("</tr>")[0]
    assert f"{w['a_viewer'].username} 12:00–16:00" in wednesday and "override" in wednesday
    assert f"/api/v1/schedules/{w['a_schedule'].pk}/ical/" in html
    assert "Import a rotation" in html and 'enctype="multipart/form-data"' in html
    assert html.count('class="day-bar"') == 7
    assert page(client, w["a_admin"], detail(w["a_schedule"]) + "?days=14").count("day-bar") == 14
    assert page(client, w["a_admin"], detail(w["a_schedule"]) + "?days=x").count("day-bar") == 7


def test_a_viewer_reads_the_schedule_but_is_offered_no_changes(client, w):
    html = page(client, w["a_viewer"], detail(w["a_schedule"]))
    assert "Edit schedule" not in html and "Add override" not in html
    assert 'action="' + reverse("oncall-import", args=[w["a_schedule"].pk]) not in html


# --- creating and changing -------------------------------------------------------------------
def schedule_post(team=None, **fields):
    data = {
        "name": "Weekend cover",
        "time_zone": "Europe/Berlin",
        "layer-0-rotation": "weekly",
        "layer-0-name": "Weekly",
        "layer-0-participants": "",
        "layer-0-rotation_start": "2026-06-05T18:00",
        "layer-0-shift_hours": "",
        "layer-0-from_time": "09:00",
        "layer-0-to_time": "17:00",
    }
    if team is not None:
        data["team"] = str(team.pk)
    data.update(fields)
    return data


def test_a_customer_admin_creates_a_schedule_with_a_layer_through_the_page(client, w):
    client.force_login(w["a_admin"])
    assert client.get(reverse("oncall-schedule-new")).status_code == 200
    names = f"{w['a_admin'].username}, {w['a_responder'].username}"
    response = client.post(
        reverse("oncall-schedule-new"),
        schedule_post(w["a_team"], **{"layer-0-participants": names}),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with rls_bypass("test"):
        schedule = unscoped(Schedule).get(name="Weekend cover")
        assert schedule.tenant_id == w["a"].pk
        [layer] = schedule.ordered_layers()
        assert layer.participants == [w["a_admin"].pk, w["a_responder"].pk]
        assert layer.rotation_start == datetime(2026, 6, 5, 16, 0, tzinfo=UTC)  # 18:00 CEST
        assert layer.restriction is None
        assert (
            unscoped(AuditEvent)
            .filter(action="oncall.schedule.created", object_id=str(schedule.pk))
            .exists()
        )
    assert response["Location"] == detail(schedule)


def test_the_team_choices_are_the_teams_the_caller_manages(client, w):
    html = page(client, w["a_admin"], reverse("oncall-schedule-new"))
    assert "A security team" in html and "B security team" not in html and "SOC L2" not in html
    html = page(client, w["lead"], reverse("oncall-schedule-new"))
    assert "A security team" in html and "SOC L2" in html and "B security team" not in html


@pytest.mark.parametrize(
    "fields,field,message",
    [
        ({"layer-0-participants": "mallory"}, "layer-0-participants", "Not members of the team"),
        ({"layer-0-rotation": "custom"}, "layer-0-shift_hours", "A custom rotation needs it."),
        ({"time_zone": "Mars/Olympus"}, "time_zone", ""),
        ({"layer-0-rotation_start": ""}, "layer-0-rotation_start", ""),
        (
            {"layer-0-days": ["mon"], "layer-0-to_time": "25:00"},
            "layer-0-days",
            "",
        ),
    ],
    ids=["stranger", "custom-without-hours", "time-zone", "no-start", "bad-window"],
)
def test_server_side_errors_are_shown_at_their_inputs(client, w, fields, field, message):
    client.force_login(w["a_admin"])
    response = client.post(reverse("oncall-schedule-new"), schedule_post(w["a_team"], **fields))
    assert response.status_code == 400
    html = response.content.decode()
    # Django renders a field's errors in a list whose id names the field
    errors = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    assert errors is not None, html[html.find("errorlist") - 200 : html.find("errorlist") + 400]
    assert message in errors.group(1)
    with rls_bypass("test"):
        assert not unscoped(Schedule).filter(name="Weekend cover").exists()


def test_a_team_of_another_tenant_cannot_be_chosen(client, w):
    client.force_login(w["a_admin"])
    response = client.post(reverse("oncall-schedule-new"), schedule_post(w["b_team"]))
    assert response.status_code == 400
    assert "valid choice" in response.content.decode()
    with rls_bypass("test"):
        assert not unscoped(Schedule).filter(name="Weekend cover").exists()


def test_editing_a_schedule_changes_its_layers_and_adds_a_business_hours_layer(client, w):
    schedule = w["a_schedule"]
    url = reverse("oncall-schedule-edit", args=[schedule.pk])
    html = page(client, w["a_admin"], url)
    assert f'value="{w["a_responder"].username}, {w["a_admin"].username}"' in html
    members = html.split("Who may be on call (usernames)")[1].split("</details>")[0]
    for persona in ("a_admin", "a_responder", "a_viewer"):
        assert w[persona].username in members
    data = {
        "name": "A primary (renamed)",
        "time_zone": "Europe/Berlin",
        "layer-0-rotation": "daily",
        "layer-0-participants": f"{w['a_responder'].username}, {w['a_admin'].username}",
        "layer-0-rotation_start": "2026-06-01T09:00",
        "layer-1-rotation": "weekly",
        "layer-1-name": "Office hours",
        "layer-1-participants": w["a_viewer"].username,
        "layer-1-rotation_start": "2026-06-01T09:00",
        "layer-1-days": ["mon", "tue", "wed", "thu", "fri"],
        "layer-1-from_time": "09:00",
        "layer-1-to_time": "17:00",
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    with rls_bypass("test"):
        schedule = unscoped(Schedule).get(pk=schedule.pk)
        assert schedule.name == "A primary (renamed)"
        base, office = schedule.ordered_layers()
        assert office.name == "Office hours" and office.participants == [w["a_viewer"].pk]
        assert office.restriction == {
            day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
        }
    # Monday 10:00 in Berlin is office hours: the viewer's layer wins
    html = page(client, w["a_admin"], detail(schedule))
    assert w["a_viewer"].username in html.split("data-on-call>")[1].split("</dd>")[0]
    assert "Mon 09:00–17:00; Tue 09:00–17:00" in html
    # removing the layer again: its rotation set to "Remove this layer"
    response = client.post(url, {**data, "layer-1-rotation": ""})
    assert response.status_code == 302
    with rls_bypass("test"):
        assert unscoped(Layer).filter(schedule=schedule).count() == 1


@pytest.mark.parametrize("persona", ["a_viewer", "a_responder"])
def test_those_who_may_not_change_a_schedule_are_refused(client, w, persona):
    schedule = w["a_schedule"]
    client.force_login(w[persona])
    edit = reverse("oncall-schedule-edit", args=[schedule.pk])
    assert client.get(edit).status_code == 403
    assert client.post(edit, {"name": "mine now", "time_zone": "UTC"}).status_code == 403
    assert client.post(reverse("oncall-schedule-delete", args=[schedule.pk])).status_code == 403
    assert client.post(reverse("oncall-import", args=[schedule.pk]), {}).status_code == 403
    assert client.get(reverse("oncall-schedule-new")).status_code == 403
    with rls_bypass("test"):
        assert unscoped(Schedule).get(pk=schedule.pk).name == "A primary"


def test_an_l1_analyst_reads_the_tiers_schedule_but_does_not_change_it(client, w):
    schedule = w["tier_schedule"]
    assert "L2 weekly" in page(client, w["analyst_a"], detail(schedule))
    client.force_login(w["analyst_a"])
    edit = reverse("oncall-schedule-edit", args=[schedule.pk])
    assert client.post(edit, {"name": "x", "time_zone": "UTC"}).status_code == 403
    assert page(client, w["lead"], edit)  # a lead does


def test_a_manager_deletes_a_schedule(client, w):
    client.force_login(w["a_admin"])
    response = client.post(reverse("oncall-schedule-delete", args=[w["a_schedule"].pk]))
    assert response.status_code == 302 and response["Location"] == "/oncall/"
    with rls_bypass("test"):
        assert not unscoped(Schedule).filter(pk=w["a_schedule"].pk).exists()


# --- overrides -------------------------------------------------------------------------------
def test_a_manager_adds_an_override_for_a_member_then_removes_it(client, w):
    schedule = w["a_schedule"]
    client.force_login(w["a_admin"])
    response = client.post(
        reverse("oncall-override-add", args=[schedule.pk]),
        {
            "user": str(w["a_viewer"].pk),
            "start": "2026-06-02T09:00",
            "end": "2026-06-02T18:00",
            "reason": "Swap with the admin",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with rls_bypass("test"):
        override = unscoped(Override).get(schedule=schedule)
        assert override.user_id == w["a_viewer"].pk
        assert override.start == datetime(2026, 6, 2, 7, 0, tzinfo=UTC)  # 09:00 CEST
    html = page(client, w["a_admin"], detail(schedule))
    assert "Swap with the admin" in html
    response = client.post(reverse("oncall-override-delete", args=[schedule.pk, override.pk]))
    assert response.status_code == 302
    with rls_bypass("test"):
        assert not unscoped(Override).filter(pk=override.pk).exists()


def test_a_responder_takes_a_shift_but_does_not_hand_over_anothers(client, w):
    schedule = w["a_schedule"]
    client.force_login(w["a_responder"])
    url = reverse("oncall-override-add", args=[schedule.pk])
    # tomorrow is the admin's day: the responder takes part of it
    span = {"start": "2026-06-02T10:00", "end": "2026-06-02T12:00"}
    assert client.post(url, {"user": str(w["a_responder"].pk), **span}).status_code == 302
    # ... but may not give the admin's day to the viewer
    theirs = {"user": str(w["a_viewer"].pk), "start": "2026-06-02T13:00", "end": "2026-06-02T15:00"}
    assert client.post(url, theirs).status_code == 403
    with rls_bypass("test"):
        assert unscoped(Override).filter(schedule=schedule).count() == 1


def test_a_viewer_may_not_add_an_override(client, w):
    client.force_login(w["a_viewer"])
    response = client.post(
        reverse("oncall-override-add", args=[w["a_schedule"].pk]),
        {"user": str(w["a_viewer"].pk), "start": "2026-06-02T10:00", "end": "2026-06-02T12:00"},
    )
    assert response.status_code == 403


def test_an_override_error_is_shown_on_the_form(client, w):
    client.force_login(w["a_admin"])
    response = client.post(
        reverse("oncall-override-add", args=[w["a_schedule"].pk]),
        {"user": str(w["a_viewer"].pk), "start": "2026-06-02T12:00", "end": "2026-06-02T10:00"},
    )
    assert response.status_code == 400
    assert "It ends before it starts." in response.content.decode()


# --- importing -------------------------------------------------------------------------------
ROTA = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//PagerDuty Inc.//PagerDuty//EN\r
BEGIN:VEVENT\r
UID:weekly@pagerduty.example\r
SUMMARY:On call: {username}\r
DTSTART:20260602T070000Z\r
DTEND:20260603T070000Z\r
RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=3\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:stranger@pagerduty.example\r
SUMMARY:On call: mallory\r
DTSTART:20260604T070000Z\r
DTEND:20260605T070000Z\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_a_manager_imports_a_recurring_rotation_from_a_file_or_pasted(client, w):
    schedule = w["a_schedule"]
    client.force_login(w["a_admin"])
    url = reverse("oncall-import", args=[schedule.pk])
    text = ROTA.format(username=w["a_viewer"].username)
    upload = SimpleUploadedFile("rota.ics", text.encode(), "text/calendar")
    response = client.post(url, {"file": upload})
    assert response.status_code == 200
    html = response.content.decode()
    assert "3 overrides imported" in html and "1 event skipped" in html
    assert "names nobody of the team" in html
    with rls_bypass("test"):
        assert unscoped(Override).filter(schedule=schedule).count() == 3
    again = client.post(url, {"calendar": text}).content.decode()
    assert "0 overrides imported" in again and "exists already" in again


@pytest.mark.parametrize(
    "data,message",
    [
        ({"calendar": "not a calendar"}, "Not an iCalendar file"),
        ({}, "Choose a .ics file"),
        (
            {"calendar": ROTA.replace("FREQ=WEEKLY;BYDAY=TU;COUNT=3", "FREQ=SECONDLY")},
            "repeats secondly",
        ),
        ({"file": "binary"}, "not UTF-8"),
        ({"calendar": "BEGIN:VCALENDAR\r\n" + "X" * (1024 * 1024 + 10)}, "larger than 1024 KiB"),
    ],
    ids=["text", "nothing", "secondly", "binary-file", "huge"],
)
def test_a_bad_calendar_is_a_400_with_the_reason(client, w, data, message):
    client.force_login(w["a_admin"])
    if data.get("file") == "binary":
        data = {"file": SimpleUploadedFile("x.ics", b"\xff\xfe garbage", "text/calendar")}
    response = client.post(reverse("oncall-import", args=[w["a_schedule"].pk]), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    with rls_bypass("test"):
        assert not unscoped(Override).filter(schedule=w["a_schedule"]).exists()


# --- the tenant boundary -----------------------------------------------------------------------
def oncall_routes() -> list[tuple[str, str]]:
    """(name, pattern) of every on-call page that names a schedule."""
    return [
        (p.name, str(p.pattern))
        for p in oncall_urls.urlpatterns
        if isinstance(p, URLPattern) and "schedule_id" in str(p.pattern)
    ]


def urls_for(name: str, schedule, override) -> str:
    if name == "oncall-override-delete":
        return reverse(name, args=[schedule.pk, override.pk])
    return reverse(name, args=[schedule.pk])


ATTACKERS = ["a_admin", "a_responder", "a_viewer", "analyst_a", "lead"]


def test_every_schedule_page_is_in_the_isolation_matrix():
    names = {name for name, _ in oncall_routes()}
    assert names == {
        "oncall-schedule",
        "oncall-schedule-edit",
        "oncall-schedule-delete",
        "oncall-override-add",
        "oncall-override-delete",
        "oncall-import",
        "oncall-feed-link",
        "oncall-feed-link-delete",
    }, "a new on-call page: add it to the isolation cases below"


@pytest.mark.parametrize("attacker", ATTACKERS)
@pytest.mark.parametrize("name", [n for n, _ in oncall_routes()])
def test_tenant_a_cannot_reach_tenant_bs_schedule_through_any_page(client, w, attacker, name):
    """B's schedule (and override) is the same 404 as a missing one, for GET and POST, and
    nothing of B changes or shows."""
    client.force_login(w[attacker])
    targets = [
        urls_for(name, w["b_schedule"], w["b_override"]),
        urls_for(name, type("Missing", (), {"pk": uuid.uuid4()}), w["b_override"]),
    ]
    if name == "oncall-override-delete":  # A's own schedule, B's override
        targets.append(urls_for(name, w["a_schedule"], w["b_override"]))
    body = {
        "name": "pwned",
        "time_zone": "UTC",
        "user": str(w[attacker].pk),
        "start": "2026-06-02T10:00",
        "end": "2026-06-02T12:00",
        "calendar": ROTA.format(username=w[attacker].username),
    }
    for url in targets:
        for response in (client.get(url), client.post(url, body)):
            assert response.status_code in (404, 405), (url, response.status_code)
            assert "B secret rota" not in response.content.decode()
    with rls_bypass("test"):
        b = unscoped(Schedule).get(pk=w["b_schedule"].pk)
        assert b.name == "B secret rota"
        assert list(unscoped(Override).filter(schedule=b)) == [w["b_override"]]


def test_a_customer_cannot_open_an_mssp_tiers_schedule(client, w):
    for persona in ("a_admin", "a_responder", "a_viewer"):
        page(client, w[persona], detail(w["tier_schedule"]), status=404)


def test_pages_need_a_login(client, w):
    for url in ("/oncall/", detail(w["a_schedule"]), reverse("oncall-schedule-new")):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
