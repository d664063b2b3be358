"""Evidence in Chromium, on a phone: a customer's responder hands over a hostile file from the
incident page's evidence card, sees it listed (its name escaped, its hash short with a copy
button) on a 390 px screen, downloads it as the bytes it sent, never rendered, and finds the
download in the file's chain of custody."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from alerts.models import Incident
from cases.models import Attachment
from tenants.rls import rls_bypass
from tests.factories import ingest_alerts

PHONE = {"width": 390, "height": 844}
STEPS_MS = 15_000
# An HTML page with script named as an image, the name carrying a right-to-left override.
HOSTILE = b"\x89PNG\r\n\x1a\n<html><script>document.title='pwned'</script></html>"
HOSTILE_NAME = "<b onclick=alert(1)>invoice\u202egnp.html"


def test_a_customer_hands_over_a_file_and_downloads_it_unrendered(personas, page_as, screenshot):
    ingest_alerts(personas["a_source"], 1, title="Phishing reported by finance")
    with rls_bypass("browser test fixture"):
        incident = Incident.objects.dangerously_unscoped("test").get(tenant=personas["a"])

    page = page_as(personas["a_responder"], viewport=PHONE)
    page.goto(f"/incidents/{incident.pk}/")
    card = page.locator("#evidence")
    card.get_by_text("No evidence files yet.").wait_for(timeout=STEPS_MS)
    card.get_by_label(re.compile("^File")).set_input_files(
        {"name": HOSTILE_NAME, "mimeType": "image/png", "buffer": HOSTILE}
    )
    with page.expect_navigation():
        card.get_by_role("button", name="Add the file").click()

    with rls_bypass("browser test assertion"):
        stored = Attachment.objects.dangerously_unscoped("test").get(incident=incident)
    assert stored.sha256 == hashlib.sha256(HOSTILE).hexdigest() and stored.size == len(HOSTILE)
    assert stored.name == "<b onclick=alert(1)>invoicegnp.html" and stored.visibility == "shared"
    row = page.locator(f"#evidence-{stored.pk}")
    row.wait_for(timeout=STEPS_MS)
    assert row.locator("a.filename").inner_text() == stored.name  # shown as text, not markup
    assert stored.sha256[:12] in row.inner_text()
    assert row.get_by_role("button", name=re.compile("^Copy")).is_visible()
    overflow = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
    assert overflow <= 1, f"the incident page is {overflow}px wider than a phone"
    screenshot(page, "evidence-card-phone")

    with page.expect_download() as started:
        row.get_by_role("link", name=re.compile("^Download")).click()
    download = started.value
    assert Path(download.path()).read_bytes() == HOSTILE
    assert download.suggested_filename.endswith("gnp.html")
    assert page.title() != "pwned"  # nothing of the file ran or rendered

    page.goto(f"/incidents/{incident.pk}/evidence/{stored.pk}/")
    custody = page.locator("table", has_text="Downloaded")
    custody.wait_for(timeout=STEPS_MS)
    assert personas["a_responder"].username in custody.inner_text()
    screenshot(page, "evidence-custody-phone")
