"""Reports: figures on a known data set, equal to the SLA summary API; PDF, CSV, progress,
failure, the schedule, email to report contacts; isolation on the API and the pages."""

from __future__ import annotations

import csv
import io
import threading
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, connections, transaction
from django.utils import timezone
from pypdf import PdfReader

from alerts.ingest import ingest
from alerts.intake.generic import parse
from alerts.models import Incident, IntakeSource
from reports import services
from reports.models import Report, ReportSchedule
from reports.render import render_csv
from sla.models import ClockState, Escalation, SlaClock
from tenants.models import Contact, Team
from tenants.rls import rls_bypass, tenant_scope
from tests.factories import IntakeSourceFactory, generated_report

pytestmark = pytest.mark.django_db


# --- a known data set ---------------------------------------------------------------------------
def send(source, records):
    with tenant_scope([source.tenant_id]):
        source = (
            IntakeSource.objects.for_tenant(source.tenant_id)
            .select_related("tenant")
            .get(pk=source.pk)
        )
        return ingest(source, [parse(r) for r in records]).alert_ids


def alert(title, severity, category="", rule_name="", **extra):
    return {
        "title": title,
        "severity": severity,
        "category": category,
        "rule_name": rule_name,
        "source_ref": uuid.uuid4().hex,
        "fingerprint": uuid.uuid4().hex,  # each alert its own incident
        **extra,
    }


@pytest.fixture
def known(two_tenants):
    """Tenant A: 6 alerts (3 critical malware from one rule, 2 low recon, 1 medium without
    category or rule) from two sources, each its own incident; acknowledge clocks met in
    600 s and 1200 s; escalations: one accepted, one declined, one MSSP tier notice.
    Tenant B: alerts that must never count in A's report."""
    w = dict(two_tenants)
    a, b = w["a"], w["b"]
    second = IntakeSourceFactory(tenant=a, name="Firewall")
    start = timezone.now() - timedelta(hours=1)
    send(
        w["a_source"],
        [alert(f"Ransom {n}", "critical", "malware", "Ransomware note") for n in range(3)],
    )
    send(second, [alert(f"Scan {n}", "low", "recon", "Port scan") for n in range(2)])
    send(second, [alert("Odd login", "medium")])
    send(w["b_source"], [alert("B's secret", "high", "exfiltration", "B rule") for _ in range(4)])
    with rls_bypass("test fixture"):
        Team.objects.create(tenant=a, name="A in-house", kind="in_house")
        clocks = list(
            SlaClock.objects.for_tenant(a)
            .filter(target="acknowledge", owner="mssp")
            .order_by("started_at", "id")[:2]
        )
        for clock, seconds in zip(clocks, (600, 1200), strict=True):
            clock.state, clock.consumed_seconds, clock.met_at = (
                ClockState.MET,
                seconds,
                timezone.now(),
            )
            clock.save()
        from sla.escalation import escalation_accept, escalation_decline, escalation_request

        incidents = list(Incident.objects.for_tenant(a).order_by("created_at", "id"))
        accepted = escalation_request(incidents[0], direction="to_customer", actor=w["analyst_a"])
        escalation_accept(accepted, actor=w["a_responder"])
        declined = escalation_request(incidents[1], direction="to_customer", actor=w["analyst_a"])
        escalation_decline(declined, actor=w["a_responder"], reason="not ours")
        escalation_request(incidents[2], direction="to_tier", actor=w["analyst_a"])
        Contact.objects.create(tenant=a, name="CISO", email="ciso@a.example")
        Contact.objects.create(tenant=a, name="Ops", email="ops@a.example", receive_reports=False)
        Contact.objects.create(tenant=b, name="B CISO", email="ciso@b.example")
    w["start"], w["end"] = start, timezone.now()
    return w


def generate(w, tenant_key="a", **kwargs) -> Report:
    tenant = w[tenant_key]
    with tenant_scope([tenant.pk]):
        report = services.report_request(
            tenant, services.Period(w["start"], w["end"]), w[f"{tenant_key}_admin"], **kwargs
        )
    services.report_generate(tenant.pk, report.pk)
    return load(tenant, report.pk)


def load(tenant, pk) -> Report:
    with tenant_scope([tenant.pk]):
        return Report.objects.for_tenant(tenant).get(pk=pk)


