"""An MSSP team's own channels (a tier's Slack, the NOC's mailbox): told of escalations to the
team and, for the tenants each names, of their events; staff only in the delivery log; managed
by MSSP admins and managers only, on the page and through the API alike."""

from __future__ import annotations

import json

import pytest
from django.core import mail

from alerts.models import Incident
from notifications import delivery
from notifications.models import Delivery, TeamChannel
from sla.escalation import escalation_request
from sla.models import Escalation
from tenants.models import AuditEvent, Team
from tenants.rls import rls_bypass
from tenants.sealed import seal
from tests.factories import StaffFactory, TeamFactory, ingest_alerts
from tests.notifications.test_senders import SLACK_PATH, Receiver

pytestmark = pytest.mark.django_db

SLACK_SECRET = "http://127.0.0.1:9/services/T000/B000/team-secret-path"


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receiver = Receiver()
    yield receiver
    receiver.stop.set()
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def teams(db):
    return {
        "l1": TeamFactory(tenant=None, name="SOC L1", kind="mssp_tier"),
        "l2": TeamFactory(tenant=None, name="SOC L2", kind="mssp_tier"),
        "noc": TeamFactory(tenant=None, name="MSSP NOC", kind="noc"),
    }


@pytest.fixture
def manager(db):
    return StaffFactory(staff_role="manager")


def team_channel(team, kind="email", target="", tenants=(), secrets=None, **fields):
    channel = TeamChannel.objects.create(
        team=team,
        name=f"{team.name} {kind}",
        kind=kind,
        target=target,
        sealed_secrets=seal(secrets) if secrets else "",
        **fields,
    )
    with rls_bypass("test fixture"):
        channel.hear_of(tenants)
    return channel


def incident_of(tenant):
    with rls_bypass("test"):
        return Incident.objects.for_tenant(tenant).order_by("-created_at").first()


def all_deliveries():
    with rls_bypass("test"):
        return list(Delivery.objects.dangerously_unscoped("test").order_by("created_at"))


# --- routing ------------------------------------------------------------------------------------
def test_an_escalation_to_l2_reaches_l2s_channel_over_http_and_not_l1s(
    two_tenants, teams, receiver
):
    l2 = team_channel(teams["l2"], "slack", secrets={"url": receiver.base + SLACK_PATH})
    l1 = team_channel(teams["l1"], "email", "l1@mssp.example")
    ingest_alerts(two_tenants["a_source"], title="Credential dumping on lsass")
    incident = incident_of(two_tenants["a"])
    with rls_bypass("test"):
        escalation_request(
            incident, direction="to_tier", actor=None, team=teams["l2"], note="SECRET NOTE"
        )
    made = [d for d in all_deliveries() if d.team_channel_id]
    assert "SECRET NOTE" not in json.dumps([d.message for d in made])
    assert [(d.team_channel_id, d.tenant_id, d.staff_only) for d in made] == [
        (l2.pk, two_tenants["a"].pk, True)
    ]
    assert made[0].title.startswith("Escalated to SOC L2: [Tenant A] ")
    assert "Respond by " in made[0].message["text"]  # the incident's clock due first
    assert "Credential dumping on lsass" in made[0].title
    delivery.drain()
    (request,) = receiver.requests
    assert request.path == SLACK_PATH
    body = json.dumps(request.json())
    assert "Escalated to SOC L2" in body and "internal note" not in body
    sent = [d for d in all_deliveries() if d.team_channel_id == l2.pk]
    assert sent[0].status == "sent"
    assert not [d for d in all_deliveries() if d.team_channel_id == l1.pk]
    assert not [m for m in mail.outbox if "l1@mssp.example" in m.to]


def test_an_escalation_is_told_to_each_channel_once(two_tenants, teams):
    team_channel(teams["noc"], "email", "noc@mssp.example")
    team_channel(teams["noc"], "email", "noc-2@mssp.example")
    ingest_alerts(two_tenants["a_source"])
    incident = incident_of(two_tenants["a"])
    with rls_bypass("test"):
        escalation_request(incident, direction="to_noc", actor=None, team=teams["noc"])
    made = [d for d in all_deliveries() if d.team_channel_id]
    assert len(made) == 2 and len({d.key for d in made}) == 2
    # the same escalation routed again (a repeated event) writes nothing new
    from notifications import routing

    with rls_bypass("test"):
        esc = Escalation.objects.for_tenant(two_tenants["a"]).get()
    event = {
        "type": "escalation.requested",
        "id": str(esc.pk),
        "at": "x",
        "data": {"team": str(teams["noc"].pk), "incident": str(incident.pk)},
        "audience": ["staff"],
    }
    with rls_bypass("test"):
        routing.route({two_tenants["a"].pk: [event]})
    assert len([d for d in all_deliveries() if d.team_channel_id]) == 2


