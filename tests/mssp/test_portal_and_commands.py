"""The Django admin for MSSP admins only, the landing page, seed_demo and the migrate command."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from tenants.models import AuditEvent, Membership, Tenant, User
from tenants.rls import rls_bypass

pytestmark = pytest.mark.django_db


def test_django_admin_is_for_mssp_admins_and_sees_every_tenant(client, two_tenants):
    client.force_login(two_tenants["a_admin"])
    assert client.get("/admin/").status_code == 302  # customers are sent to the admin login
    client.force_login(two_tenants["analyst_a"])
    assert client.get("/admin/").status_code == 302
    admin = two_tenants["mssp_admin"]
    admin.is_staff = True
    admin.save()
    client.force_login(admin)
    page = client.get("/admin/tenants/membership/")
    assert page.status_code == 200
    # Row-level security is in force for the admin's request too; its context admits all.
    for user in (two_tenants["a_viewer"], two_tenants["b_viewer"]):
        assert user.username.encode() in page.content
    assert client.get("/admin/alerts/intakesource/").status_code == 200


def test_home_sends_each_persona_to_its_first_page(client, two_tenants):
    client.force_login(two_tenants["analyst_a"])
    assert client.get("/")["Location"] == "/console/"
    client.force_login(two_tenants["a_viewer"])
    assert client.get("/")["Location"] == "/dashboard/"
    client.force_login(two_tenants["outsider"])
    assert b"You do not work any customer yet" in client.get("/").content


def test_seed_demo_creates_every_role_once_and_prints_logins(
    db, settings, django_capture_on_commit_callbacks
):
    settings.DEBUG = True
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):  # the import and report tasks
        call_command("seed_demo", stdout=out)
    text = out.getvalue()
    assert "demo-portal-2026" in text and "mssp_ik_" in text
    assert set(Tenant.objects.values_list("service_model", flat=True)) == {
        "outsourced",
        "hybrid",
        "in_house",
    }
    assert set(User.objects.exclude(staff_role="").values_list("staff_role", flat=True)) == {
        "analyst_l1",
        "analyst_l2",
        "analyst_l3",
        "lead",
        "manager",
        "admin",
    }
    with rls_bypass("test"):
        roles = set(Membership.objects.dangerously_unscoped("test").values_list("role", flat=True))
        assert roles == {"viewer", "responder", "admin"}
        assert AuditEvent.objects.dangerously_unscoped("test").filter(action="rls.bypass").exists()
        from connectors.models import Enrichment  # an Acme incident's Tor address, enriched

        assert Enrichment.objects.dangerously_unscoped("test").filter(source="intel").exists()
    _assert_demo_activity()
    _assert_demo_schedules()
    again = io.StringIO()
    call_command("seed_demo", stdout=again)
    assert "already present" in again.getvalue() and "mssp_ik_" not in again.getvalue()
    assert Tenant.objects.count() == 3
    rotated = io.StringIO()
    call_command("seed_demo", "--rotate-keys", stdout=rotated)
    assert rotated.getvalue().count("mssp_ik_") == 7


def _assert_demo_activity() -> None:
    """The morning mssp.demo makes through the services: each tenant's alerts opened incidents
    with SLA clocks, work was done on them, the hybrid tenant has a hand-off waiting, the
    in-house one asked for help, intake matched the MSSP's indicator at two customers, and
    Acme has pentest findings and a report."""
    from alerts.models import Alert, Incident
    from findings.models import Finding
    from intel.models import IndicatorMatch
    from mssp.demo import ALERTS, source_kind_of
    from reports.models import Report
    from sla.models import Escalation, SlaClock

    with rls_bypass("test: the demo's activity"):
        for slug, alerts in ALERTS.items():
            incidents = Incident.objects.dangerously_unscoped("t").filter(
                tenant__slug=slug, origin="intake"
            )
            assert incidents.count() == len(alerts), slug
        # a customer-raised incident worked through the library's template: the customer's
        # team has done the task it was handed, an internal one is done, the rest open
        from cases.models import CaseTemplate, Task

        assert CaseTemplate.objects.dangerously_unscoped("t").filter(tenant=None).count() == 4
        raised = Incident.objects.dangerously_unscoped("t").get(origin="customer")
        assert raised.tenant.slug == "globex" and raised.status == "resolved"
        tasks = Task.objects.dangerously_unscoped("t").filter(incident=raised)
        done = tasks.filter(status="done")
        assert {(t.visibility, t.owner_team_id is not None) for t in done} == {
            ("internal", False),
            ("shared", True),
        }
        assert tasks.filter(status="open").exists()
        # two small evidence files on it: the customer's (shared), the analyst's (internal)
        from cases.models import Attachment

        files = Attachment.objects.dangerously_unscoped("t").filter(incident=raised)
        assert sorted(files.values_list("visibility", flat=True)) == ["internal", "shared"]
        # the customer's was raised with the incident, by its responder, before anyone acted
        sent = files.get(visibility="shared")
        assert sent.uploaded_by.username == "globex-responder"
        assert sent.created_at < raised.acknowledged_at
        # and its post-incident report, approved by the lead and shared with Globex: the
        # customer's file is in it, the analyst's internal one is not
        from reports.models import IncidentReport

        report = IncidentReport.objects.dangerously_unscoped("t").get(incident=raised)
        assert report.status == "shared" and report.approved_by.username == "lead"
        evidence = [f["name"] for f in report.facts["evidence"]]
        assert evidence == ["overdue-invoice-headers.eml"]
        # and Globex's security mailbox was told, with the link to the report
        from notifications.models import Delivery

        (told,) = Delivery.objects.dangerously_unscoped("t").filter(
            tenant=raised.tenant, event_type="incident.report_shared"
        )
        assert told.status == "sent" and told.message["url"].endswith(
            f"/incidents/{raised.pk}/report/"
        )
        assert SlaClock.objects.dangerously_unscoped("t").exists()
        statuses = set(Incident.objects.dangerously_unscoped("t").values_list("status", flat=True))
        assert {"new", "acknowledged", "resolved"} <= statuses
        pending = Escalation.objects.dangerously_unscoped("t").filter(status="pending")
        assert set(pending.values_list("tenant__slug", "direction")) == {
            ("globex", "to_customer"),
            ("initech", "to_mssp"),
        }
        matched = IndicatorMatch.objects.dangerously_unscoped("t").values_list(
            "tenant__slug", flat=True
        )
        assert set(matched) == {"acme", "globex"}
        assert Finding.objects.dangerously_unscoped("t").filter(tenant__slug="acme").count() == 4
        assert Report.objects.dangerously_unscoped("t").filter(tenant__slug="acme").exists()
        # Each alert came through the source its title names, and only availability incidents
        # went to the NOC.
        for alert in Alert.objects.dangerously_unscoped("t").select_related("source"):
            assert alert.source.kind == source_kind_of(alert.title), alert.title
        to_noc = Escalation.objects.dangerously_unscoped("t").filter(direction="to_noc")
        assert sorted(to_noc.values_list("incident__title", flat=True)) == [
            "Alertmanager: HighRequestLatency on shop frontend"
        ]


def _assert_demo_schedules() -> None:
    """Weekly rotations of SOC L1 and L2 (L2 with a business-hours layer), an override, and
    Globex's in-house team's rotation of two of its members: somebody is on call now on each,
    every participant is a member of the schedule's team, and the pages show it."""
    from django.test import Client
    from django.utils import timezone

    from oncall.models import Schedule, team_people

    with rls_bypass("test: the demo's schedules"):
        schedules = {
            s.name: s
            for s in Schedule.objects.dangerously_unscoped("t").select_related("team", "tenant")
        }
        assert set(schedules) == {"SOC L1 weekly", "SOC L2 weekly", "Globex on call"}
        assert schedules["SOC L1 weekly"].team.name == "SOC L1"
        assert schedules["SOC L2 weekly"].team.name == "SOC L2"
        assert schedules["Globex on call"].tenant.slug == "globex"
        assert schedules["SOC L1 weekly"].overrides.count() == 1
        assert any(layer.restriction for layer in schedules["SOC L2 weekly"].layers.all())
        now = timezone.now()
        on_call = {}
        for name, schedule in schedules.items():
            members = set(team_people(schedule.team).values_list("pk", flat=True))
            for layer in schedule.layers.all():
                assert set(layer.participants) <= members, (name, layer.name)
            on_call[name], _, _ = schedule.now_and_next(now)
            assert len(on_call[name]) == 1, name
        globex = schedules["Globex on call"]
        assert len(globex.layers.get().participants) == 2  # it rotates
    client = Client()
    client.force_login(User.objects.get(username="globex-viewer"))
    page = client.get("/oncall/").content.decode()
    assert "Globex on call" in page and "SOC L1 weekly" not in page
    client.force_login(User.objects.get(username="analyst1"))
    page = client.get("/oncall/").content.decode()
    assert {"SOC L1 weekly", "SOC L2 weekly", "Globex on call"} <= set(
        name for name in schedules if name in page
    )
    on_l1 = User.objects.get(pk=on_call["SOC L1 weekly"][0]).username
    assert on_l1 in page.split("SOC L1 weekly")[1].split("</tr>")[0]


