"""Team channels in Chromium against the live portal: a manager adds an e-mail channel to the
MSSP's L2 tier through the team's page, sends a test and sees its delivery; the pages fit a
390 px phone and pass axe-core."""

from __future__ import annotations

from tests.browser.test_scenarios import PHONE, _accessibility_problems, _too_wide


def test_a_manager_adds_a_team_channel_and_sends_a_test(personas, page_as, screenshot):
    tier = personas["tier_l2"]
    page = page_as(personas["manager"])
    page.goto("/settings/teams/")
    with page.expect_navigation():
        page.get_by_role("link", name=tier.name).click()
    form = page.locator("form", has=page.get_by_role("button", name="Add channel"))
    form.get_by_label("Name").fill("L2 mailbox")
    form.get_by_label("Kind").select_option("email")
    form.get_by_label("Address or phone").fill("l2@mssp.example")
    form.get_by_label(personas["a"].name).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Add channel").click()
    assert "Channel 'L2 mailbox' added." in page.locator("ul.messages").inner_text()
    row = page.locator("tr", has_text="L2 mailbox")
    assert personas["a"].name in row.inner_text()
    with page.expect_navigation():
        row.get_by_role("button", name="Send a test").click()
    assert "Test message queued" in page.locator("ul.messages").inner_text()
    screenshot(page, "team-channels")
    problems = _accessibility_problems(page)
    assert not problems, "\n".join(problems)


def test_the_team_channel_pages_fit_a_phone(personas, page_as, screenshot):
    from notifications.models import TeamChannel

    tier = personas["tier_l2"]
    channel = TeamChannel.objects.create(
        team=tier, name="L2 Slack", kind="email", target="l2@mssp.example"
    )
    phone = page_as(personas["mssp_admin"], viewport=PHONE)
    for path in (
        "/settings/teams/",
        f"/settings/teams/{tier.pk}/",
        f"/settings/teams/{tier.pk}/channels/{channel.pk}/",
    ):
        response = phone.goto(path)
        assert response is not None and response.status == 200, path
        overflow = phone.evaluate("() => document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 1, f"{path} is {overflow}px wider than a phone: {_too_wide(phone)}"
        screenshot(phone, f"phone-{path.strip('/').replace('/', '-')}")
        problems = _accessibility_problems(phone)
        assert not problems, f"{path}:\n" + "\n".join(problems)