# --- figures ------------------------------------------------------------------------------------
def test_figures_of_a_known_data_set(known):
    report = generate(known)
    assert report.status == "done" and report.progress == 100 and report.error == ""
    f = report.figures
    assert f["alerts"]["total"] == 6
    assert f["alerts"]["by_severity"] == {
        "critical": 3,
        "high": 0,
        "medium": 1,
        "low": 2,
        "info": 0,
    }
    assert f["alerts"]["by_category"] == [
        {"category": "malware", "count": 3},
        {"category": "recon", "count": 2},
        {"category": "", "count": 1},
    ]
    sources = {row["name"]: row["count"] for row in f["alerts"]["by_source"]}
    assert sources == {known["a_source"].name: 3, "Firewall": 3}
    assert f["incidents"]["total"] == 6
    assert f["incidents"]["by_severity"]["critical"] == 3
    assert f["headline"]["mtta_seconds"] == 900.0  # (600 + 1200) / 2
    assert f["headline"]["incidents"] == 6
    # The tier notice is MSSP-internal: not in the customer's report.
    assert f["escalations"]["total"] == 2
    assert f["escalations"]["outcomes"]["accepted"] == 1
    assert f["escalations"]["outcomes"]["declined"] == 1
    assert f["escalations"]["outcomes"]["notified"] == 0
    to_customer = next(
        r for r in f["escalations"]["by_direction"] if r["direction"] == "to_customer"
    )
    assert to_customer["total"] == 2 and to_customer["mean_answer_seconds"] is not None
    top = f["top_detections"]
    assert [(d["detection"], d["alerts"], d["severity"]) for d in top] == [
        ("Ransomware note", 3, "critical"),
        ("Port scan", 2, "low"),
        ("Odd login", 1, "medium"),
    ]
    assert "B's secret" not in str(f) and "B rule" not in str(f)


def test_sla_figures_equal_the_summary_api(known, api):
    report = generate(known)
    period = report.figures["period"]
    for user in (known["a_viewer"], known["mssp_admin"]):
        response = api(user).get(
            "/api/v1/sla/summary/",
            {"from": period["from"], "to": period["to"], "tenant": "tenant-a"},
        )
        assert response.status_code == 200
        assert response.json() == report.figures["sla"]["summary"]
    assert report.figures["sla"]["summary"]["targets"]["acknowledge"]["met"] == 2


def test_pdf_is_a_real_pdf_with_the_figures(known):
    report = generate(known)
    pdf = bytes(report.pdf)
    assert pdf.startswith(b"%PDF") and report.pdf_size == len(pdf)
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Security report: Tenant A" in text
    assert "Ransomware note" in text and "B's secret" not in text
    assert "SLA compliance per target" in text and "Top detections" in text
    assert reader.metadata.title.startswith("Security report: Tenant A")


def test_csv_parses_and_carries_the_same_figures(known):
    report = generate(known)
    rows = list(csv.DictReader(io.StringIO(bytes(report.csv).decode("utf-8"))))
    assert rows[0].keys() == {"section", "key", "metric", "value"}
    cell = {(r["section"], r["key"], r["metric"]): r["value"] for r in rows}
    assert cell[("alerts_by_severity", "critical", "alerts")] == "3"
    assert cell[("headline", "all", "alerts")] == "6"
    assert cell[("sla", "acknowledge", "met")] == "2"
    assert cell[("top_detections", "Ransomware note", "alerts")] == "3"


def test_remediation_progress_of_the_tenants_findings_only(known):
    """Reports include remediation progress (findings.selectors.get_remediation_summary) on
    the page, in the PDF and in the CSV; another tenant's findings count nowhere."""
    from findings.selectors import get_remediation_summary
    from tests.factories import scan_imported

    scan_imported(
        known["a"],
        "host,title,severity,id\n10.0.0.1,Weak TLS,high,PT-1\n10.0.0.2,Old SSH,critical,PT-2\n",
    )
    scan_imported(known["b"], "host,title,severity,id\n10.9.0.1,B's finding,critical,PT-9\n")
    report = generate(known)
    remediation = report.figures["remediation"]
    assert remediation["open_total"] == 2  # B's critical finding is not counted
    assert remediation["open_by_severity"]["critical"] == 1
    period = report.figures["period"]
    with tenant_scope([known["a"].pk]):
        expected = get_remediation_summary(
            [known["a"].pk],
            datetime.fromisoformat(period["from"]),
            datetime.fromisoformat(period["to"]),
        )
    assert remediation == expected
    rows = list(csv.DictReader(io.StringIO(bytes(report.csv).decode("utf-8"))))
    cell = {(r["section"], r["key"], r["metric"]): r["value"] for r in rows}
    assert cell[("remediation", "all", "open_total")] == "2"
    assert cell[("remediation_open", "critical", "findings")] == "1"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(bytes(report.pdf))).pages)
    assert "Vulnerability remediation" in text


