"""Vulnerability findings end to end: imports through the API (background, progress, errors),
re-imports that update and close, remediation SLAs on the sweep, risk acceptance and its
expiry, the customer's workflow, the incident page's host findings, and isolation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone

from alerts.models import Incident, IncidentEvent
from findings.models import (
    Finding,
    FindingEvent,
    RemediationClock,
    RemediationPolicy,
    ScanImport,
)
from findings.selectors import get_remediation_summary
from sla.models import Notification
from tenants.models import AuditEvent, Contact
from tenants.rls import rls_bypass, tenant_scope

SAMPLES = Path(__file__).parent.parent / "findings" / "samples"
IMPORTS = "/api/v1/findings/imports/"
pytestmark = pytest.mark.django_db


def upload(client, name, content=None, **fields):
    data = content if content is not None else (SAMPLES / name).read_bytes()
    return client.post(
        IMPORTS, {"file": SimpleUploadedFile(name, data), **fields}, format="multipart"
    )


def imported(client, capture, name, **fields) -> dict:
    """Upload and run the background import to the end (the tasks run after commit)."""
    with capture(execute=True):
        response = upload(client, name, **fields)
    assert response.status_code == 202, response.content
    body = client.get(f"{IMPORTS}{response.json()['id']}/").json()
    assert body["status"] == "done", body
    return body


def findings_of(tenant) -> dict[str, Finding]:
    with rls_bypass("test: read findings"):
        return {
            f.plugin_id: f
            for f in Finding.objects.for_tenant(tenant).select_related("asset", "clock")
        }


def events_of(finding) -> list[str]:
    with rls_bypass("test"):
        return list(
            FindingEvent.objects.for_tenant(finding.tenant_id)
            .filter(finding=finding)
            .order_by("at", "id")
            .values_list("kind", flat=True)
        )


def url(finding, action=""):
    return f"/api/v1/findings/{finding.pk}/" + (f"{action}/" if action else "")


# --- imports -----------------------------------------------------------------------------------


def test_customer_imports_a_nessus_file_twice_and_sees_one_set(
    api, two_tenants, django_capture_on_commit_callbacks
):
    client = api(two_tenants["a_admin"])
    first = imported(client, django_capture_on_commit_callbacks, "scan.nessus")
    assert first["kind"] == "nessus" and first["progress"] == 100
    assert (first["created_count"], first["updated_count"], first["closed_count"]) == (6, 0, 0)
    assert first["rejected_count"] == 1
    assert first["errors"] == [
        {"record": 7, "error": "ReportItem 7 of host 192.0.2.11: severity '5' is not 0-4"}
    ]
    second = imported(client, django_capture_on_commit_callbacks, "scan.nessus")
    assert (second["created_count"], second["updated_count"], second["closed_count"]) == (0, 6, 0)
    listed = client.get("/api/v1/findings/?page_size=100").json()["results"]
    assert len(listed) == 6
    assert len({(f["asset"]["id"], f["plugin_id"], f["port"]) for f in listed}) == 6
    assert listed[0]["severity"] == "critical"  # most severe first
    assert listed[0]["remediation"]["target_days"] == 7
    assert listed[0]["remediation"]["due_at"]
    with rls_bypass("test"):
        assert (
            AuditEvent.objects.for_tenant(two_tenants["a"])
            .filter(action="finding.imported")
            .count()
            == 2
        )


def test_a_rescan_updates_closes_what_is_gone_and_adds_what_is_new(
    api, two_tenants, django_capture_on_commit_callbacks
):
    client = api(two_tenants["analyst_a"])
    imported(client, django_capture_on_commit_callbacks, "scan.nessus", tenant="tenant-a")
    rescan = imported(
        client, django_capture_on_commit_callbacks, "rescan.nessus", tenant="tenant-a"
    )
    assert (rescan["created_count"], rescan["updated_count"], rescan["closed_count"]) == (1, 5, 1)
    findings = findings_of(two_tenants["a"])
    assert len(findings) == 7
    sweet32 = findings["42873"]
    assert sweet32.status == "remediated" and sweet32.verified_at is not None
    assert sweet32.clock.state == "met"
    assert events_of(sweet32) == ["imported", "remediated"]
    assert findings["187315"].status == "open"  # Terrapin, new in the rescan
    assert findings["156032"].status == "open"
    with rls_bypass("test"):
        closed = AuditEvent.objects.for_tenant(two_tenants["a"]).get(action="finding.remediated")
    assert closed.object_id == str(sweet32.pk) and closed.data["cause"] == "rescan"
    # Once more: nothing new, nothing closed twice.
    again = imported(client, django_capture_on_commit_callbacks, "rescan.nessus", tenant="tenant-a")
    assert (again["created_count"], again["closed_count"]) == (0, 0)
    assert len(findings_of(two_tenants["a"])) == 7


def test_an_import_whose_every_record_is_rejected_closes_nothing(
    api, two_tenants, django_capture_on_commit_callbacks
):
    client = api(two_tenants["a_admin"])
    engagement = client.post(
        "/api/v1/findings/engagements/", {"name": "Pentest"}, format="json"
    ).json()["id"]
    imported(client, django_capture_on_commit_callbacks, "findings.csv", engagement=engagement)
    bad = b"host,title,severity\nweb01,Broken,catastrophic\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, "findings.csv", content=bad, engagement=engagement)
    body = client.get(f"{IMPORTS}{response.json()['id']}/").json()
    assert (body["status"], body["rejected_count"], body["closed_count"]) == ("done", 1, 0)
    assert {f.status for f in findings_of(two_tenants["a"]).values()} == {"open"}


def test_a_rescan_that_still_finds_a_customer_remediated_finding_withdraws_the_claim(
    api, two_tenants, django_capture_on_commit_callbacks
):
    client = api(two_tenants["a_responder"])
    imported(client, django_capture_on_commit_callbacks, "scan.nessus")
    log4j = findings_of(two_tenants["a"])["156032"]
    response = client.post(url(log4j, "mark-remediated"), {"note": "patched"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "open"  # a customer's claim: open until verified
    assert response.json()["awaits_verification"] is True
    imported(client, django_capture_on_commit_callbacks, "rescan.nessus")
    log4j = findings_of(two_tenants["a"])["156032"]
    assert log4j.status == "open" and log4j.remediated_at is None
    assert not log4j.awaits_verification and log4j.remediation_claimed_at is None
    assert events_of(log4j)[-1] == "remediation_refuted"
    assert log4j.clock.state == "running"


def test_each_format_imports_with_its_errors_reported(
    api, two_tenants, django_capture_on_commit_callbacks
):
    client = api(two_tenants["a_admin"])
    for name, created, rejected in (
        ("openvas_report.xml", 3, 1),
        ("nuclei.jsonl", 3, 2),
        ("findings.csv", 3, 2),
    ):
        body = imported(client, django_capture_on_commit_callbacks, name)
        assert (body["created_count"], body["rejected_count"]) == (created, rejected), name
        assert len(body["errors"]) == rejected
    findings = findings_of(two_tenants["a"])
    # The Nuclei and CSV findings on 192.0.2.10 / app.example.com share their assets by name.
    assert findings["PT-2026-001"].asset.identifier == "192.0.2.10"
    assert findings["CVE-2021-44228"].asset.fqdn == "app.example.com"


def test_the_import_reads_the_file_once_and_commits_a_chunk_at_a_time(
    api, two_tenants, django_capture_on_commit_callbacks, monkeypatch
):
    """One task runs the import: it checks the whole file once, then imports it a chunk at a
    time, each chunk's findings and progress in their own transaction. The file is not read
    again for each chunk (that made an import's cost grow with the square of its size)."""
    from findings import imports
    from findings.importers import nessus
    from findings.tasks import run_import

    monkeypatch.setattr(imports, "IMPORT_CHUNK", 2)
    client = api(two_tenants["a_admin"])
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = upload(client, "scan.nessus")
    assert response.status_code == 202
    assert response.json()["status"] == "queued" and response.json()["progress"] == 0
    assert len(queued) == 1
    scan_id, tenant_id = response.json()["id"], two_tenants["a"].pk
    read, progress = [], []
    real_parse, real_import = nessus.parse, imports._import_records

    def counting_parse(data):
        for record in real_parse(data):
            read.append(record.index)
            yield record

    def observed_import(scan, records, now):
        # What the previous chunks committed, seen from the next one's transaction.
        with rls_bypass("test"):
            progress.append(ScanImport.objects.for_tenant(tenant_id).get(pk=scan_id).position)
        real_import(scan, records, now)

    monkeypatch.setattr(nessus, "parse", counting_parse)
    monkeypatch.setattr(imports, "_import_records", observed_import)
    assert run_import(tenant_id, scan_id) is False  # to its end, nothing left to queue
    assert progress == [0, 2, 4, 6]  # 7 records, 2 a chunk
    assert read == list(range(7)) * 2  # the check, then the import: each record read twice
    body = client.get(f"{IMPORTS}{scan_id}/").json()
    assert (body["status"], body["progress"], body["total"]) == ("done", 100, 7)
    assert body["created_count"] == 6
    run_import(tenant_id, scan_id)  # a redelivered task finds the work done
    assert len(findings_of(two_tenants["a"])) == 6 and len(read) == 14


def test_an_import_whose_worker_died_goes_on_from_its_last_chunk(
    api, two_tenants, django_capture_on_commit_callbacks, monkeypatch
):
    from django.db import OperationalError

    from findings import imports
    from findings.tasks import run_import

    monkeypatch.setattr(imports, "IMPORT_CHUNK", 2)
    client = api(two_tenants["a_admin"])
    with django_capture_on_commit_callbacks(execute=False):
        scan_id = upload(client, "scan.nessus").json()["id"]
    tenant_id = two_tenants["a"].pk
    real_import, chunks = imports._import_records, []

    def dies_in_the_third_chunk(scan, records, now):
        chunks.append(len(records))
        if len(chunks) == 3:
            raise OperationalError("the connection went away")
        real_import(scan, records, now)

    monkeypatch.setattr(imports, "_import_records", dies_in_the_third_chunk)
    with pytest.raises(OperationalError):
        run_import(tenant_id, scan_id)
    body = client.get(f"{IMPORTS}{scan_id}/").json()
    assert (body["status"], body["position"], body["created_count"]) == ("running", 4, 4)
    run_import(tenant_id, scan_id)  # the stalled-import sweep's task
    body = client.get(f"{IMPORTS}{scan_id}/").json()
    assert (body["status"], body["position"]) == ("done", 7)
    assert (body["created_count"], body["updated_count"], body["rejected_count"]) == (6, 0, 1)
    assert len(findings_of(two_tenants["a"])) == 6


def test_xml_bombs_and_external_entities_are_refused_with_a_clear_400(
    api, two_tenants, django_capture_on_commit_callbacks
):
    client = api(two_tenants["a_admin"])
    for name in ("billion_laughs.nessus", "xxe_openvas.xml", "xxe_parameter_entity.xml"):
        with django_capture_on_commit_callbacks(execute=True):
            response = upload(client, name)
        assert response.status_code == 400, name
        body = response.json()
        assert body["error"] == "invalid"
        assert "entit" in body["detail"] or "external" in body["detail"], body
    with rls_bypass("test"):
        assert not ScanImport.objects.for_tenant(two_tenants["a"]).exists()


@override_settings(FINDINGS_IMPORT_MAX_BYTES=2000)
def test_an_oversized_upload_is_refused_with_413(api, client, two_tenants):
    response = upload(api(two_tenants["a_admin"]), "scan.nessus")
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert "2,000" in response.json()["detail"]
    client.force_login(two_tenants["a_admin"])
    data = (SAMPLES / "scan.nessus").read_bytes()
    page = client.post(
        "/findings/imports/upload/", {"file": SimpleUploadedFile("scan.nessus", data)}
    )
    assert page.status_code == 413 and "at most 2,000 bytes" in page.content.decode()
    with rls_bypass("test"):
        assert not ScanImport.objects.for_tenant(two_tenants["a"]).exists()


def test_viewers_cannot_import_and_staff_must_name_a_tenant_they_work(api, two_tenants):
    assert upload(api(two_tenants["a_viewer"]), "scan.nessus").status_code == 403
    response = upload(api(two_tenants["analyst_a"]), "scan.nessus", tenant="tenant-b")
    assert response.status_code == 400 and "No such tenant" in response.json()["detail"]
    with rls_bypass("test"):
        assert not ScanImport.objects.for_tenant(two_tenants["b"]).exists()


# --- remediation SLAs ---------------------------------------------------------------------------


def test_remediation_due_dates_follow_the_severity_and_the_tenants_own_policy(
    api, two_tenants, django_capture_on_commit_callbacks
):
    with rls_bypass("test fixture"):
        RemediationPolicy.objects.create(tenant=two_tenants["a"], severity="high", days=14)
    imported(api(two_tenants["a_admin"]), django_capture_on_commit_callbacks, "scan.nessus")
    findings = findings_of(two_tenants["a"])
    expected = {"156032": 7, "100464": 14, "42873": 90, "57608": 90, "58453": 120}
    for plugin, days in expected.items():
        clock = findings[plugin].clock
        assert clock.target_days == days, plugin
        assert clock.due_at - clock.started_at == timedelta(days=days)
    with pytest.raises(RemediationClock.DoesNotExist):
        findings["19506"].clock  # noqa: B018 (info: no remediation target)


def overdue(finding, by=timedelta(minutes=1)) -> None:
    """Move the finding's clock so that it fell due `by` ago."""
    with rls_bypass("test: time travel"):
        clock = RemediationClock.objects.for_tenant(finding.tenant_id).get(finding=finding)
        shift = clock.due_at - (timezone.now() - by)
        RemediationClock.objects.for_tenant(finding.tenant_id).filter(pk=clock.pk).update(
            started_at=clock.started_at - shift,
            resumed_at=clock.resumed_at - shift,
            due_at=clock.due_at - shift,
            at_risk_at=clock.at_risk_at - shift,
        )


def test_a_remediation_breach_fires_once_through_the_sla_sweep(
    api, two_tenants, django_capture_on_commit_callbacks
):
    from sla.tasks import sweep_clocks

    with rls_bypass("test fixture"):
        Contact.objects.create(tenant=two_tenants["a"], name="CISO", email="ciso@a.example")
    imported(api(two_tenants["a_admin"]), django_capture_on_commit_callbacks, "scan.nessus")
    log4j = findings_of(two_tenants["a"])["156032"]
    overdue(log4j)
    with django_capture_on_commit_callbacks(execute=True) as published:
        sweep_clocks()
        sweep_clocks()
    log4j = findings_of(two_tenants["a"])["156032"]
    assert log4j.clock.state == "breached" and log4j.clock.breach_fired_at is not None
    assert log4j.overdue_since is not None
    assert events_of(log4j).count("sla_breached") == 1
    assert events_of(log4j).count("sla_at_risk") == 1
    with rls_bypass("test"):
        breaches = AuditEvent.objects.for_tenant(two_tenants["a"]).filter(
            action="sla.breached", object_id=str(log4j.pk)
        )
        assert breaches.count() == 1
        notes = Notification.objects.for_tenant(two_tenants["a"]).filter(event_type="sla.breached")
        assert [(n.recipient, n.payload["finding"]) for n in notes] == [
            ("ciso@a.example", str(log4j.pk))
        ]
    assert published  # stream events and deliveries after commit
    listed = api(two_tenants["a_viewer"]).get("/api/v1/findings/?overdue=true").json()
    assert [f["id"] for f in listed["results"]] == [str(log4j.pk)]


def test_risk_acceptance_pauses_the_clock_and_its_expiry_reopens_the_finding(
    api, two_tenants, django_capture_on_commit_callbacks
):
    from sla.tasks import sweep_clocks

    client = api(two_tenants["a_responder"])
    imported(client, django_capture_on_commit_callbacks, "scan.nessus")
    smb = findings_of(two_tenants["a"])["57608"]
    until = (timezone.now() + timedelta(days=30)).date()
    response = client.post(
        url(smb, "accept-risk"),
        {"reason": "Legacy printers need it until replaced", "until": until.isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "risk_accepted"
    assert response.json()["risk_accepted_until"] == until.isoformat()
    smb = findings_of(two_tenants["a"])["57608"]
    assert smb.clock.state == "paused" and smb.clock.due_at is None
    with rls_bypass("test"):
        accepted = AuditEvent.objects.for_tenant(two_tenants["a"]).get(
            action="finding.risk_accepted"
        )
    assert accepted.actor_id == two_tenants["a_responder"].pk
    assert accepted.data["reason"] == "Legacy printers need it until replaced"
    # The date passes.
    with rls_bypass("test: time travel"):
        Finding.objects.for_tenant(two_tenants["a"]).filter(pk=smb.pk).update(
            risk_expires_at=timezone.now() - timedelta(seconds=1)
        )
    with django_capture_on_commit_callbacks(execute=True):
        sweep_clocks()
        sweep_clocks()
    smb = findings_of(two_tenants["a"])["57608"]
    assert smb.status == "open"
    assert smb.clock.state == "running" and smb.clock.due_at > timezone.now()
    assert events_of(smb)[-1] == "risk_expired" and events_of(smb).count("risk_expired") == 1
    with rls_bypass("test"):
        assert (
            AuditEvent.objects.for_tenant(two_tenants["a"])
            .filter(action="finding.risk_expired", object_id=str(smb.pk))
            .count()
            == 1
        )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"until": "2099-01-01"}, "reason"),
        ({"reason": "because"}, "until"),
        ({"reason": "because", "until": "2001-01-01"}, "future"),
        ({"reason": "   ", "until": "2026-12-31"}, "reason"),
        ({"reason": "forever", "until": "9999-12-31"}, "at most"),
    ],
)
def test_a_risk_acceptance_needs_a_reason_and_a_future_date(
    api, two_tenants, django_capture_on_commit_callbacks, body, message
):
    client = api(two_tenants["a_admin"])
    imported(client, django_capture_on_commit_callbacks, "findings.csv")
    finding = findings_of(two_tenants["a"])["PT-2026-003"]
    response = client.post(url(finding, "accept-risk"), body, format="json")
    assert response.status_code == 400
    assert message in str(response.json()).lower()
    assert findings_of(two_tenants["a"])["PT-2026-003"].status == "open"