def test_a_disabled_team_channel_is_not_told(two_tenants, teams):
    team_channel(teams["l2"], "email", "l2@mssp.example", is_active=False)
    ingest_alerts(two_tenants["a_source"])
    with rls_bypass("test"):
        escalation_request(
            incident_of(two_tenants["a"]), direction="to_tier", actor=None, team=teams["l2"]
        )
    assert not [d for d in all_deliveries() if d.team_channel_id]


def test_a_team_channel_hears_of_the_tenants_it_names_and_never_of_another(two_tenants, teams):
    named_a = team_channel(
        teams["noc"], "email", "noc@mssp.example", tenants=[two_tenants["a"]], events=[]
    )
    nobody = team_channel(teams["l2"], "email", "l2@mssp.example")  # escalations only
    ingest_alerts(two_tenants["a_source"], title="A's incident")
    ingest_alerts(two_tenants["b_source"], title="B's incident")
    made = [d for d in all_deliveries() if d.team_channel_id]
    assert [(d.team_channel_id, d.tenant_id, d.event_type) for d in made] == [
        (named_a.pk, two_tenants["a"].pk, "incident.opened")
    ]
    assert made[0].staff_only and "A's incident" in made[0].title
    assert nobody.pk not in {d.team_channel_id for d in made}
    delivery.drain()
    bodies = " ".join(m.subject + m.body for m in mail.outbox if "noc@mssp.example" in m.to)
    assert "A's incident" in bodies and "B's incident" not in bodies and "Tenant B" not in bodies


def test_a_team_channels_events_and_severity_filter_apply(two_tenants, teams):
    team_channel(
        teams["noc"],
        "email",
        "noc@mssp.example",
        tenants=[two_tenants["a"]],
        events=["incident.opened"],
        min_severity="critical",
    )
    ingest_alerts(two_tenants["a_source"])  # a high incident
    assert not [d for d in all_deliveries() if d.team_channel_id]


def test_a_team_channel_never_carries_an_internal_comment(api, two_tenants, teams):
    team_channel(teams["noc"], "email", "noc@mssp.example", tenants=[two_tenants["a"]])
    ingest_alerts(two_tenants["a_source"])
    incident = incident_of(two_tenants["a"])
    staff = api(two_tenants["analyst_a"])
    for visibility in ("internal", "shared"):
        reply = staff.post(
            f"/api/v1/incidents/{incident.pk}/comments/",
            {"body": f"SECRET {visibility} words", "visibility": visibility},
            format="json",
        )
        assert reply.status_code == 201, reply.content
    made = [d for d in all_deliveries() if d.team_channel_id]
    assert [d.event_type for d in made] == ["incident.opened", "incident.comment"]
    assert "SECRET" not in json.dumps([d.message for d in made])


def test_a_team_channel_hears_nothing_the_customer_may_not_see(two_tenants, teams):
    """Events for the MSSP's eyes only (an intelligence match, an internal change) are not
    notifiable: a team channel naming the tenant hears of them no more than its channels."""
    from notifications import routing

    team_channel(teams["noc"], "email", "noc@mssp.example", [two_tenants["a"]])
    staff_only = [
        {"type": "incident.created", "id": "x", "at": "t", "data": {}, "audience": ["staff"]},
        {"type": "intel.match", "id": "y", "at": "t", "data": {}, "audience": ["staff"]},
    ]
    with rls_bypass("test"):
        routing.route({two_tenants["a"].pk: staff_only})
    assert not all_deliveries()


def test_a_flapping_incident_tells_a_team_channel_once_per_window(api, two_tenants, teams):
    """Coalescing applies to team channels as to a tenant's, each channel on its own."""
    ingest_alerts(two_tenants["a_source"])
    incident = incident_of(two_tenants["a"])
    first = team_channel(
        teams["noc"], "email", "noc@mssp.example", [two_tenants["a"]], events=["incident.status"]
    )
    second = team_channel(
        teams["l2"], "email", "l2@mssp.example", [two_tenants["a"]], events=["incident.status"]
    )
    analyst = api(two_tenants["analyst_a"])
    url = f"/api/v1/incidents/{incident.pk}/transition/"
    for to in ["investigating", "awaiting_customer"] * 5:
        body = {"status": to, "reason": "waiting on the customer's answer"}
        assert analyst.post(url, body, format="json").status_code == 200
    made = [d for d in all_deliveries() if d.team_channel_id]
    assert sorted(d.team_channel_id for d in made) == sorted([first.pk, second.pk])
    assert all("awaiting customer" in d.title.lower() for d in made)