def test_csv_neutralises_spreadsheet_formulas():
    figures = {
        "tenant": {"slug": "t", "name": "=cmd|' /C calc'!A0", "timezone": "UTC"},
        "period": {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"},
        "generated_at": "2026-12-01T00:00:00Z",
        "headline": {},
        "alerts": {"suppressed": 0, "by_severity": {}, "by_source": [], "by_category": []},
        "incidents": {
            "open": 0,
            "merged": 0,
            "by_severity": {},
            "by_category": [{"category": "@SUM(1+1)", "count": 1}],
            "by_status": {},
            "by_resolution": {},
        },
        "sla": {"summary": {"targets": {}}, "customer": None, "trend": []},
        "escalations": {"by_direction": []},
        "top_detections": [],
    }
    text = render_csv(figures).decode()
    assert "'=cmd" in text and "'@SUM" in text


# --- progress and failure -----------------------------------------------------------------------
def test_progress_moves_and_ends_at_100(known, monkeypatch):
    seen = []
    real = services._progress

    def watch(tenant_id, report_id, percent, step):
        real(tenant_id, report_id, percent, step)
        row = load(known["a"], report_id)
        seen.append((row.progress, row.step, row.status))

    monkeypatch.setattr(services, "_progress", watch)
    report = generate(known)
    percents = [p for p, _, _ in seen]
    assert percents == sorted(percents) and len(set(percents)) >= 6
    assert {status for _, _, status in seen} == {"running"}
    assert "Drawing the PDF" in [step for _, step, _ in seen]
    assert (report.progress, report.status) == (100, "done")


@pytest.mark.django_db(transaction=True)
def test_progress_is_committed_as_it_goes(known, monkeypatch):
    """Another connection (a page polling the report) sees each step while it runs."""
    from tests.conftest import ensure_default_contract

    ensure_default_contract()
    seen_elsewhere = []
    real = services._progress

    def watch(tenant_id, report_id, percent, step):
        real(tenant_id, report_id, percent, step)

        def peek():
            try:
                seen_elsewhere.append(load(known["a"], report_id).progress)
            finally:
                connections.close_all()

        thread = threading.Thread(target=peek)
        thread.start()
        thread.join()

    monkeypatch.setattr(services, "_progress", watch)
    generate(known)
    assert seen_elsewhere[:3] == [10, 25, 40]
    assert seen_elsewhere[-1] == 92


def test_a_failed_generation_is_a_failed_report_with_a_message(known, monkeypatch):
    def broken(figures):
        raise RuntimeError("font file missing")

    monkeypatch.setattr(services, "render_pdf", broken)
    report = generate(known)
    assert report.status == "failed"
    assert "while drawing the PDF" in report.error and "request the report again" in report.error
    assert report.pdf is None and report.finished_at is not None
    # Nothing left to do: a redelivered task does not run it again.
    assert services.report_generate(known["a"].pk, report.pk) is False


def test_generating_twice_is_harmless(known):
    report = generate(known)
    assert services.report_generate(known["a"].pk, report.pk) is False
    assert load(known["a"], report.pk).attempts == 1


def test_a_report_whose_worker_died_is_taken_up_again(known, django_capture_on_commit_callbacks):
    with tenant_scope([known["a"].pk]):
        report = services.report_request(
            known["a"], services.Period(known["start"], known["end"]), None
        )
        Report.objects.for_tenant(known["a"]).filter(pk=report.pk).update(
            status="running", attempts=1, updated_at=timezone.now() - timedelta(hours=1)
        )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.report_resume_stalled() == 1
    report = load(known["a"], report.pk)
    assert (report.status, report.attempts) == ("done", 2)


def test_a_report_interrupted_too_often_fails_with_a_message(known):
    with tenant_scope([known["a"].pk]):
        report = services.report_request(
            known["a"], services.Period(known["start"], known["end"]), None
        )
        Report.objects.for_tenant(known["a"]).filter(pk=report.pk).update(
            status="running", attempts=3, updated_at=timezone.now() - timedelta(hours=1)
        )
    assert services.report_generate(known["a"].pk, report.pk) is False
    report = load(known["a"], report.pk)
    assert report.status == "failed" and "interrupted 3 times" in report.error


# --- schedule -----------------------------------------------------------------------------------
def scheduled(tenant):
    with tenant_scope([tenant.pk]):
        return list(Report.objects.for_tenant(tenant).filter(kind="scheduled"))


def created_on(when: datetime, *tenants) -> None:
    """The tenants existed since `when`: the schedule skips periods that ended before a tenant
    was created, so tests that pin the schedule's `now` pin the tenants' birth before it too
    (they are created at the real time, which is any day the suite runs)."""
    from tenants.models import Tenant

    Tenant.objects.filter(pk__in=[t.pk for t in tenants]).update(created_at=when)


def test_the_monthly_schedule_creates_one_report_per_tenant_and_period(two_tenants):
    a = two_tenants["a"]  # Europe/Berlin
    now = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    created_on(datetime(2026, 10, 20, tzinfo=UTC), a, two_tenants["b"])
    assert services.schedule_due_reports(now=now) >= 2
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as idle:  # every 15 minutes: must stay cheap
        assert services.schedule_due_reports(now=now) == 0
    selects = [q for q in idle if q["sql"].startswith("SELECT") and "set_config" not in q["sql"]]
    assert len(selects) <= 4, [q["sql"][:80] for q in selects]
    assert services.schedule_due_reports(now=now + timedelta(days=3)) == 0
    (report,) = scheduled(a)
    assert report.period_start == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)  # 1 Nov, Berlin
    assert report.period_end == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert report.email_contacts is True
    assert report.period_label == "1 Nov 2026 – 30 Nov 2026"
    # The database refuses a second one, whatever the code does.
    with pytest.raises(IntegrityError), transaction.atomic(), rls_bypass("test"):
        Report.objects.create(
            tenant=a,
            kind="scheduled",
            period_start=report.period_start,
            period_end=report.period_end,
        )


