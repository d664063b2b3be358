"""Events reach a tenant's subscribed channels: outbox rows written with the change they tell
of, only for what the customer may see, delivered and logged, retried and dead-lettered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from alerts.models import Incident
from notifications import delivery
from notifications.models import Channel, Delivery, Subscription
from tenants.rls import rls_bypass
from tenants.sealed import seal
from tests.factories import ingest_alerts

pytestmark = pytest.mark.django_db


def add_channel(tenant, kind="email", target="soc@a.example", events=(), min_severity="", **kw):
    with rls_bypass("test fixture: channels"):
        channel = Channel.objects.create(
            tenant=tenant, name=f"{kind} channel", kind=kind, target=target, **kw
        )
        Subscription.objects.create(
            tenant=tenant, channel=channel, events=list(events), min_severity=min_severity
        )
    return channel


def deliveries(tenant):
    with rls_bypass("test"):
        return list(Delivery.objects.for_tenant(tenant).order_by("created_at"))


def incident_of(tenant):
    with rls_bypass("test"):
        return Incident.objects.for_tenant(tenant).order_by("-created_at").first()


def test_an_opened_incident_reaches_the_subscribed_channel_of_its_tenant_only(two_tenants):
    add_channel(two_tenants["a"], events=["incident.opened"])
    add_channel(two_tenants["b"], target="soc@b.example", events=["incident.opened"])
    ingest_alerts(two_tenants["a_source"], title="Credential dumping on lsass")
    made = deliveries(two_tenants["a"])
    assert [d.event_type for d in made] == ["incident.opened"]
    assert deliveries(two_tenants["b"]) == []
    delivery.deliver_batch()
    (sent,) = deliveries(two_tenants["a"])
    assert sent.status == "sent" and sent.attempts == 1
    (message,) = [m for m in mail.outbox if m.to == ["soc@a.example"]]
    assert "[Tenant A]" in message.subject and "Credential dumping on lsass" in message.subject
    assert f"/incidents/{incident_of(two_tenants['a']).pk}/" in message.body
    assert "Tenant B" not in message.body


def test_a_failed_intake_transaction_leaves_no_delivery(two_tenants, monkeypatch):
    """The outbox row is written in the publishing transaction: no commit, no message."""
    from django.db import transaction

    add_channel(two_tenants["a"])
    with pytest.raises(RuntimeError), transaction.atomic():
        ingest_alerts(two_tenants["a_source"])
        assert len(deliveries(two_tenants["a"])) == 1
        raise RuntimeError("the intake failed after the event")
    assert deliveries(two_tenants["a"]) == []


def test_min_severity_and_event_filters_apply(two_tenants):
    add_channel(two_tenants["a"], events=["incident.opened"], min_severity="critical")
    add_channel(two_tenants["a"], target="other@a.example", events=["sla.breached"])
    ingest_alerts(two_tenants["a_source"])  # a high incident
    assert deliveries(two_tenants["a"]) == []


def test_internal_comments_never_reach_a_customer_channel_and_shared_ones_say_no_text(
    api, two_tenants
):
    ingest_alerts(two_tenants["a_source"])
    incident = incident_of(two_tenants["a"])
    add_channel(two_tenants["a"], events=["incident.comment"])
    analyst = api(two_tenants["analyst_a"])
    url = f"/api/v1/incidents/{incident.pk}/comments/"
    secret_note = "internal: the customer's CFO clicked it"
    reply = analyst.post(url, {"body": secret_note, "visibility": "internal"}, format="json")
    assert reply.status_code == 201, reply.content
    assert deliveries(two_tenants["a"]) == []
    shared = analyst.post(url, {"body": "We are on it", "visibility": "shared"}, format="json")
    assert shared.status_code == 201, shared.content
    (made,) = deliveries(two_tenants["a"])
    assert made.event_type == "incident.comment"
    assert "We are on it" not in str(made.message) and secret_note not in str(made.message)


def test_a_status_change_tells_paging_vendors_to_acknowledge_then_resolve(api, two_tenants):
    ingest_alerts(two_tenants["a_source"])
    incident = incident_of(two_tenants["a"])
    add_channel(two_tenants["a"], kind="pagerduty", target="", events=["incident.status"])
    analyst = api(two_tenants["analyst_a"])
    for to in ("acknowledged", "resolved"):
        body = {"status": to, **({"resolution": "true_positive"} if to == "resolved" else {})}
        reply = analyst.post(f"/api/v1/incidents/{incident.pk}/transition/", body, format="json")
        assert reply.status_code == 200, reply.content
        delivery.deliver_batch()  # sent before the next change (else they would coalesce)
    actions = [d.message["action"] for d in deliveries(two_tenants["a"])]
    assert actions == ["acknowledge", "resolve"]
    keys = {d.message["subject_key"] for d in deliveries(two_tenants["a"])}
    assert keys == {f"incident:{incident.pk}"}  # one dedup_key: the vendor's alert is the same


def test_an_sla_breach_says_the_time_it_was_due(two_tenants):
    from sla import services
    from sla.models import SlaClock

    add_channel(two_tenants["a"], events=["sla.breached"])
    ingest_alerts(two_tenants["a_source"])
    with rls_bypass("test"):
        clock = SlaClock.objects.for_tenant(two_tenants["a"]).order_by("due_at").first()
    services.sweep(clock.due_at + timedelta(seconds=1))
    made = [d for d in deliveries(two_tenants["a"]) if d.event_type == "sla.breached"]
    assert made and all("breached" in d.title for d in made)


def test_a_failing_channel_is_retried_with_backoff_then_dead_lettered(two_tenants, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    # nothing listens on this port: every attempt fails to connect
    add_channel(
        two_tenants["a"],
        kind="slack",
        target="",
        sealed_secrets=seal({"url": "http://127.0.0.1:9/hook"}),
    )
    ingest_alerts(two_tenants["a_source"])
    now = timezone.now()
    delivery.OUTBOX.deliver_batch(now)
    (row,) = deliveries(two_tenants["a"])
    assert row.status == "pending" and row.attempts == 1 and row.last_error
    assert row.next_attempt_at >= now + timedelta(seconds=59)
    for day in range(1, Delivery.MAX_ATTEMPTS):
        delivery.OUTBOX.deliver_batch(now + timedelta(days=day))
    (row,) = deliveries(two_tenants["a"])
    assert row.status == "failed" and row.attempts == Delivery.MAX_ATTEMPTS


def test_a_removed_channel_is_given_up_at_once(two_tenants):
    channel = add_channel(two_tenants["a"])
    ingest_alerts(two_tenants["a_source"])
    with rls_bypass("test"):
        Channel.objects.for_tenant(two_tenants["a"]).filter(pk=channel.pk).update(is_active=False)
    delivery.deliver_batch()
    (row,) = deliveries(two_tenants["a"])
    assert row.status == "failed" and "disabled" in row.last_error


def test_a_fault_in_routing_never_undoes_the_intake(two_tenants, monkeypatch):
    from notifications import routing

    add_channel(two_tenants["a"])

    def broken(*args, **kwargs):
        raise RuntimeError("routing bug")

    monkeypatch.setattr(routing, "_write", broken)
    ingest_alerts(two_tenants["a_source"])
    assert incident_of(two_tenants["a"]) is not None
    assert deliveries(two_tenants["a"]) == []


@pytest.mark.parametrize(
    ("model", "severity", "told"),
    [("outsourced", "high", True), ("outsourced", "medium", False), ("in_house", "medium", True)],
)
def test_a_tenants_default_subscriptions_follow_its_service_model(
    two_tenants, model, severity, told
):
    from notifications.defaults import subscribe_defaults
    from tenants.models import Tenant

    tenant = two_tenants["a"]
    with rls_bypass("test fixture"):
        Tenant.objects.filter(pk=tenant.pk).update(service_model=model)
        tenant.refresh_from_db()
        subscribe_defaults(tenant, "soc@a.example")
    ingest_alerts(two_tenants["a_source"], severity=severity)
    assert [d.event_type for d in deliveries(tenant)] == (["incident.opened"] if told else [])


def test_a_flapping_incident_tells_a_channel_once_per_window(api, two_tenants):
    """Twenty status changes in a burst: one message waiting, saying the latest status; once
    it is sent, the next change waits for the window's end instead of going at once."""
    from notifications.routing import COALESCE_WINDOW

    ingest_alerts(two_tenants["a_source"])
    incident = incident_of(two_tenants["a"])
    add_channel(two_tenants["a"], events=["incident.status"])
    analyst = api(two_tenants["analyst_a"])
    url = f"/api/v1/incidents/{incident.pk}/transition/"
    for to in ["investigating", "awaiting_customer"] * 10:
        body = {"status": to, "reason": "waiting on the customer's answer"}
        assert analyst.post(url, body, format="json").status_code == 200
    (waiting,) = deliveries(two_tenants["a"])
    assert waiting.status == "pending" and "awaiting customer" in waiting.title.lower()
    delivery.deliver_batch()
    assert analyst.post(url, {"status": "investigating"}, format="json").status_code == 200
    sent, later = deliveries(two_tenants["a"])
    assert sent.status == "sent" and later.status == "pending"
    assert later.next_attempt_at >= sent.created_at + COALESCE_WINDOW