def test_viewers_read_findings_but_do_not_change_them(
    api, two_tenants, django_capture_on_commit_callbacks
):
    imported(api(two_tenants["a_admin"]), django_capture_on_commit_callbacks, "findings.csv")
    finding = findings_of(two_tenants["a"])["PT-2026-003"]
    viewer = api(two_tenants["a_viewer"])
    assert viewer.get(url(finding)).status_code == 200
    body = {"reason": "x", "until": "2099-01-01"}
    assert viewer.post(url(finding, "accept-risk"), body, format="json").status_code == 403
    assert viewer.post(url(finding, "mark-remediated"), {}, format="json").status_code == 403
    customer = api(two_tenants["a_admin"])
    assert customer.post(url(finding, "verify"), {}, format="json").status_code == 403


def test_staff_verify_a_customers_remediation_and_reopen_with_a_reason(
    api, two_tenants, django_capture_on_commit_callbacks
):
    imported(api(two_tenants["a_admin"]), django_capture_on_commit_callbacks, "findings.csv")
    finding = findings_of(two_tenants["a"])["PT-2026-003"]
    api(two_tenants["a_admin"]).post(url(finding, "mark-remediated"), {}, format="json")
    staff = api(two_tenants["analyst_a"])
    response = staff.post(url(finding, "verify"), {}, format="json")
    assert response.status_code == 200 and response.json()["awaits_verification"] is False
    assert staff.post(url(finding, "reopen"), {}, format="json").status_code == 400
    response = staff.post(url(finding, "reopen"), {"reason": "still exploitable"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "open"
    kinds = [e["kind"] for e in staff.get(url(finding, "timeline")).json()]
    assert kinds == ["imported", "remediation_claimed", "verified", "reopened"]

    # The MSSP's verdicts stand: a customer does not reopen them.
    staff.post(url(finding, "false-positive"), {"reason": "lab host"}, format="json")
    customer = api(two_tenants["a_admin"])
    refused = customer.post(url(finding, "reopen"), {"reason": "mine"}, format="json")
    assert refused.status_code == 403
    assert findings_of(two_tenants["a"])["PT-2026-003"].status == "false_positive"


def test_out_of_range_times_and_scores_reject_their_record_only(
    api, two_tenants, django_capture_on_commit_callbacks
):
    csv_file = (
        "host,title,severity,id,seen_at,cvss_score\n"
        "10.0.0.1,Early,high,R-1,0001-01-01T00:00:00+01:00,\n"
        "10.0.0.2,Not a number,high,R-2,,NaN\n"
        "10.0.0.3,Fine,high,R-3,2026-11-01T10:00:00Z,7.5\n"
    )
    client = api(two_tenants["a_admin"])
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, "odd.csv", csv_file.encode())
    assert response.status_code == 202, response.content
    body = client.get(f"{IMPORTS}{response.json()['id']}/").json()
    assert body["status"] == "done", body
    assert set(findings_of(two_tenants["a"])) == {"R-3"}
    assert len(body["errors"]) == 2


# --- tenant isolation ------------------------------------------------------------------------


def test_a_customer_of_a_cannot_see_or_act_on_bs_findings(
    api, client, two_tenants, django_capture_on_commit_callbacks
):
    imported(api(two_tenants["b_admin"]), django_capture_on_commit_callbacks, "scan.nessus")
    b_finding = findings_of(two_tenants["b"])["156032"]
    # B's finding exists and B sees it.
    assert api(two_tenants["b_viewer"]).get(url(b_finding)).status_code == 200
    attacker = api(two_tenants["a_admin"])
    assert attacker.get("/api/v1/findings/").json()["results"] == []
    assert attacker.get(url(b_finding)).status_code == 404
    for action, body in (
        ("accept-risk", {"reason": "mine now", "until": "2099-01-01"}),
        ("mark-remediated", {}),
        ("reopen", {"reason": "x"}),
        ("timeline", None),
    ):
        call = attacker.get if body is None else attacker.post
        assert call(url(b_finding, action), body or {}, format="json").status_code == 404
    b_scan = api(two_tenants["b_admin"]).get(IMPORTS).json()["results"][0]
    assert attacker.get(f"{IMPORTS}{b_scan['id']}/").status_code == 404
    after = findings_of(two_tenants["b"])["156032"]
    assert (after.status, after.updated_at) == ("open", b_finding.updated_at)
    client.force_login(two_tenants["a_admin"])
    assert client.get(f"/findings/{b_finding.pk}/").status_code == 404
    assert client.get(f"/findings/imports/{b_scan['id']}/").status_code == 404
    page = client.get("/findings/")
    assert page.status_code == 200 and "Log4Shell" not in page.content.decode()
    response = client.post(
        f"/findings/{b_finding.pk}/act/",
        {"action": "accept-risk", "reason": "x", "until": "2099-01-01"},
    )
    assert response.status_code == 404
    assert findings_of(two_tenants["b"])["156032"].status == "open"


# --- joined to alerts by asset ---------------------------------------------------------------


def ingest_on_host(source, ip: str, severity: str = "low", title: str = "Beaconing") -> Incident:
    from alerts.ingest import ingest
    from alerts.intake.generic import parse
    from alerts.models import Alert, IntakeSource

    with tenant_scope([source.tenant_id]):
        source = (
            IntakeSource.objects.for_tenant(source.tenant_id)
            .select_related("tenant")
            .get(pk=source.pk)
        )
        result = ingest(
            source,
            [
                parse(
                    {
                        "title": title,
                        "severity": severity,
                        "observables": [{"type": "ip", "value": ip}],
                    }
                )
            ],
        )
        alert = Alert.objects.for_tenant(source.tenant_id).get(pk=result.alert_ids[0])
        return Incident.objects.for_tenant(source.tenant_id).get(pk=alert.incident_id)


def test_the_incident_page_shows_the_hosts_open_findings(
    api, client, two_tenants, django_capture_on_commit_callbacks
):
    imported(api(two_tenants["a_admin"]), django_capture_on_commit_callbacks, "scan.nessus")
    imported(api(two_tenants["b_admin"]), django_capture_on_commit_callbacks, "findings.csv")
    incident = ingest_on_host(two_tenants["a_source"], "192.0.2.10")
    client.force_login(two_tenants["analyst_a"])
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Open findings on these hosts" in page
    assert "Apache Log4j Remote Code Execution (Log4Shell)" in page
    assert "SMB Signing" not in page  # another host's
    assert "Outdated Apache httpd" not in page  # tenant B's finding on the same address
    other = ingest_on_host(two_tenants["a_source"], "198.51.100.7", title="Other host")
    page = client.get(f"/incidents/{other.pk}/").content.decode()
    assert "No open finding" in page
    # And the other way: the finding's page names the open incidents on its host.
    log4j = findings_of(two_tenants["a"])["156032"]
    page = client.get(f"/findings/{log4j.pk}/").content.decode()
    assert "Open incidents on this host" in page and f"/incidents/{incident.pk}/" in page
    assert f"/incidents/{other.pk}/" not in page


def test_overdue_critical_findings_raise_incidents_on_their_host_once(
    api, two_tenants, django_capture_on_commit_callbacks
):
    from sla.tasks import sweep_clocks

    imported(api(two_tenants["a_admin"]), django_capture_on_commit_callbacks, "scan.nessus")
    before = ingest_on_host(two_tenants["a_source"], "192.0.2.10", title="Before the breach")
    elsewhere = ingest_on_host(two_tenants["a_source"], "192.0.2.11", title="Other host")
    log4j = findings_of(two_tenants["a"])["156032"]
    overdue(log4j)
    with django_capture_on_commit_callbacks(execute=True):
        sweep_clocks()
    after = ingest_on_host(two_tenants["a_source"], "192.0.2.10", title="After the breach")
    with rls_bypass("test"):
        incidents = Incident.objects.for_tenant(two_tenants["a"])
        assert incidents.get(pk=before.pk).severity == "high"
        assert incidents.get(pk=after.pk).severity == "high"
        assert incidents.get(pk=elsewhere.pk).severity == "low"
        raised = IncidentEvent.objects.for_tenant(two_tenants["a"]).filter(
            kind="severity_raised", incident=before
        )
        assert raised.count() == 1
        assert raised.get().data["findings"] == [log4j.title]
    with django_capture_on_commit_callbacks(execute=True):
        sweep_clocks()
    with rls_bypass("test"):
        assert (
            IncidentEvent.objects.for_tenant(two_tenants["a"])
            .filter(kind="severity_raised", incident=before)
            .count()
            == 1
        )


# --- reports ---------------------------------------------------------------------------------


def test_the_remediation_summary_counts_open_overdue_and_remediated(
    api, two_tenants, django_capture_on_commit_callbacks
):
    client = api(two_tenants["analyst_a"])
    imported(client, django_capture_on_commit_callbacks, "scan.nessus", tenant="tenant-a")
    imported(client, django_capture_on_commit_callbacks, "rescan.nessus", tenant="tenant-a")
    overdue(findings_of(two_tenants["a"])["156032"])
    now = timezone.now()
    since = now - timedelta(days=3650)  # first seen is the scanner's time (the samples' dates)
    with tenant_scope([two_tenants["a"].pk]):
        summary = get_remediation_summary([two_tenants["a"].pk], since, now + timedelta(days=1))
    assert summary["open_by_severity"] == {
        "critical": 1,
        "high": 1,
        "medium": 2,
        "low": 1,
        "info": 1,
    }
    assert summary["overdue"] == 1 and summary["overdue_by_severity"]["critical"] == 1
    assert summary["remediated_in_period"] == 1
    sweet32 = findings_of(two_tenants["a"])["42873"]
    expected = (sweet32.remediated_at - sweet32.first_seen).total_seconds() / 86400
    assert summary["mean_time_to_remediate_days"] == round(expected, 1)
    assert sweet32.first_seen.isoformat() == "2026-11-24T10:15:02+00:00"
    assert summary["new_in_period"] == 7
    with tenant_scope([two_tenants["b"].pk]):
        empty = get_remediation_summary([two_tenants["b"].pk], now - timedelta(days=1), now)
    assert empty["open_total"] == 0 and empty["mean_time_to_remediate_days"] is None


# --- pages -------------------------------------------------------------------------------------


def test_engagements_are_created_by_staff_and_customer_admins_and_scope_imports(
    api, client, two_tenants, django_capture_on_commit_callbacks
):
    body = {"name": "External pentest Q4", "kind": "pentest", "scope": "192.0.2.0/24"}
    assert (
        api(two_tenants["a_responder"])
        .post("/api/v1/findings/engagements/", body, format="json")
        .status_code
        == 403
    )
    created = api(two_tenants["a_admin"]).post("/api/v1/findings/engagements/", body, format="json")
    assert created.status_code == 201 and created.json()["tenant"] == "tenant-a"
    engagement = created.json()["id"]
    # B cannot file an import under A's engagement: it reads as unknown.
    refused = upload(api(two_tenants["b_admin"]), "findings.csv", engagement=engagement)
    assert refused.status_code == 400 and "No such object" in refused.json()["detail"]
    client.force_login(two_tenants["a_admin"])
    page = client.get("/findings/imports/").content.decode()
    assert "External pentest Q4" in page
    imported(
        api(two_tenants["a_admin"]),
        django_capture_on_commit_callbacks,
        "findings.csv",
        engagement=engagement,
    )
    listed = api(two_tenants["a_viewer"]).get(f"/api/v1/findings/?engagement={engagement}").json()
    assert len(listed["results"]) == 3


def test_a_customer_imports_through_the_page_and_follows_its_progress(
    client, two_tenants, django_capture_on_commit_callbacks
):
    client.force_login(two_tenants["a_responder"])
    page = client.get("/findings/imports/")
    assert page.status_code == 200 and 'name="file"' in page.content.decode()
    data = (SAMPLES / "nuclei.jsonl").read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/findings/imports/upload/",
            {"file": SimpleUploadedFile("nuclei.jsonl", data), "kind": "", "engagement": ""},
        )
    assert response.status_code == 302
    detail = client.get(response["Location"]).content.decode()
    assert "Done" in detail and "Rejected records" in detail
    assert "line 5: not JSON" in detail
    listing = client.get("/findings/?severity=critical").content.decode()
    assert "Apache Log4j2 Remote Code Injection" in listing
    assert "Git Configuration" not in listing
    with django_capture_on_commit_callbacks(execute=True):
        refused = client.post(
            "/findings/imports/upload/",
            {
                "file": SimpleUploadedFile(
                    "a.nessus", (SAMPLES / "billion_laughs.nessus").read_bytes()
                )
            },
            follow=True,
        )
    assert "entit" in refused.content.decode()
    with rls_bypass("test"):
        assert ScanImport.objects.for_tenant(two_tenants["a"]).count() == 1