def test_seed_demo_refuses_with_debug_off(db, settings):
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", stdout=io.StringIO())


@pytest.mark.slow
def test_embedded_mode_serves_a_healthy_portal(tmp_path):
    """What `make run` starts with no configuration: daphne and the in-process scheduler,
    on SQLite; /healthz goes green (the scheduler's pulse crosses processes)."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    from tests.live import free_port

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("DATABASE_", "REDIS_", "CELERY_", "PYTEST", "DJANGO_SETTINGS", "DEBUG", "SECRET_KEY")
        )
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        PORT=str(free_port()),
        DJANGO_SETTINGS_MODULE="mssp.settings",
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True, timeout=120
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "mssp.serve"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, body = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            try:
                body = httpx.get(f"http://127.0.0.1:{env['PORT']}/healthz", timeout=2).json()
                if body["status"] == "ok":
                    break
            except (httpx.TransportError, ValueError):
                pass
            time.sleep(0.5)
        assert body == {
            "status": "ok",
            "database": "ok",
            "channel_layer": "ok",
            "broker": "ok",
            "scheduler": "ok",
            "intake_log": {  # nothing waits in the intake log (the embedded mode: direct)
                "status": "ok",
                "backlog": 0,
                "backlog_alerts": 0,
                "oldest_seconds": 0,
                "set_aside": 0,
            },
        }
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_routine_bypasses_stay_out_of_the_operators_log_and_audited_ones_do_not(db, caplog):
    """The sweeps bypass row-level security every second: at INFO that was most of `make
    run`'s console. Routine bypasses log at DEBUG; deliberate (audited) ones at INFO."""
    import logging

    caplog.set_level(logging.INFO, logger="mssp.rls")
    with rls_bypass("test: a routine sweep"):
        pass
    assert "a routine sweep" not in caplog.text
    with rls_bypass("test: a deliberate bypass", audit=True):
        pass
    assert "a deliberate bypass" in caplog.text


def test_make_run_starts_celery_quiet_by_default(monkeypatch):
    """The worker and beat of `make run` log warnings and errors, not every task they run."""
    from mssp import serve

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.delenv("CELERY_LOG_LEVEL", raising=False)
    worker, beat = (cmd for cmd in serve.commands() if "celery" in cmd)
    for cmd in (worker, beat):
        assert cmd[cmd.index("--loglevel") + 1] == "WARNING"
    monkeypatch.setenv("CELERY_LOG_LEVEL", "INFO")
    assert all(
        cmd[cmd.index("--loglevel") + 1] == "INFO" for cmd in serve.commands() if "celery" in cmd
    )


def test_the_embedded_modes_task_runs_are_not_logged_at_info(settings):
    """In the embedded mode tasks run in daphne and the scheduler: their per-run "Task ...
    succeeded" lines (the SLA sweep's, every second) stay out of the console."""
    import logging
    import logging.config

    logging.config.dictConfig(settings.LOGGING)
    try:
        assert not logging.getLogger("celery.app.trace").isEnabledFor(logging.INFO)
        assert logging.getLogger("celery.app.trace").isEnabledFor(logging.WARNING)
    finally:
        logging.getLogger().setLevel(logging.WARNING)  # the test settings' level