def test_the_schedule_follows_each_tenants_frequency(two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    with rls_bypass("test fixture"):
        ReportSchedule.objects.create(tenant=a, frequency="off")
        ReportSchedule.objects.create(tenant=b, frequency="weekly", email_contacts=False)
    created_on(datetime(2026, 11, 1, tzinfo=UTC), a, b)
    services.schedule_due_reports(now=datetime(2026, 12, 2, 12, 0, tzinfo=UTC))  # a Wednesday
    assert scheduled(a) == []
    (weekly,) = scheduled(b)
    assert weekly.period_label == "23 Nov 2026 – 29 Nov 2026" and not weekly.email_contacts


def test_the_schedule_task_is_registered_with_beat(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"reports.tasks.schedule_reports", "reports.tasks.resume_stalled_reports"} <= tasks
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        float(entry["schedule"])  # run_periodic (the embedded mode) needs plain intervals


# --- email --------------------------------------------------------------------------------------
def test_the_report_is_emailed_to_report_contacts_of_its_tenant_only(
    known, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        report = generate(known, email_contacts=True)
    if not mail.outbox:  # callbacks registered by callbacks, on older Django
        services.report_email(known["a"].pk, report.pk)
    assert [m.to for m in mail.outbox] == [["ciso@a.example"]]
    message = mail.outbox[0]
    assert "Tenant A" in message.subject
    (name, content, mimetype) = message.attachments[0]
    assert mimetype == "application/pdf" and content.startswith(b"%PDF")
    report = load(known["a"], report.pk)
    assert report.emailed_to == ["ciso@a.example"] and report.emailed_at is not None
    with rls_bypass("test"):
        from tenants.models import AuditEvent

        emailed = AuditEvent.objects.for_tenant(known["a"]).get(action="report.emailed")
    assert emailed.data == {"to": ["ciso@a.example"]} and emailed.object_id == str(report.pk)
    # Sent once: another run sends nothing.
    assert services.report_email(known["a"].pk, report.pk) == []
    assert len(mail.outbox) == 1


def test_a_mail_failure_is_recorded_and_the_retry_sends_only_the_rest(known, monkeypatch):
    with rls_bypass("test fixture"):
        Contact.objects.create(tenant=known["a"], name="CEO", email="ceo@a.example")
    report = generate(known)
    from django.core.mail import EmailMessage

    real_send = EmailMessage.send

    def flaky(self, *args, **kwargs):
        if self.to == ["ciso@a.example"]:
            raise ConnectionRefusedError("mail server down")
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(EmailMessage, "send", flaky)
    with pytest.raises(OSError):
        services.report_email(known["a"].pk, report.pk)
    failed = load(known["a"], report.pk)
    assert "mail server down" in failed.email_error and failed.emailed_at is None
    assert failed.emailed_to == ["ceo@a.example"]
    monkeypatch.setattr(EmailMessage, "send", real_send)
    assert services.report_email(known["a"].pk, report.pk) == ["ciso@a.example"]
    assert sorted(m.to[0] for m in mail.outbox) == ["ceo@a.example", "ciso@a.example"]


# --- the API ------------------------------------------------------------------------------------
def yesterday() -> str:
    return (timezone.localdate() - timedelta(days=1)).isoformat()


def test_customer_requests_polls_and_downloads_a_report(
    two_tenants, api, django_capture_on_commit_callbacks
):
    client = api(two_tenants["a_viewer"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/reports/", {"from": yesterday(), "to": yesterday()}, format="json"
        )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (
        body["tenant"] == "tenant-a" and body["status"] == "queued" and body["kind"] == "on_demand"
    )
    assert response["Location"] == f"/api/v1/reports/{body['id']}/"
    detail = client.get(f"/api/v1/reports/{body['id']}/").json()
    assert detail["status"] == "done" and detail["progress"] == 100
    assert detail["figures"]["tenant"]["slug"] == "tenant-a"
    assert detail["downloads"]["pdf"] == f"/api/v1/reports/{body['id']}/pdf/"
    pdf = client.get(detail["downloads"]["pdf"])
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and "attachment" in pdf["Content-Disposition"]
    as_pdf = client.get(detail["downloads"]["pdf"], HTTP_ACCEPT="application/pdf")
    assert as_pdf.status_code == 200 and as_pdf.content == pdf.content
    rows = list(csv.reader(io.StringIO(client.get(detail["downloads"]["csv"]).content.decode())))
    assert rows[0] == ["section", "key", "metric", "value"]
    listed = client.get("/api/v1/reports/").json()["results"]
    assert [r["id"] for r in listed] == [body["id"]]
    assert "figures" not in listed[0]


def test_downloads_of_an_unfinished_report_are_409_with_a_reason(two_tenants, api):
    client = api(two_tenants["a_viewer"])
    response = client.post(
        "/api/v1/reports/", {"from": yesterday(), "to": yesterday()}, format="json"
    )
    report_id = response.json()["id"]  # queued: its task runs after a commit that never comes
    for kind, media_type in (("pdf", "application/pdf"), ("csv", "text/csv")):
        for accept in ("application/json", media_type):
            got = client.get(f"/api/v1/reports/{report_id}/{kind}/", HTTP_ACCEPT=accept)
            assert got.status_code == 409, (kind, accept)
            assert got["Content-Type"] == "application/json"
            assert got.json()["error"] == "not_ready"
            assert "still being generated" in got.json()["detail"]


def test_a_failed_reports_download_says_it_failed(two_tenants, api, monkeypatch):
    monkeypatch.setattr(services, "render_csv", lambda figures: 1 / 0)
    report = generated_report(two_tenants["a"])
    got = api(two_tenants["a_viewer"]).get(f"/api/v1/reports/{report.pk}/csv/")
    assert got.status_code == 409 and "This report failed" in got.json()["detail"]


def test_staff_request_a_report_of_a_tenant_they_work(two_tenants, api):
    client = api(two_tenants["analyst_a"])
    ok = client.post(
        "/api/v1/reports/",
        {"tenant": "tenant-a", "from": yesterday(), "to": yesterday(), "email_contacts": True},
        format="json",
    )
    assert ok.status_code == 202 and ok.json()["email_contacts"] is True
    admin = api(two_tenants["mssp_admin"])
    unnamed = admin.post(
        "/api/v1/reports/", {"from": yesterday(), "to": yesterday()}, format="json"
    )
    assert unnamed.status_code == 400 and "Name the tenant" in unnamed.json()["detail"]
    nobody = api(two_tenants["outsider"])  # staff who work no tenant
    refused = nobody.post(
        "/api/v1/reports/", {"from": yesterday(), "to": yesterday()}, format="json"
    )
    assert refused.status_code == 400 and "none to report on" in refused.json()["detail"]


@pytest.mark.parametrize("caller", ["a_admin", "analyst_a"])
def test_callers_cannot_request_another_tenants_report(two_tenants, api, caller):
    client = api(two_tenants[caller])
    body = {"from": yesterday(), "to": yesterday()}
    other = client.post("/api/v1/reports/", {**body, "tenant": "tenant-b"}, format="json")
    missing = client.post("/api/v1/reports/", {**body, "tenant": "no-such"}, format="json")
    assert other.status_code == 400 and other.json() == missing.json()
    assert other.json()["detail"] == "tenant: No such tenant."
    with rls_bypass("test"):
        assert not Report.objects.for_tenant(two_tenants["b"]).exists()


def test_another_tenants_report_is_404_on_the_api(two_tenants, api):
    b_report = generated_report(two_tenants["b"])
    for caller in ("a_admin", "a_viewer", "analyst_a"):
        client = api(two_tenants[caller])
        for suffix in ("", "pdf/", "csv/"):
            attack = client.get(f"/api/v1/reports/{b_report.pk}/{suffix}")
            absent = client.get(f"/api/v1/reports/{uuid.uuid4()}/{suffix}")
            assert attack.status_code == 404 and attack.json() == absent.json()
        assert client.get("/api/v1/reports/?tenant=tenant-b").json()["results"] == []
    assert api(two_tenants["b_viewer"]).get(f"/api/v1/reports/{b_report.pk}/").status_code == 200


def _far_future() -> str:
    return (timezone.localdate() + timedelta(days=3)).isoformat()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"from": "2026-11-10", "to": "2026-11-01"}, "must start before it ends"),
        ({"from": "2024-01-01", "to": "2025-06-01"}, "at most one year"),
        ({"from": "FUTURE", "to": "FUTURE"}, "starts in the future"),
        ({"from": "2026-01-01", "to": "FUTURE"}, "ends in the future"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2099-01-01T00:00:00Z"}, "ends in the future"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from: A date"),
        ({"from": "2026-01-01", "to": "9999-12-31"}, "out of range"),
        ({"from": "0001-01-01", "to": "0001-01-02"}, "out of range"),
        ({"from": "0001-01-01T00:00:00+05:00", "to": "2026-01-02"}, "out of range"),
        ({"from": "last week", "to": "2026-03-01"}, "from: A date"),
        ({"from": "2026-01-01", "to": "9999-99-99T99:99"}, "to: A date"),
        ({"from": "2026-01-01"}, "to: This field is required."),
        ({"from": "x" * 5000, "to": "2026-01-01"}, "from: Ensure this field"),
        ({"from": 5, "to": ["2026-01-01"]}, "to: Not a valid string."),
        ({"tenant": {"slug": "tenant-a"}, "from": "2026-01-01", "to": "2026-01-02"}, "tenant"),
    ],
)
def test_bad_periods_are_400_with_a_message(two_tenants, api, body, message):
    body = {k: _far_future() if v == "FUTURE" else v for k, v in body.items()}
    response = api(two_tenants["a_viewer"]).post("/api/v1/reports/", body, format="json")
    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]


