"""Case work end to end in Chromium: a customer raises an incident from the portal (on a
phone), an analyst applies a case template and hands one of its tasks to the customer's
responder, and the responder marks it done in their inbox, which the analyst's incident page
then shows."""

from __future__ import annotations

import re
import uuid

from cases.models import CaseTemplate, Task
from tenants.rls import rls_bypass

PHONE = {"width": 390, "height": 844}
STEPS_MS = 15_000


def test_a_customer_raised_incident_worked_through_a_template(personas, page_as, screenshot):
    with rls_bypass("browser test fixture: the MSSP's library"):
        CaseTemplate.objects.create(
            tenant=None,
            category="phishing",
            name="Phishing",
            default_severity="high",
            tasks=[
                {"title": "Pull the e-mail from every mailbox", "phase": "containment"},
                {"title": "Reset the user's password", "phase": "eradication"},
            ],
        )
    title = f"We think we were phished {uuid.uuid4().hex[:6]}"

    # The customer's responder raises it on a phone; no template of its category ("other").
    customer = page_as(personas["a_responder"], viewport=PHONE)
    customer.goto("/incidents/new/")
    customer.get_by_label("What happened, in a line").fill(title)
    customer.get_by_label("Details").fill("Anna clicked a link in an invoice e-mail.")
    customer.get_by_label("Category").fill("other")
    customer.get_by_label("Urgency").select_option("urgent")
    customer.get_by_label("Affected people").fill("anna@a.example")
    with customer.expect_navigation():
        customer.get_by_role("button", name="Raise the incident").click()
    assert re.search(r"/incidents/[0-9a-f-]{36}/$", customer.url), customer.url
    incident_url = customer.url.split("://", 1)[1].split("/", 1)[1]
    customer.get_by_text("Raised by the customer").wait_for()
    screenshot(customer, "customer-raised-incident-phone")

    # The analyst applies the phishing template and hands a task to the responder.
    analyst = page_as(personas["analyst_a"])
    analyst.goto("/" + incident_url)
    analyst.get_by_label("Case template").select_option(label="Phishing (phishing)")
    with analyst.expect_navigation():
        analyst.get_by_role("button", name="Apply template").click()
    row = analyst.locator("tr", has_text="Reset the user's password")
    row.wait_for(timeout=STEPS_MS)
    row.get_by_text("Hand to…").click()
    row.get_by_label("Owner").select_option(label=personas["a_responder"].username)
    with analyst.expect_navigation():
        row.get_by_role("button", name=re.compile("^Save")).click()
    handed = analyst.locator("tr", has_text="Reset the user's password")
    handed.locator(".badge", has_text="shared").wait_for(timeout=STEPS_MS)  # shared by handing
    assert personas["a_responder"].username in handed.locator('td[data-label="Owner"]').inner_text()
    screenshot(analyst, "incident-tasks-after-template")

    # The responder finds it in their inbox (the internal task is not there) and marks it done.
    customer.goto("/inbox/")
    task = customer.locator("#inbox-tasks tr", has_text="Reset the user's password")
    task.wait_for(timeout=STEPS_MS)
    assert customer.locator("#inbox-tasks", has_text="Pull the e-mail").count() == 0
    screenshot(customer, "inbox-task-phone")
    task.get_by_role("button", name=re.compile("^Mark done")).click()
    task.wait_for(state="detached", timeout=STEPS_MS)

    with rls_bypass("browser test assertion"):
        done = Task.objects.dangerously_unscoped("test").get(title="Reset the user's password")
        internal = Task.objects.dangerously_unscoped("test").get(title__startswith="Pull the")
    assert done.status == "done" and done.visibility == "shared"
    assert internal.visibility == "internal" and internal.status == "open"
    analyst.reload()
    analyst.locator('tr[data-task-status="done"]', has_text="Reset the user's password").wait_for(
        timeout=STEPS_MS
    )