def test_a_routing_fault_never_breaks_the_escalation(two_tenants, teams, monkeypatch):
    from notifications import routing

    team_channel(teams["l2"], "email", "l2@mssp.example")

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(routing, "escalated_message", broken)
    ingest_alerts(two_tenants["a_source"])
    with rls_bypass("test"):
        esc = escalation_request(
            incident_of(two_tenants["a"]), direction="to_tier", actor=None, team=teams["l2"]
        )
    assert esc.pk is not None
    assert not [d for d in all_deliveries() if d.team_channel_id]


def test_a_removed_or_disabled_team_channel_fails_its_delivery_for_good(two_tenants, teams):
    channel = team_channel(teams["l2"], "email", "l2@mssp.example")
    ingest_alerts(two_tenants["a_source"])
    with rls_bypass("test"):
        escalation_request(
            incident_of(two_tenants["a"]), direction="to_tier", actor=None, team=teams["l2"]
        )
    channel.is_active = False
    channel.save()
    delivery.drain()
    (failed,) = [d for d in all_deliveries() if d.team_channel_id]
    assert failed.status == "failed" and "team channel" in failed.last_error


# --- the customer's delivery log ------------------------------------------------------------------
def test_team_channel_deliveries_stay_out_of_the_customers_log(api, client, two_tenants, teams):
    team_channel(teams["noc"], "email", "noc@mssp.example", tenants=[two_tenants["a"]])
    ingest_alerts(two_tenants["a_source"], title="Seen by the NOC")
    (made,) = [d for d in all_deliveries() if d.team_channel_id]
    for role in ("admin", "responder", "viewer"):
        body = api(two_tenants[f"a_{role}"]).get("/api/v1/tenants/tenant-a/deliveries/").json()
        assert str(made.pk) not in json.dumps(body)
    client.force_login(two_tenants["a_admin"])
    page = client.get("/settings/notifications/").content.decode()
    assert str(made.pk) not in page
    assert "MSSP NOC email" not in page
    staff = api(two_tenants["mssp_admin"]).get("/api/v1/tenants/tenant-a/deliveries/").json()
    assert str(made.pk) in json.dumps(staff)
    client.force_login(two_tenants["mssp_admin"])
    staff_page = client.get("/settings/notifications/?tenant=tenant-a").content.decode()
    assert f'id="delivery-{made.pk}"' in staff_page and "MSSP NOC email" in staff_page


