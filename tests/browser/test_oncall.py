"""The on-call pages in Chromium against the live portal: a customer's responder sees who is on
call now on /oncall/, its admin adds an override through the schedule's form and sees it on the
timeline; the schedule and its edit page fit a 390 px phone and pass axe-core. (/oncall/ itself
is in every persona's tour of the navigation, laptop and phone: test_scenarios.)"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from tests.browser.test_scenarios import PHONE, _accessibility_problems, _too_wide


def _schedule(personas):
    """Tenant A's in-house team (responder and admin) rotating daily at 09:00 in Berlin, the
    responder first, from yesterday: the admin is on call now or the responder is, and the
    timeline has both."""
    from oncall.models import Layer, Schedule
    from tenants.rls import rls_bypass

    zone = ZoneInfo("Europe/Berlin")
    with rls_bypass("browser test: an on-call schedule"):
        team = personas["a_team"]
        team.members.add(personas["a_admin"], personas["a_viewer"])
        schedule = Schedule.objects.create(team=team, name="A primary", time_zone="Europe/Berlin")
        yesterday = datetime.now(zone).date() - timedelta(days=1)
        Layer.objects.create(
            schedule=schedule,
            position=0,
            participants=[personas["a_responder"].pk, personas["a_admin"].pk],
            rotation="daily",
            rotation_start=datetime.combine(yesterday, time(9), tzinfo=zone),
        )
        now, _handoff, _next = schedule.now_and_next(datetime.now(zone))
    responder, admin = personas["a_responder"], personas["a_admin"]
    return schedule, responder if now == [responder.pk] else admin


def test_the_on_call_page_shows_who_is_on_call_and_an_override_is_added(
    personas, page_as, screenshot
):
    schedule, on_call = _schedule(personas)
    page = page_as(personas["a_responder"])
    page.goto("/oncall/")
    row = page.locator(f"#schedule-{schedule.pk}")
    assert row.locator("[data-on-call]").inner_text().strip() == on_call.username
    assert page.get_by_role("link", name="On call").count() >= 1  # the navigation's entry
    screenshot(page, "oncall-list")

    admin = page_as(personas["a_admin"])
    admin.goto(f"/oncall/{schedule.pk}/")
    assert admin.locator("svg.day-bar").count() == 7
    tomorrow = datetime.now(ZoneInfo("Europe/Berlin")).date() + timedelta(days=1)
    form = admin.locator("form", has=admin.get_by_role("button", name="Add override"))
    form.get_by_label("Who is on call").select_option(label=personas["a_viewer"].username)
    form.get_by_label("From").fill(f"{tomorrow}T13:00")
    form.get_by_label("Until").fill(f"{tomorrow}T15:00")
    form.get_by_label("Reason").fill("Browser swap")
    with admin.expect_navigation():
        admin.get_by_role("button", name="Add override").click()
    assert "Override added." in admin.locator("ul.messages").inner_text()
    day = admin.locator("table.timeline tr", has_text=tomorrow.strftime("%a %-d %b"))
    assert f"{personas['a_viewer'].username} 13:00–15:00" in day.inner_text()
    screenshot(admin, "oncall-schedule")
    problems = _accessibility_problems(admin)
    assert not problems, "\n".join(problems)


def test_the_schedule_pages_fit_a_phone(personas, page_as, screenshot):
    schedule, _ = _schedule(personas)
    phone = page_as(personas["a_admin"], viewport=PHONE)
    for path in (f"/oncall/{schedule.pk}/", f"/oncall/{schedule.pk}/edit/", "/oncall/new/"):
        response = phone.goto(path)
        assert response is not None and response.status == 200, path
        overflow = phone.evaluate("() => document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 1, f"{path} is {overflow}px wider than a phone: {_too_wide(phone)}"
        screenshot(phone, f"phone-oncall-{path.strip('/').replace('/', '-')}")
        problems = _accessibility_problems(phone)
        assert not problems, f"{path}:\n" + "\n".join(problems)