def test_the_finding_page_offers_what_the_role_may_do_and_does_it(
    client, api, two_tenants, django_capture_on_commit_callbacks
):
    imported(api(two_tenants["a_admin"]), django_capture_on_commit_callbacks, "scan.nessus")
    log4j = findings_of(two_tenants["a"])["156032"]
    client.force_login(two_tenants["a_viewer"])
    page = client.get(f"/findings/{log4j.pk}/").content.decode()
    assert "CVE-2021-44228" in page and "Upgrade to Apache Log4j" in page
    assert "Accept risk" not in page and "Mark remediated" not in page
    assert (
        client.post(f"/findings/{log4j.pk}/act/", {"action": "start-remediation"}).status_code
        == 403
    )
    client.force_login(two_tenants["a_responder"])
    page = client.get(f"/findings/{log4j.pk}/").content.decode()
    assert "Accept risk" in page and "Mark remediated" in page
    assert "Verify remediation" not in page and "Mark false positive" not in page
    response = client.post(
        f"/findings/{log4j.pk}/act/",
        {"action": "accept-risk", "reason": "Isolated lab host", "until": "2001-01-01"},
        follow=True,
    )
    assert "must end in the future" in response.content.decode()
    response = client.post(f"/findings/{log4j.pk}/act/", {"action": "mark-remediated"}, follow=True)
    assert "awaiting verification" in response.content.decode()
    client.force_login(two_tenants["analyst_a"])
    page = client.get(f"/findings/{log4j.pk}/").content.decode()
    assert "Verify remediation" in page
    client.post(f"/findings/{log4j.pk}/act/", {"action": "verify"})
    assert findings_of(two_tenants["a"])["156032"].verified_at is not None