def test_a_period_ending_today_ends_now(two_tenants):
    from zoneinfo import ZoneInfo

    now = timezone.now()
    a = two_tenants["a"]
    # "today" is the tenant's (Berlin's): in UTC it was yesterday between 22:00 or 23:00 and
    # midnight UTC, and the period then ended at the tenant's midnight, before now
    today = timezone.localdate(now, ZoneInfo(a.timezone))
    period = services.report_period(a, today - timedelta(days=2), today, now=now)
    assert period.end == now
    whole = services.report_period(
        a, date(2026, 11, 1), date(2026, 11, 30), now=now + timedelta(days=30)
    )
    assert whole.end - whole.start == timedelta(days=30)


def test_a_tenant_may_not_queue_more_than_three_reports(two_tenants, api):
    client = api(two_tenants["a_viewer"])
    body = {"from": yesterday(), "to": yesterday()}
    for _ in range(services.MAX_UNFINISHED_PER_TENANT):
        assert client.post("/api/v1/reports/", body, format="json").status_code == 202
    busy = client.post("/api/v1/reports/", body, format="json")
    assert busy.status_code == 409 and "being generated" in busy.json()["detail"]


def test_report_list_filters(two_tenants, api):
    generated_report(two_tenants["a"])
    generated_report(two_tenants["b"])
    client = api(two_tenants["mssp_admin"])
    everything = client.get("/api/v1/reports/").json()["results"]
    assert {r["tenant"] for r in everything} == {"tenant-a", "tenant-b"}
    only_b = client.get("/api/v1/reports/?tenant=tenant-b&status=done&kind=on_demand").json()
    assert {r["tenant"] for r in only_b["results"]} == {"tenant-b"}
    assert client.get("/api/v1/reports/?status=nope").status_code == 400