def test_a_finding_past_its_remediation_date_and_a_ready_report_reach_their_subscribers(
    two_tenants,
):
    from findings import sweep
    from findings.models import RemediationClock
    from tests.factories import generated_report, scan_imported

    add_channel(two_tenants["a"], events=["finding.overdue", "report.ready"])
    add_channel(two_tenants["b"], target="soc@b.example", events=["finding.overdue"])
    scan_imported(
        two_tenants["a"],
        "host,title,severity,id\n10.0.0.9,Outdated OpenSSL,high,F-1\n",
    )
    with rls_bypass("test"):
        clock = RemediationClock.objects.for_tenant(two_tenants["a"]).get()
    sweep.sweep(clock.due_at + timedelta(seconds=1))
    generated_report(two_tenants["a"], two_tenants["a_admin"])
    made = {d.event_type: d for d in deliveries(two_tenants["a"])}
    assert set(made) == {"finding.overdue", "report.ready"}
    overdue = made["finding.overdue"]
    assert overdue.title == "Remediation overdue: Outdated OpenSSL on 10.0.0.9"
    assert overdue.message["url"].endswith(f"/findings/{clock.finding_id}/")
    assert made["report.ready"].title.startswith("Report ready: Report ")
    assert deliveries(two_tenants["b"]) == []