# --- the API ------------------------------------------------------------------------------------
def test_managers_add_a_team_channel_whose_secret_is_never_returned(
    api, two_tenants, teams, manager, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    client = api(manager)
    base = f"/api/v1/teams/{teams['l2'].pk}/channels/"
    reply = client.post(
        base,
        {"name": "L2 Slack", "kind": "slack", "url": SLACK_SECRET, "tenants": ["tenant-a"]},
        format="json",
    )
    assert reply.status_code == 201, reply.content
    made = reply.json()
    assert made["tenants"] == ["tenant-a"] and made["team"] == str(teams["l2"].pk)
    assert "team-secret-path" not in reply.content.decode()
    for url in (base, f"{base}{made['id']}/"):
        assert "team-secret-path" not in client.get(url).content.decode()
    audit = list(AuditEvent.objects.dangerously_unscoped("test").values_list("data", flat=True))
    assert "team-secret-path" not in json.dumps(audit, default=str)
    webhook = client.post(
        base, {"name": "L2 hook", "kind": "webhook", "url": SLACK_SECRET}, format="json"
    )
    assert webhook.status_code == 201, webhook.content
    assert webhook.json()["signing_secret"].startswith("whsec_")
    listed = client.get(base).content.decode()
    assert webhook.json()["signing_secret"] not in listed
    changed = client.patch(
        f"{base}{made['id']}/", {"tenants": [], "is_active": False}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["tenants"] == [] and changed.json()["is_active"] is False
    assert client.delete(f"{base}{made['id']}/").status_code == 204


def test_send_a_test_and_read_the_last_deliveries(api, two_tenants, teams, manager):
    client = api(two_tenants["mssp_admin"])
    base = f"/api/v1/teams/{teams['noc'].pk}/channels/"
    made = client.post(
        base, {"name": "NOC mail", "kind": "email", "target": "noc@mssp.example"}, format="json"
    )
    assert made.status_code == 201, made.content
    channel_id = made.json()["id"]
    tested = client.post(f"{base}{channel_id}/test/")
    assert tested.status_code == 202, tested.content
    assert tested.json()["team_channel"] == channel_id and tested.json()["is_test"]
    delivery.drain()
    assert any(m.to == ["noc@mssp.example"] and "Test message" in m.subject for m in mail.outbox)
    (last,) = client.get(f"{base}{channel_id}/deliveries/").json()
    assert last["status"] == "sent" and last["team_channel"] == channel_id
    with rls_bypass("test"):
        row = Delivery.objects.dangerously_unscoped("test").get(pk=last["id"])
    assert row.staff_only and row.is_test
    disabled = client.patch(f"{base}{channel_id}/", {"is_active": False}, format="json")
    assert disabled.status_code == 200
    assert client.post(f"{base}{channel_id}/test/").status_code == 400


def test_a_dead_lettered_team_delivery_is_retried_by_staff(api, two_tenants, teams):
    channel = team_channel(teams["noc"], "email", "noc@mssp.example", tenants=[two_tenants["a"]])
    ingest_alerts(two_tenants["a_source"])
    (made,) = [d for d in all_deliveries() if d.team_channel_id]
    with rls_bypass("test"):
        Delivery.objects.for_tenant(two_tenants["a"]).filter(pk=made.pk).update(status="failed")
    customer = api(two_tenants["a_admin"]).post(
        f"/api/v1/tenants/tenant-a/deliveries/{made.pk}/retry/"
    )
    assert customer.status_code == 404  # not in the customer's log at all
    staff = api(two_tenants["mssp_admin"])
    reply = staff.post(f"/api/v1/tenants/tenant-a/deliveries/{made.pk}/retry/")
    assert reply.status_code == 200, reply.content
    delivery.drain()
    (sent,) = staff.get(f"/api/v1/teams/{teams['noc'].pk}/channels/{channel.pk}/deliveries/").json()
    assert sent["status"] == "sent"


@pytest.mark.parametrize(
    "who", ["a_admin", "a_responder", "a_viewer", "analyst_a", "analyst_b", "lead"]
)
def test_customers_and_analysts_are_refused_the_api(api, two_tenants, teams, who):
    user = StaffFactory(staff_role="lead", tenants=[two_tenants["a"]]) if who == "lead" else None
    client = api(user or two_tenants[who])
    channel = team_channel(teams["noc"], "email", "noc@mssp.example")
    base = f"/api/v1/teams/{teams['noc'].pk}/channels/"
    assert client.get(base).status_code == 403
    assert client.get(f"{base}{channel.pk}/").status_code == 403
    assert client.get(f"{base}{channel.pk}/deliveries/").status_code == 403
    body = {"name": "x", "kind": "email", "target": "x@example.com"}
    assert client.post(base, body, format="json").status_code == 403
    assert client.patch(f"{base}{channel.pk}/", {"name": "y"}, format="json").status_code == 403
    assert client.post(f"{base}{channel.pk}/test/").status_code == 403
    assert client.delete(f"{base}{channel.pk}/").status_code == 403
    assert TeamChannel.objects.filter(team=teams["noc"]).count() == 1


def test_a_customers_team_has_no_team_channels(api, two_tenants):
    with rls_bypass("test"):
        in_house = Team.objects.create(tenant=two_tenants["a"], name="A SOC", kind="in_house")
    client = api(two_tenants["mssp_admin"])
    reply = client.post(
        f"/api/v1/teams/{in_house.pk}/channels/",
        {"name": "x", "kind": "email", "target": "x@a.example"},
        format="json",
    )
    assert reply.status_code == 404
    assert not TeamChannel.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "x", "kind": "email", "target": "not an address"},
        {"name": "x", "kind": "slack"},
        {"name": "x", "kind": "fax", "target": "x@example.com"},
        {"name": "x", "kind": "email", "target": "x@example.com", "tenants": ["no-such"]},
        {"name": "x", "kind": "email", "target": "x@example.com", "tenants": "tenant-a"},
        {"name": "x", "kind": "email", "target": "x@example.com", "events": ["nope"]},
        {"name": "x", "kind": "email", "target": "x@example.com", "min_severity": "huge"},
        {"name": "x", "kind": "email", "target": "x@example.com", "tenants": [{"a": 1}]},
        [],
    ],
)
def test_bad_input_is_a_400_with_a_message(api, two_tenants, teams, body):
    client = api(two_tenants["mssp_admin"])
    reply = client.post(f"/api/v1/teams/{teams['l2'].pk}/channels/", body, format="json")
    assert reply.status_code == 400, reply.content
    assert reply.json()
    assert not TeamChannel.objects.exists()