# --- the pages ----------------------------------------------------------------------------------
def test_report_pages_request_show_progress_and_figures(
    two_tenants, client, django_capture_on_commit_callbacks
):
    client.force_login(two_tenants["a_viewer"])
    page = client.get("/reports/")
    assert page.status_code == 200 and b"Generate report" in page.content
    assert b"No report yet" in page.content
    last = timezone.localdate().replace(day=1) - timedelta(days=1)  # prefilled: last month
    assert f'value="{last.replace(day=1).isoformat()}"'.encode() in page.content
    assert f'value="{last.isoformat()}"'.encode() in page.content
    day = yesterday()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/reports/", {"start": day, "end": day, "tenant": two_tenants["a"].pk}
        )
    assert response.status_code == 302
    report_url = response["Location"]
    listed = client.get("/reports/")
    assert b'hx-trigger="every 3s"' in listed.content  # the list follows the running report
    running = client.get(report_url)
    assert b'hx-get="' + report_url.encode() + b'progress/"' in running.content
    assert b"<progress" in running.content
    polled = client.get(report_url + "progress/", HTTP_HX_REQUEST="true")
    assert polled.status_code == 200 and b"<progress" in polled.content
    for callback in callbacks:
        callback()
    finished = client.get(report_url + "progress/", HTTP_HX_REQUEST="true")
    assert finished["HX-Refresh"] == "true"
    done = client.get(report_url)
    assert b"<svg" in done.content and b'role="img"' in done.content
    assert b"Download PDF" in done.content
    pdf = client.get(report_url + "download/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    listing = client.get("/reports/")
    assert report_url.encode() in listing.content
    assert b'hx-trigger="every 3s"' not in listing.content


def test_bad_period_on_the_page_is_a_form_error_not_a_500(two_tenants, client):
    client.force_login(two_tenants["a_viewer"])
    for data in (
        {"start": "2026-11-10", "end": "2026-11-01"},
        {"start": "garbage", "end": "2026-11-01"},
        {"start": "2020-01-01", "end": "2026-11-01"},
        {"tenant": two_tenants["b"].pk, "start": "2026-11-01", "end": "2026-11-02"},
    ):
        response = client.post("/reports/", {"tenant": two_tenants["a"].pk, **data})
        assert response.status_code == 400, data
        assert b"errorlist" in response.content
    with rls_bypass("test"):
        assert not Report.objects.dangerously_unscoped("test").exists()


def test_another_tenants_report_is_404_on_the_pages(two_tenants, client):
    b_report = generated_report(two_tenants["b"])
    for caller in ("a_admin", "analyst_a"):
        client.force_login(two_tenants[caller])
        for suffix in ("", "progress/", "download/pdf/", "download/csv/"):
            response = client.get(f"/reports/{b_report.pk}/{suffix}", HTTP_HX_REQUEST="true")
            assert response.status_code == 404, (caller, suffix)
        listing = client.get("/reports/?tenant=tenant-b")
        assert str(b_report.pk).encode() not in listing.content
    client.force_login(two_tenants["b_viewer"])
    assert client.get(f"/reports/{b_report.pk}/").status_code == 200


def test_a_failed_report_page_explains_and_offers_to_request_again(
    two_tenants, client, monkeypatch
):
    monkeypatch.setattr(services, "render_pdf", lambda figures: 1 / 0)
    report = generated_report(two_tenants["a"])
    client.force_login(two_tenants["a_viewer"])
    page = client.get(f"/reports/{report.pk}/")
    assert b"could not be generated" in page.content and b"Request a report again" in page.content
    download = client.get(f"/reports/{report.pk}/download/pdf/")
    assert download.status_code == 302


def test_report_email_skips_other_tenants_contacts_when_scheduled(
    known, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.schedule_due_reports(now=timezone.now() + timedelta(days=40))
    for report in scheduled(known["a"]) + scheduled(known["b"]):
        if report.status == "queued":
            services.report_generate(report.tenant_id, report.pk)
        services.report_email(report.tenant_id, report.pk)
    by_subject = {m.to[0]: m.subject for m in mail.outbox}
    assert "Tenant A" in by_subject["ciso@a.example"]
    assert "Tenant B" in by_subject["ciso@b.example"]
    assert "ops@a.example" not in by_subject


def test_escalation_counts_never_include_mssp_internal_notices(known):
    report = generate(known)
    with rls_bypass("test"):
        tier = Escalation.objects.for_tenant(known["a"]).filter(direction="to_tier").count()
    assert tier == 1
    directions = {r["direction"] for r in report.figures["escalations"]["by_direction"]}
    assert "to_tier" not in directions


# --- a real worker ------------------------------------------------------------------------------
@pytest.mark.services
@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_generates_and_emails_a_requested_report(known, tmp_path, broker_app):
    """The whole path with a Celery worker process (its own connections, as the app role, so
    row-level security applies): the request enqueues after commit, the worker generates,
    commits progress as it goes, stores the files and emails the report contacts."""
    import email
    import time
    from email.policy import default as default_policy

    from tests.conftest import ensure_default_contract
    from tests.live import running_worker

    ensure_default_contract()
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    with running_worker(
        tmp_path,
        "celery",
        CELERY_BROKER_URL=broker_app.conf.broker_url,
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(mail_dir),
    ) as log:
        with tenant_scope([known["a"].pk]):
            report = services.report_request(
                known["a"],
                services.Period(known["start"], known["end"]),
                known["a_admin"],
                email_contacts=True,
            )
        seen, deadline = [], time.monotonic() + 60
        while True:
            row = load(known["a"], report.pk)
            seen.append(row.progress)
            if row.status in ("done", "failed") and (row.emailed_at or row.status == "failed"):
                break
            assert "Traceback" not in log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.01)
    assert row.status == "done", row.error
    assert bytes(row.pdf).startswith(b"%PDF") and row.figures["alerts"]["total"] == 6
    assert seen == sorted(seen) and seen[-1] == 100
    assert row.emailed_to == ["ciso@a.example"]
    (path,) = mail_dir.glob("*.log")
    message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
    assert message["To"] == "ciso@a.example"
    (attachment,) = message.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content().startswith(b"%PDF")


def test_the_report_list_answers_in_a_fixed_number_of_queries(two_tenants, api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api(two_tenants["a_viewer"])
    client.get("/api/v1/reports/")  # the token's first use records last_used_at

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/api/v1/reports/?page_size=100")
        assert response.status_code == 200
        assert all("figures" not in row for row in response.json()["results"])
        # The stored files and figures are never read for a list.
        listing = next(q["sql"] for q in captured if '"reports_report"' in q["sql"])
        assert '"pdf"' not in listing and '"figures"' not in listing
        # One query reads the page, tenant and requester joined; the rest is authentication
        # and the row-level-security context, the same for every endpoint.
        assert sum('"reports_report"' in q["sql"] for q in captured) == 1
        return len(captured)

    generated_report(two_tenants["a"])
    few = queries()
    for _ in range(10):
        generated_report(two_tenants["a"])
    assert queries() == few <= 12, few


# Two threads writing: SQLite's in-memory test database locks whole tables across threads
# (the embedded mode's own database is a file in WAL mode, which does not).
@pytest.mark.services("postgresql")
@pytest.mark.django_db(transaction=True)
def test_embedded_mode_generates_beside_the_server_and_the_page_shows_progress(
    known, client, settings
):
    """No worker (`make run` without Redis): the request answers at once with the progress
    page, and a thread of the server's generates the report."""
    import time

    from tests.conftest import ensure_default_contract

    ensure_default_contract()
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.REPORTS_BACKGROUND_THREAD = True
    client.force_login(known["a_viewer"])
    day = yesterday()
    response = client.post("/reports/", {"start": day, "end": day, "tenant": known["a"].pk})
    assert response.status_code == 302
    deadline = time.monotonic() + 30
    while b"Download PDF" not in (page := client.get(response["Location"])).content:
        assert b"<progress" in page.content
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert b"<svg" in page.content


def test_staff_pick_a_tenant_among_theirs_on_the_page(two_tenants, client):
    admin = two_tenants["mssp_admin"]
    client.force_login(admin)
    page = client.get("/reports/")
    assert b'<select name="tenant"' in page.content
    assert b"Tenant A" in page.content and b"Tenant B" in page.content
    day = yesterday()
    response = client.post("/reports/", {"tenant": two_tenants["b"].pk, "start": day, "end": day})
    assert response.status_code == 302
    with rls_bypass("test"):
        assert Report.objects.for_tenant(two_tenants["b"]).get().requested_by == admin
    # An analyst who works only A is offered A alone and cannot post B.
    client.force_login(two_tenants["analyst_a"])
    page = client.get("/reports/")
    assert b"Tenant B" not in page.content
    refused = client.post("/reports/", {"tenant": two_tenants["b"].pk, "start": day, "end": day})
    assert refused.status_code == 400
    with rls_bypass("test"):
        assert Report.objects.for_tenant(two_tenants["b"]).count() == 1


@pytest.mark.services("postgresql")  # row locks
@pytest.mark.django_db(transaction=True)
def test_two_reports_of_one_tenant_are_claimed_side_by_side(known, monkeypatch):
    """Claiming locks the report's row only: a worker generating one report of a tenant does
    not make another worker skip the tenant's next report."""
    from tests.conftest import ensure_default_contract

    ensure_default_contract()
    monkeypatch.setattr(services, "_enqueue", lambda tenant_id, report_id: None)  # no worker
    period = services.Period(known["start"], known["end"])
    with tenant_scope([known["a"].pk]):
        first = services.report_request(known["a"], period, None)
        second = services.report_request(known["a"], period, None)
    claimed = []
    with transaction.atomic():
        # The first report's claim, its locks held (this transaction stays open) while a
        # second worker claims the second report.
        assert services._claim(known["a"].pk, first.pk) is not None

        def other_worker():
            try:
                claimed.append(services._claim(known["a"].pk, second.pk))
            finally:
                connections.close_all()

        thread = threading.Thread(target=other_worker)
        thread.start()
        thread.join(timeout=30)
    assert claimed and claimed[0] is not None and claimed[0].pk == second.pk


def test_a_download_link_that_is_no_report_id_is_a_404(client, two_tenants):
    client.force_login(two_tenants["a_admin"])
    assert client.get(f"/reports/{'-' * 36}/download/pdf/").status_code == 404
    assert client.get(f"/reports/{uuid.uuid4()}/download/csv/").status_code == 404


# --- every script a customer writes in -----------------------------------------------------------
SCRIPTS = {
    "Latin": "Société Générale",
    "Greek": "Ελληνικά",
    "Cyrillic": "Москва",
    "Hebrew": "שלום",
    "Arabic": "مرحبا",
    "Devanagari": "नमस्ते",
    "Thai": "สวัสดี",
    "Chinese": "株式会社",
    "Korean": "보안",
}


def test_the_pdf_shows_every_script_in_a_font_that_has_it(known):
    """Helvetica dropped non-Latin text; each script now lands in an embedded font with its
    glyphs (reports.fonts) and reads back from the PDF."""
    from pypdf.generic import NameObject

    from reports.fonts import fonts, visual

    if fonts().regular == "Helvetica":
        pytest.fail("DejaVu Sans is missing: apt-get install fonts-dejavu-core")
    name = " ".join(SCRIPTS.values())
    with tenant_scope([known["a"].pk]):
        known["a"].name = name
        known["a"].save()
    pdf = bytes(generate(known).pdf)
    reader = PdfReader(io.BytesIO(pdf))
    text = reader.pages[0].extract_text()
    missing = [script for script, sample in SCRIPTS.items() if sample not in text]
    # The Devanagari and Thai samples carry combining marks that text extraction may reorder;
    # Arabic is drawn in its joined presentation forms, which extraction does not map back.
    assert set(missing) <= {"Devanagari", "Thai", "Arabic"}, missing
    for script in ("Devanagari", "Thai", "Arabic"):  # their glyphs are drawn: no empty boxes
        drawn = visual(SCRIPTS[script])
        assert all(fonts().font_for(c) or ord(c) in fonts().covered for c in drawn), script
    resources = reader.pages[0]["/Resources"]["/Font"]
    embedded = {str(resources[key].get_object()[NameObject("/BaseFont")]) for key in resources}
    # (the charts' labels stay in Helvetica: a chart label cannot change fonts mid-string)
    for font in ("DejaVuSans", "DroidSansFallback", "NanumGothic", "NotoSansThai-Regular"):
        assert any(name.endswith(f"+{font}") for name in embedded), (font, embedded)


def test_fallback_runs_are_escaped_text_never_markup():
    from reports.fonts import markup

    made = markup('<font name="Helvetica">x</font> 株式会社 & <b>')
    assert "&lt;font" in made and "&amp;" in made and "&lt;b&gt;" in made
    assert made.count("<font ") == 1 and "株式会社" in made
