"""Who may close a finding by a scan (issue 10, finding 3): an MSSP's scan (or the system's
own, a scanner integration) verifies what it no longer finds; a customer's upload only
proposes it, and the finding stays open on its clock until MSSP staff verify. And what a scan
may close at all: findings of its own engagement on the hosts the file covers, never those of
another engagement, another file's hosts or another import running at the same time."""

from __future__ import annotations

import pytest

from findings.models import ScanImport
from tenants.models import AuditEvent
from tenants.rls import rls_bypass
from tests.findings.test_findings import events_of, findings_of, imported, upload, url

pytestmark = pytest.mark.django_db

IMPORTS = "/api/v1/findings/imports/"

# The review's file: the host the MSSP's critical finding is on, and one informational item.
HOST_AND_ONE_INFO_ITEM = b"""<?xml version="1.0" ?>
<NessusClientData_v2><Report name="our own scan">
<ReportHost name="192.0.2.10"><HostProperties>
<tag name="host-ip">192.0.2.10</tag><tag name="host-fqdn">web01.example.com</tag>
</HostProperties>
<ReportItem port="0" svc_name="general" protocol="tcp" severity="0" pluginID="19506"
 pluginName="Nessus Scan Information" pluginFamily="Settings"><description>x</description>
</ReportItem>
</ReportHost></Report></NessusClientData_v2>
"""


def customer_scan(client, capture, content=HOST_AND_ONE_INFO_ITEM, name="ours.nessus", **kw):
    return imported_content(client, capture, name, content, **kw)


def imported_content(client, capture, name, content, **fields) -> dict:
    with capture(execute=True):
        response = upload(client, name, content=content, **fields)
    assert response.status_code == 202, response.content
    body = client.get(f"{IMPORTS}{response.json()['id']}/").json()
    assert body["status"] == "done", body
    return body


def tenant_a_engagement(staff, name: str) -> str:
    """The id of a new engagement of tenant A, made by MSSP staff through the API."""
    response = staff.post(
        "/api/v1/findings/engagements/", {"name": name, "tenant": "tenant-a"}, format="json"
    )
    return response.json()["id"]