def _ingest(source, title, category):
    """One alert of `category` through the real pipeline (generic format)."""
    import uuid

    from alerts.ingest import ingest
    from alerts.intake.generic import parse
    from alerts.models import IntakeSource
    from tenants.rls import tenant_scope

    with tenant_scope([source.tenant_id]):
        source = IntakeSource.objects.for_tenant(source.tenant_id).get(pk=source.pk)
        record = parse(
            {
                "title": title,
                "severity": "high",
                "category": category,
                "source_ref": uuid.uuid4().hex,
            }
        )
        ingest(source, [record])


def test_category_and_source_filters_choose_the_incidents(two_tenants):
    """A subscription for phishing from Wazuh hears of a Wazuh phishing incident only; one for
    Suricata hears of none of them (the tenant's source is a Wazuh); an unfiltered one hears
    of both."""
    a = two_tenants["a"]
    add_channel(a, target="phish@a.example", events=["incident.opened"])
    add_channel(a, target="ids@a.example", events=["incident.opened"])
    add_channel(a, target="all@a.example", events=["incident.opened"])
    with rls_bypass("test"):
        phish, ids, _ = Subscription.objects.for_tenant(a).order_by("created_at")
        phish.categories, phish.sources = ["phishing"], ["wazuh"]
        phish.save()
        ids.sources = ["suricata"]
        ids.save()
    _ingest(two_tenants["a_source"], "Reported phish", "Phishing")  # any case matches
    _ingest(two_tenants["a_source"], "Port scan", "recon")
    with rls_bypass("test"):
        targets = dict(Channel.objects.for_tenant(a).values_list("pk", "target"))
    sent = sorted((targets[d.channel_id], d.title) for d in deliveries(a))
    assert [target for target, _ in sent] == ["all@a.example", "all@a.example", "phish@a.example"]
    assert "Reported phish" in dict(sent)["phish@a.example"]


def test_subscription_filters_through_the_api_and_bad_ones_are_400(api, two_tenants):
    channel = add_channel(two_tenants["a"], target="x@a.example")
    url = "/api/v1/tenants/tenant-a/subscriptions/"
    client = api(two_tenants["a_admin"])
    made = client.post(
        url,
        {
            "channel": str(channel.pk),
            "events": ["incident.opened"],
            "categories": ["Phishing, Ransomware", "phishing"],
            "sources": ["wazuh", "wazuh"],
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert made.json()["categories"] == ["phishing", "ransomware"]
    assert made.json()["sources"] == ["wazuh"]
    for bad in (
        {"sources": ["nessus"]},
        {"categories": "phishing"},
        {"categories": ["x" * 101]},
        {"categories": [f"c{n}" for n in range(21)]},
        {"categories": [",".join(f"c{n}" for n in range(21))]},
    ):
        response = client.post(url, {"channel": str(channel.pk), **bad}, format="json")
        assert response.status_code == 400, (bad, response.json())
        assert set(response.json()) - {"error", "detail"} or response.json().get("detail")