def test_a_malformed_or_missing_team_or_channel_is_a_404(api, two_tenants, teams):
    client = api(two_tenants["mssp_admin"])
    assert client.get("/api/v1/teams/not-a-team/channels/").status_code == 404
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(f"/api/v1/teams/{missing}/channels/").status_code == 404
    other = team_channel(teams["l1"], "email", "l1@mssp.example")
    # L1's channel is not one of L2's
    assert client.get(f"/api/v1/teams/{teams['l2'].pk}/channels/{other.pk}/").status_code == 404


def test_only_tenants_the_caller_sees_may_be_named(two_tenants, teams):
    """The serializer's rule, asked directly: an analyst (who may not manage team channels
    anyway) could never name a tenant, and nobody names one they do not see."""
    from notifications import policy
    from tenants.access import access_for

    analyst = access_for(two_tenants["analyst_a"])
    admin = access_for(two_tenants["mssp_admin"])
    assert not policy.may_name_tenants(analyst, {two_tenants["a"].pk})
    assert policy.may_name_tenants(admin, {two_tenants["a"].pk, two_tenants["b"].pk})
    assert not policy.may_name_tenants(admin, {987654321})


# --- the pages ----------------------------------------------------------------------------------
def test_the_pages_list_teams_add_edit_test_and_remove_a_channel(client, two_tenants, teams):
    client.force_login(two_tenants["mssp_admin"])
    index = client.get("/settings/teams/")
    assert index.status_code == 200 and "SOC L2" in index.content.decode()
    page = f"/settings/teams/{teams['l2'].pk}/"
    assert client.get(page).status_code == 200
    added = client.post(
        page,
        {
            "name": "L2 mailbox",
            "kind": "email",
            "target": "l2@mssp.example",
            "tenants": ["tenant-a"],
            "events": ["incident.opened"],
        },
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    channel = TeamChannel.objects.get(team=teams["l2"])
    with rls_bypass("test"):
        assert list(channel.tenants.values_list("slug", flat=True)) == ["tenant-a"]
    assert channel.events == ["incident.opened"]
    edit = f"{page}channels/{channel.pk}/"
    assert "L2 mailbox" in client.get(edit).content.decode()
    saved = client.post(edit, {"name": "L2 inbox", "target": "l2@mssp.example"})
    assert saved.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "L2 inbox" and channel.events == []
    with rls_bypass("test"):
        assert not channel.tenants.exists()
    assert client.post(f"{edit}test/").status_code == 302
    delivery.drain()
    assert any(m.to == ["l2@mssp.example"] for m in mail.outbox)
    shown = client.get(page).content.decode()
    assert "Test message" in shown and "Sent" in shown
    assert client.post(edit, {"is_active": "false"}).status_code == 302
    channel.refresh_from_db()
    assert not channel.is_active and channel.name == "L2 inbox"
    assert client.post(f"{edit}delete/").status_code == 302
    assert not TeamChannel.objects.exists()


def test_bad_input_on_the_page_is_a_400_with_its_message(client, two_tenants, teams):
    client.force_login(two_tenants["mssp_admin"])
    reply = client.post(
        f"/settings/teams/{teams['l2'].pk}/", {"name": "x", "kind": "email", "target": "nope"}
    )
    assert reply.status_code == 400 and "An e-mail address." in reply.content.decode()
    assert not TeamChannel.objects.exists()


def test_the_page_never_shows_a_secret(client, two_tenants, teams, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    client.force_login(two_tenants["mssp_admin"])
    page = f"/settings/teams/{teams['l2'].pk}/"
    added = client.post(page, {"name": "L2 Slack", "kind": "slack", "url": SLACK_SECRET})
    assert added.status_code == 302
    channel = TeamChannel.objects.get()
    for url in (page, f"{page}channels/{channel.pk}/", "/settings/teams/"):
        assert "team-secret-path" not in client.get(url).content.decode()


@pytest.mark.parametrize(
    "who", ["a_admin", "a_responder", "a_viewer", "analyst_a", "analyst_b", "lead"]
)
def test_customers_and_analysts_are_refused_the_pages(client, two_tenants, teams, who):
    user = StaffFactory(staff_role="lead", tenants=[two_tenants["a"]]) if who == "lead" else None
    client.force_login(user or two_tenants[who])
    channel = team_channel(teams["noc"], "email", "noc@mssp.example")
    page = f"/settings/teams/{teams['noc'].pk}/"
    assert client.get("/settings/teams/").status_code == 403
    assert client.get(page).status_code == 403
    assert (
        client.post(page, {"name": "x", "kind": "email", "target": "x@example.com"}).status_code
        == 403
    )
    edit = f"{page}channels/{channel.pk}/"
    assert client.get(edit).status_code == 403
    assert client.post(edit, {"name": "y"}).status_code == 403
    assert client.post(f"{edit}test/").status_code == 403
    assert client.post(f"{edit}delete/").status_code == 403
    assert TeamChannel.objects.filter(team=teams["noc"], name=channel.name).count() == 1
    assert not all_deliveries()


def test_a_customers_team_page_is_a_404(client, two_tenants):
    with rls_bypass("test"):
        in_house = Team.objects.create(tenant=two_tenants["a"], name="A SOC", kind="in_house")
    client.force_login(two_tenants["mssp_admin"])
    assert client.get(f"/settings/teams/{in_house.pk}/").status_code == 404


def test_channels_stay_tenant_owned_and_team_channels_are_the_mssps_own():
    """A tenant's Channel keeps its non-null, row-level-secured tenant; the team's channel
    shares its destination fields (one abstract base) and has no tenant at all."""
    from notifications.models import Channel, Destination
    from tenants.rls import tenant_related_models

    related = set(tenant_related_models())
    assert Channel in related and Delivery in related and TeamChannel not in related
    assert not Channel._meta.get_field("tenant").null
    shared = {f.name for f in Destination._meta.get_fields()}
    assert shared <= {f.name for f in TeamChannel._meta.get_fields()}
    assert shared <= {f.name for f in Channel._meta.get_fields()}


def test_the_demo_gives_the_noc_and_l2_an_email_channel(db, settings):
    import io

    from django.core.management import call_command

    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    found = {
        (c.team.name, c.kind, c.target, c.is_active)
        for c in TeamChannel.objects.select_related("team")
    }
    assert found == {
        ("MSSP NOC", "email", "noc@mssp.example", True),
        ("SOC L2", "email", "soc-l2@mssp.example", True),
    }


@pytest.mark.parametrize(
    "who,shown",
    [("mssp_admin", True), ("manager", True), ("analyst_a", False), ("a_admin", False)],
)
def test_the_menu_offers_team_channels_to_who_may_open_them(
    client, two_tenants, manager, who, shown
):
    client.force_login(manager if who == "manager" else two_tenants[who])
    page = client.get("/account/notifications/").content.decode()
    assert ('href="/settings/teams/"' in page) is shown


def test_a_failed_delivery_is_retried_from_the_teams_page(client, two_tenants, teams):
    team_channel(teams["noc"], "email", "noc@mssp.example", [two_tenants["a"]])
    ingest_alerts(two_tenants["a_source"])
    (made,) = [d for d in all_deliveries() if d.team_channel_id]
    with rls_bypass("test"):
        Delivery.objects.for_tenant(two_tenants["a"]).filter(pk=made.pk).update(
            status="failed", attempts=8
        )
    client.force_login(two_tenants["mssp_admin"])
    page = f"/settings/teams/{teams['noc'].pk}/"
    assert f"deliveries/{made.pk}/retry/" in client.get(page).content.decode()
    other = f"/settings/teams/{teams['l2'].pk}/deliveries/{made.pk}/retry/"
    assert client.post(other).status_code == 404  # not a delivery of L2's channels
    assert client.post(f"{page}deliveries/{made.pk}/retry/").status_code == 302
    (queued,) = [d for d in all_deliveries() if d.team_channel_id]
    assert queued.status == "pending" and queued.attempts == 0
    delivery.drain()
    (sent,) = [d for d in all_deliveries() if d.team_channel_id]
    assert sent.status == "sent" and sent.attempts == 1