def test_findings_are_in_everyones_navigation(client, two_tenants):
    for user in ("a_viewer", "analyst_a"):
        client.force_login(two_tenants[user])
        assert 'href="/findings/"' in client.get("/findings/").content.decode()


def test_mssp_admins_override_remediation_targets_per_tenant(
    api, two_tenants, django_capture_on_commit_callbacks
):
    body = {"tenant": "tenant-a", "severity": "critical", "days": 3}
    assert (
        api(two_tenants["analyst_a"])
        .post("/api/v1/findings/remediation-slas/", body, format="json")
        .status_code
        == 403
    )
    admin = api(two_tenants["mssp_admin"])
    response = admin.post("/api/v1/findings/remediation-slas/", body, format="json")
    assert response.status_code == 201, response.content
    again = admin.post("/api/v1/findings/remediation-slas/", body, format="json")
    assert again.status_code == 400 and "unique" in again.json()["detail"]
    customer = api(two_tenants["a_viewer"])
    assert [
        p["days"] for p in customer.get("/api/v1/findings/remediation-slas/").json()["results"]
    ] == [3]
    assert (
        api(two_tenants["b_viewer"]).get("/api/v1/findings/remediation-slas/").json()["results"]
        == []
    )
    imported(api(two_tenants["a_admin"]), django_capture_on_commit_callbacks, "scan.nessus")
    imported(api(two_tenants["b_admin"]), django_capture_on_commit_callbacks, "scan.nessus")
    assert findings_of(two_tenants["a"])["156032"].clock.target_days == 3
    assert findings_of(two_tenants["b"])["156032"].clock.target_days == 7