def test_a_customers_upload_does_not_verify_or_meet_the_clock_of_an_mssp_finding(
    api, two_tenants, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    imported(api(two_tenants["analyst_a"]), capture, "scan.nessus", tenant="tenant-a")
    responder = api(two_tenants["a_responder"])
    log4j = findings_of(two_tenants["a"])["156032"]
    assert responder.post(url(log4j, "verify"), {}, format="json").status_code == 403

    body = customer_scan(responder, capture)
    assert body["verifies_remediation"] is False
    # Log4Shell and SWEET32 on 192.0.2.10 are no longer in the customer's file: proposed.
    assert (body["closed_count"], body["proposed_count"]) == (0, 2)
    log4j = findings_of(two_tenants["a"])["156032"]
    assert log4j.status == "open"
    assert log4j.verified_at is None and log4j.remediated_at is None
    assert log4j.clock.state == "running" and log4j.clock.met_at is None
    assert log4j.clock.due_at is not None
    assert log4j.awaits_verification and log4j.remediation_claimed_at is not None
    assert log4j.remediation_claimed_by == two_tenants["a_responder"]
    assert events_of(log4j) == ["imported", "remediation_claimed"]
    # The other host (not in the file) is left alone.
    assert findings_of(two_tenants["a"])["57608"].remediation_claimed_at is None
    detail = responder.get(url(log4j)).json()
    assert (detail["status"], detail["awaits_verification"]) == ("open", True)
    assert detail["remediation"]["state"] == "running"
    listed = responder.get("/api/v1/findings/?awaiting_verification=true").json()["results"]
    assert {f["plugin_id"] for f in listed} == {"156032", "42873"}

    # MSSP staff verify: now it is remediated, verified, and its clock met.
    response = api(two_tenants["analyst_a"]).post(url(log4j, "verify"), {}, format="json")
    assert response.status_code == 200, response.content
    log4j = findings_of(two_tenants["a"])["156032"]
    assert log4j.status == "remediated" and log4j.verified_at is not None
    assert log4j.verified_by == two_tenants["analyst_a"]
    assert log4j.remediated_by == two_tenants["a_responder"]  # who did the work
    assert log4j.clock.state == "met"
    assert not log4j.awaits_verification and log4j.remediation_claimed_at is None


def test_a_customer_marking_remediated_proposes_and_does_not_meet_the_clock(
    api, two_tenants, django_capture_on_commit_callbacks
):
    imported(
        api(two_tenants["analyst_a"]),
        django_capture_on_commit_callbacks,
        "scan.nessus",
        tenant="tenant-a",
    )
    log4j = findings_of(two_tenants["a"])["156032"]
    customer = api(two_tenants["a_admin"])
    response = customer.post(url(log4j, "mark-remediated"), {"note": "patched"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["awaits_verification"]) == ("open", True)
    assert response.json()["remediation"]["state"] == "running"
    again = customer.post(url(log4j, "mark-remediated"), {}, format="json")
    assert again.status_code == 400 and "awaiting verification" in again.json()["detail"]
    with rls_bypass("test"):
        claimed = AuditEvent.objects.for_tenant(two_tenants["a"]).get(
            action="finding.remediation_claimed"
        )
    assert claimed.actor_id == two_tenants["a_admin"].pk and claimed.data["note"] == "patched"
    # The MSSP does not confirm it: the claim is gone, the finding stays open on its clock.
    staff = api(two_tenants["analyst_a"])
    assert (
        customer.post(url(log4j, "reject-remediation"), {"reason": "x"}, format="json").status_code
        == 403
    )
    assert staff.post(url(log4j, "reject-remediation"), {}, format="json").status_code == 400
    response = staff.post(
        url(log4j, "reject-remediation"), {"reason": "still answers on 443"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["awaits_verification"]) == ("open", False)
    assert events_of(findings_of(two_tenants["a"])["156032"])[-2:] == [
        "remediation_claimed",
        "remediation_rejected",
    ]


def test_an_mssp_rescan_verifies_a_claim_and_any_rescan_that_still_finds_it_withdraws_it(
    api, two_tenants, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    staff = api(two_tenants["analyst_a"])
    imported(staff, capture, "scan.nessus", tenant="tenant-a")
    customer_scan(api(two_tenants["a_responder"]), capture)
    findings = findings_of(two_tenants["a"])
    assert findings["156032"].awaits_verification and findings["42873"].awaits_verification
    # The customer's next scan still finds Log4Shell: its claim did not hold.
    body = imported(api(two_tenants["a_responder"]), capture, "rescan.nessus")
    assert body["closed_count"] == 0
    findings = findings_of(two_tenants["a"])
    assert findings["156032"].status == "open" and not findings["156032"].awaits_verification
    assert events_of(findings["156032"])[-1] == "remediation_refuted"
    # SWEET32 is not in the rescan either: still (only) proposed.
    assert findings["42873"].status == "open" and findings["42873"].awaits_verification
    # The MSSP's own rescan verifies it.
    body = imported(staff, capture, "rescan.nessus", tenant="tenant-a")
    assert (body["verifies_remediation"], body["closed_count"]) == (True, 1)
    sweet32 = findings_of(two_tenants["a"])["42873"]
    assert sweet32.status == "remediated" and sweet32.verified_at is not None
    assert sweet32.clock.state == "met" and sweet32.remediation_claimed_at is None


def test_an_import_without_a_person_verifies_as_a_scanner_integration_would(two_tenants):
    from tests.factories import scan_imported

    first = "host,title,severity,id\n10.0.0.1,Weak TLS,high,T-1\n10.0.0.1,Old SSH,low,T-2\n"
    scan_imported(two_tenants["a"], first)
    scan = scan_imported(two_tenants["a"], "host,title,severity,id\n10.0.0.1,Weak TLS,high,T-1\n")
    assert (scan.verifies_remediation, scan.closed_count) == (True, 1)
    assert findings_of(two_tenants["a"])["T-2"].status == "remediated"


# --- what a scan may close ---------------------------------------------------------------------

HOSTS_1_AND_2 = (
    b"host,title,severity,id\n"
    b"10.1.0.1,Weak TLS,high,F-1\n10.1.0.2,Old SSH,medium,F-2\n10.1.0.2,Open SMB,low,F-3\n"
)


def engagement_of_hosts_1_and_2(staff, capture, name: str, file_name: str) -> str:
    """A new engagement of tenant A whose first file found F-1 on host 1, F-2 and F-3 on 2."""
    engagement = tenant_a_engagement(staff, name)
    imported_content(
        staff, capture, file_name, HOSTS_1_AND_2, engagement=engagement, tenant="tenant-a"
    )
    return engagement


def test_a_second_file_of_the_same_engagement_closes_nothing_on_hosts_it_does_not_cover(
    api, two_tenants, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    staff = api(two_tenants["analyst_a"])
    engagement = engagement_of_hosts_1_and_2(staff, capture, "Q4", "part1.csv")
    part2 = b"host,title,severity,id\n10.1.0.3,Directory listing,low,F-4\n"
    body = imported_content(
        staff, capture, "part2.csv", part2, engagement=engagement, tenant="tenant-a"
    )
    assert body["closed_count"] == 0
    assert {f.status for f in findings_of(two_tenants["a"]).values()} == {"open"}
    # A file of that engagement on host 2 only closes what it no longer finds there.
    again = b"host,title,severity,id\n10.1.0.2,Old SSH,medium,F-2\n"
    body = imported_content(
        staff, capture, "host2.csv", again, engagement=engagement, tenant="tenant-a"
    )
    assert body["closed_count"] == 1
    statuses = {k: f.status for k, f in findings_of(two_tenants["a"]).items()}
    assert statuses == {"F-1": "open", "F-2": "open", "F-3": "remediated", "F-4": "open"}


def test_an_import_without_an_engagement_leaves_an_engagements_findings_alone(
    api, two_tenants, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    staff = api(two_tenants["analyst_a"])
    engagement = engagement_of_hosts_1_and_2(staff, capture, "Pentest", "pentest.csv")
    loose = b"host,title,severity,id\n10.1.0.2,Something else,low,X-1\n"
    body = imported_content(staff, capture, "loose.csv", loose, tenant="tenant-a")
    assert body["closed_count"] == 0
    findings = findings_of(two_tenants["a"])
    assert {findings[k].status for k in ("F-1", "F-2", "F-3")} == {"open"}
    # And an engagement's import leaves the findings without one alone.
    body = imported_content(
        staff, capture, "pentest.csv", HOSTS_1_AND_2, engagement=engagement, tenant="tenant-a"
    )
    assert body["closed_count"] == 0
    assert findings_of(two_tenants["a"])["X-1"].status == "open"


def test_an_import_does_not_close_what_another_import_running_at_the_same_time_saw(
    api, two_tenants, django_capture_on_commit_callbacks, monkeypatch
):
    """Two files of the same hosts imported at once: each finding's last import is whichever
    wrote it last, so "not last seen by me" is not "gone"."""
    from findings import imports
    from findings.models import Finding

    capture = django_capture_on_commit_callbacks
    staff = api(two_tenants["analyst_a"])
    imported_content(staff, capture, "first.csv", HOSTS_1_AND_2, tenant="tenant-a")
    with capture(execute=False):
        one = upload(staff, "one.csv", content=HOSTS_1_AND_2, tenant="tenant-a").json()["id"]
        other = upload(staff, "two.csv", content=HOSTS_1_AND_2, tenant="tenant-a").json()["id"]
    tenant_id = two_tenants["a"].pk
    real = imports._import_records

    def and_the_other_import_right_after(scan, records, now):
        real(scan, records, now)
        # The other import, running beside this one, writes F-2 after this one did.
        ScanImport.objects.for_tenant(tenant_id).filter(pk=other).update(status="running")
        Finding.objects.for_tenant(tenant_id).filter(plugin_id="F-2").update(last_import=other)

    monkeypatch.setattr(imports, "_import_records", and_the_other_import_right_after)
    from findings.tasks import run_import

    while run_import(tenant_id, one):
        pass
    body = staff.get(f"{IMPORTS}{one}/").json()
    assert (body["status"], body["closed_count"]) == ("done", 0)
    assert {f.status for f in findings_of(two_tenants["a"]).values()} == {"open"}


def test_the_finding_page_shows_a_claim_and_offers_its_verdict_to_staff_only(
    api, client, two_tenants, django_capture_on_commit_callbacks
):
    imported(
        api(two_tenants["analyst_a"]),
        django_capture_on_commit_callbacks,
        "scan.nessus",
        tenant="tenant-a",
    )
    log4j = findings_of(two_tenants["a"])["156032"]
    client.force_login(two_tenants["a_responder"])
    response = client.post(f"/findings/{log4j.pk}/act/", {"action": "mark-remediated"}, follow=True)
    assert "awaiting verification by the MSSP" in response.content.decode()
    page = client.get(f"/findings/{log4j.pk}/").content.decode()
    assert "awaiting verification by the MSSP" in page and "Mark remediated" not in page
    assert "Verify remediation" not in page and "Not remediated" not in page
    refused = client.post(
        f"/findings/{log4j.pk}/act/", {"action": "reject-remediation", "reason": "mine"}
    )
    assert refused.status_code == 403
    client.force_login(two_tenants["analyst_a"])
    page = client.get(f"/findings/{log4j.pk}/").content.decode()
    assert "Verify remediation" in page and "Not remediated" in page
    response = client.post(
        f"/findings/{log4j.pk}/act/",
        {"action": "reject-remediation", "reason": "the banner still shows 2.14"},
        follow=True,
    )
    assert "Remediation not confirmed" in response.content.decode()
    log4j = findings_of(two_tenants["a"])["156032"]
    assert (log4j.status, log4j.awaits_verification) == ("open", False)


LOG4J_AS_LOW = b"""<?xml version="1.0" ?>
<NessusClientData_v2><Report name="our own scan">
<ReportHost name="192.0.2.10"><HostProperties><tag name="host-ip">192.0.2.10</tag>
</HostProperties>
<ReportItem port="443" svc_name="www" protocol="tcp" severity="1" pluginID="156032"
 pluginName="Apache Log4j Remote Code Execution (Log4Shell)">
<cvss3_base_score>2.0</cvss3_base_score></ReportItem>
</ReportHost></Report></NessusClientData_v2>
"""


def test_a_customers_upload_neither_lowers_a_findings_severity_nor_moves_its_engagement(
    api, two_tenants, django_capture_on_commit_callbacks
):
    """Lowering Log4Shell to low would have moved its remediation target from 7 days to 120;
    filing it under the customer's own engagement would have put it out of the reach of the
    MSSP's rescans of theirs."""
    capture = django_capture_on_commit_callbacks
    staff = api(two_tenants["analyst_a"])
    engagement = tenant_a_engagement(staff, "MSSP scan")
    imported(staff, capture, "scan.nessus", tenant="tenant-a", engagement=engagement)
    customer = api(two_tenants["a_admin"])
    own = customer.post("/api/v1/findings/engagements/", {"name": "Ours"}, format="json").json()
    customer_scan(customer, capture, LOG4J_AS_LOW, engagement=own["id"])
    log4j = findings_of(two_tenants["a"])["156032"]
    assert (log4j.severity, str(log4j.cvss_score)) == ("critical", "10.0")
    assert log4j.clock.target_days == 7
    assert str(log4j.engagement_id) == engagement
    assert "severity_changed" not in events_of(log4j)
    # The MSSP's own scan re-rates as it finds.
    imported_content(staff, capture, "ours.nessus", LOG4J_AS_LOW, tenant="tenant-a")
    log4j = findings_of(two_tenants["a"])["156032"]
    assert (log4j.severity, log4j.clock.target_days) == ("low", 120)
