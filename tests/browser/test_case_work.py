"""Case work end to end in Chromium: a customer raises an incident from the portal (on a
phone) with an attachment, an analyst applies a case template, comments (internally and to the
customer) and hands one of its tasks to the customer's responder, who marks it done in their
inbox; the analyst resolves the incident and drafts the post-incident report, a lead approves
and shares it, and the customer, told by e-mail, reads it and downloads its PDF: the shared
comment and the attachment are in it, the internal comment in neither page nor PDF."""

from __future__ import annotations

import io
import re
import uuid

from django.core import mail
from pypdf import PdfReader

from cases.models import Attachment, CaseTemplate, Task
from notifications import delivery as notification_delivery
from notifications.models import Channel, Delivery, Subscription
from tenants.rls import rls_bypass

PHONE = {"width": 390, "height": 844}
STEPS_MS = 15_000


def test_a_customer_raised_incident_worked_through_a_template(
    personas, page_as, screenshot, settings
):
    with rls_bypass("browser test fixture: the MSSP's library and A's mailbox"):
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
        mailbox = Channel.objects.create(
            tenant=personas["a"], name="Security mailbox", kind="email", target="soc@a.example"
        )
        Subscription.objects.create(
            tenant=personas["a"], channel=mailbox, events=["incident.report_shared"]
        )
    marker = uuid.uuid4().hex[:6]
    title = f"We think we were phished {marker}"
    internal_note = f"INTERNAL-{marker}: the CFO's laptop is the likely patient zero"
    shared_note = f"Update {marker}: the sender's domain is blocked for everyone"
    attachment = f"invoice-headers-{marker}.eml"

    # The customer's responder raises it on a phone; no template of its category ("other").
    customer = page_as(personas["a_responder"], viewport=PHONE)
    customer.goto("/incidents/new/")
    customer.get_by_label("What happened, in a line").fill(title)
    customer.get_by_label("Details").fill("Anna clicked a link in an invoice e-mail.")
    customer.get_by_label("Category").fill("other")
    customer.get_by_label("Urgency").select_option("urgent")
    customer.get_by_label("Affected people").fill("anna@a.example")
    customer.get_by_label("Attachments").set_input_files(
        [
            {
                "name": attachment,
                "mimeType": "message/rfc822",
                "buffer": b"Received: from evil.example\r\nSubject: Overdue invoice\r\n",
            }
        ]
    )
    with customer.expect_navigation():
        customer.get_by_role("button", name="Raise the incident").click()
    assert re.search(r"/incidents/[0-9a-f-]{36}/$", customer.url), customer.url
    incident_url = customer.url.split("://", 1)[1].split("/", 1)[1]
    customer.get_by_text("Raised by the customer").wait_for()
    customer.locator("#evidence-h").wait_for()
    assert customer.get_by_text(attachment).count() >= 1  # raised with it, shared
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

    # An internal comment (the MSSP's) and a shared one (the customer's to read).
    for body, visibility in ((internal_note, "internal"), (shared_note, "shared")):
        commenting = analyst.locator("section", has=analyst.locator("#comment-h"))
        commenting.locator("#cm-body").fill(body)
        commenting.locator(f'input[name="visibility"][value="{visibility}"]').check()
        with analyst.expect_navigation():
            commenting.get_by_role("button", name="Comment", exact=True).click()
        analyst.get_by_text(body).first.wait_for(timeout=STEPS_MS)

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

    # The analyst resolves it, drafts the post-incident report and writes its summary.
    analyst.get_by_label("Change status to").select_option("resolved")
    analyst.get_by_label("Resolution").select_option("true_positive")
    with analyst.expect_navigation():
        analyst.get_by_role("button", name="Change status").click()
    with analyst.expect_navigation():
        analyst.get_by_role("button", name="Draft the post-incident report").click()
    analyst.get_by_label("Summary").fill(f"Summary {marker}: one user was phished; contained.")
    with analyst.expect_navigation():
        analyst.get_by_role("button", name="Save the draft").click()
    analyst.get_by_text(f"Summary {marker}").first.wait_for(timeout=STEPS_MS)

    # A lead, who did not write it, approves it and shares it with the customer.
    lead = page_as(personas["lead"])
    lead.goto("/" + incident_url + "report/")
    with lead.expect_navigation():
        lead.get_by_role("button", name="Approve", exact=True).click()
    with lead.expect_navigation():
        lead.get_by_role("button", name="Share with the customer").click()
    screenshot(lead, "post-incident-report-shared")

    # The customer's mailbox is told, with the link (sent here: the live portal's worker
    # serves the default queue only); the portal shows the report and its PDF.
    link = f"/{incident_url}report/"
    settings.NOTIFICATIONS_CONCURRENCY = 1
    notification_delivery.deliver_batch()
    with rls_bypass("browser test assertion"):
        (told,) = Delivery.objects.dangerously_unscoped("test").filter(
            tenant=personas["a"], event_type="incident.report_shared"
        )
    assert told.status == "sent", told.last_error
    (message,) = [m for m in mail.outbox if m.to == ["soc@a.example"]]
    assert link in message.body and title in message.subject
    customer.goto("/" + incident_url)
    customer.get_by_role("link", name="Post-incident report", exact=True).click()
    customer.wait_for_url(f"**{link}")
    screenshot(customer, "post-incident-report-customer-phone")
    html = customer.content()
    assert shared_note in html and attachment in html and f"Summary {marker}" in html
    assert f"INTERNAL-{marker}" not in html
    with customer.expect_download() as download:
        customer.get_by_role("link", name="Download PDF").click()
    pdf = download.value.path().read_bytes()
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    flat = " ".join(text.split())
    assert shared_note in flat and attachment in flat, flat[:2000]
    assert f"INTERNAL-{marker}" not in flat
    with rls_bypass("browser test assertion"):
        (raised_with,) = Attachment.objects.dangerously_unscoped("test").filter(name=attachment)
    assert raised_with.visibility == "shared"