@pytest.mark.services("postgresql")  # two threads writing (SQLite's test database locks)
@pytest.mark.django_db(transaction=True)
def test_embedded_mode_imports_beside_the_server_in_chunks(client, settings, monkeypatch):
    """No worker (`make run` without Redis): the upload answers at once with the import's
    page, and a thread of the server's imports the file chunk after chunk."""
    import time

    from findings import imports
    from tests.factories import MembershipFactory, TenantFactory

    monkeypatch.setattr(imports, "IMPORT_CHUNK", 2)
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.REPORTS_BACKGROUND_THREAD = True
    tenant = TenantFactory(slug="embedded")
    client.force_login(MembershipFactory(tenant=tenant, role="admin").user)
    data = (SAMPLES / "scan.nessus").read_bytes()
    response = client.post(
        "/findings/imports/upload/", {"file": SimpleUploadedFile("scan.nessus", data)}
    )
    assert response.status_code == 302
    deadline = time.monotonic() + 30
    while b"closed (no longer found)" not in (page := client.get(response["Location"])).content or (
        b"<progress" in page.content
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with rls_bypass("test"):
        scan = ScanImport.objects.for_tenant(tenant).get()
        assert (scan.status, scan.created_count, scan.rejected_count) == ("done", 6, 1)
        assert Finding.objects.for_tenant(tenant).count() == 6


@pytest.mark.services("postgresql")  # real concurrency: two transactions at once
@pytest.mark.django_db(transaction=True)
def test_two_imports_of_the_same_scan_at_once_duplicate_nothing():
    """The unique dedup key decides, not a lookup: two workers importing the same file at the
    same moment end with one set of findings, one clock each."""
    import threading

    from django.db import connections

    from findings import importers
    from findings.imports import import_request
    from findings.tasks import run_import
    from tests.factories import TenantFactory

    tenant = TenantFactory(slug="racing")
    data = (SAMPLES / "scan.nessus").read_bytes()
    with tenant_scope([tenant.pk]):
        scans = [
            import_request(
                tenant,
                data=data,
                file_name=f"scan{n}.nessus",
                kind="nessus",
                engagement=None,
                actor=None,
            )
            for n in range(2)
        ]
    assert importers.detect(data) == "nessus"
    barrier, errors = threading.Barrier(2), []

    def work(scan_id):
        try:
            barrier.wait()
            while run_import(tenant.pk, str(scan_id)):
                pass
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(s.pk,)) for s in scans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with rls_bypass("test"):
        assert Finding.objects.for_tenant(tenant).count() == 6
        assert RemediationClock.objects.for_tenant(tenant).count() == 5  # info has none
        counts = [
            (s.created_count, s.updated_count)
            for s in ScanImport.objects.for_tenant(tenant).order_by("file_name")
        ]
    assert sum(c for c, _ in counts) == 6 and sum(u for _, u in counts) == 6
    with rls_bypass("test"):  # neither closed what the other saw
        assert not Finding.objects.for_tenant(tenant).exclude(status="open").exists()


def test_an_import_that_hits_an_unexpected_error_fails_with_a_message(
    api, two_tenants, django_capture_on_commit_callbacks, monkeypatch
):
    from findings import imports

    def broken(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(imports, "_import_records", broken)
    client = api(two_tenants["a_admin"])
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, "scan.nessus")
    body = client.get(f"{IMPORTS}{response.json()['id']}/").json()
    assert body["status"] == "failed" and "unexpected error" in body["detail"]
    assert findings_of(two_tenants["a"]) == {}


def test_a_stalled_import_is_taken_up_once_not_every_minute(api, two_tenants):
    """The stalled-import sweep re-queues an import and marks it taken up: its next run, a
    minute later, leaves it to the task already queued."""
    from datetime import timedelta

    from django.utils import timezone

    from findings.models import ScanImport
    from findings.tasks import resume_stalled_imports

    response = upload(api(two_tenants["a_admin"]), "findings.csv")  # queued, never run here
    assert response.status_code == 202
    with rls_bypass("test: make it look stalled"):
        ScanImport.objects.dangerously_unscoped("t").update(
            updated_at=timezone.now() - timedelta(hours=1)
        )
    assert resume_stalled_imports() == 1
    assert resume_stalled_imports() == 0
