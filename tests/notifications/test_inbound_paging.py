"""Acknowledgements made in PagerDuty or Opsgenie flow back into the portal (notifications.
inbound): signed webhooks posted over real HTTP to the live test server, as the vendors post
them, acknowledge the portal's incident as the person who acted there, once, within the
channel's own tenant only, and with every check the portal's own button has."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Incident, IncidentEvent
from notifications import delivery, paging
from notifications.inbound_pagerduty import sign
from notifications.models import Channel, ContactMethod, NotificationRule, Page, Subscription
from sla.escalation import escalation_request
from sla.models import SlaClock
from tenants.models import AuditEvent, Team
from tenants.rls import rls_bypass
from tenants.sealed import seal
from tests.factories import ingest_alerts
from tests.notifications.test_senders import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

PD_SECRET = "pd-webhook-secret-of-acme-0123456789"
GLOBEX_PD_SECRET = "pd-webhook-secret-of-globex-987654"
GENIE_TOKEN = "opsgenie-token-of-acme-0123456789"
PD_USER = "PJANE01"


# --- helpers -------------------------------------------------------------------------------------
def post(live_server, path, body: bytes, headers: dict[str, str] | None = None):
    """(status, JSON answer) of a POST over HTTP."""
    request = urllib.request.Request(  # noqa: S310 (the live server on loopback)
        live_server.url + path,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as reply:  # noqa: S310 (loopback)
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, (json.loads(raw) if raw.startswith(b"{") else {"raw": raw[:200]})


def pd_event(
    incident_key,
    *,
    event_type="incident.acknowledged",
    agent=PD_USER,
    event_id=None,
    occurred_at=None,
):
    return json.dumps(
        {
            "event": {
                "id": event_id or uuid.uuid4().hex,
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": (occurred_at or timezone.now()).isoformat(),
                "agent": {"id": agent, "summary": "Jane Responder", "type": "user_reference"},
                "client": None,
                "data": {
                    "id": "PGR0VU2",
                    "type": "incident",
                    "number": 2,
                    "status": event_type.rpartition(".")[2],
                    "incident_key": incident_key,
                    "title": "Beaconing",
                },
            }
        }
    ).encode()


def pd_post(live_server, channel, body, secret=PD_SECRET, **headers):
    signature = {"X-PagerDuty-Signature": sign(secret, body)} if secret else {}
    return post(live_server, f"/integrations/pagerduty/{channel.pk}/", body, signature | headers)


def channel_of(tenant, kind="pagerduty", secrets=None):
    secrets = secrets if secrets is not None else {"routing_key": "rk", "webhook_secret": PD_SECRET}
    with rls_bypass("test"):
        return Channel.objects.create(
            tenant=tenant, name=f"{kind} of {tenant.slug}", kind=kind, sealed_secrets=seal(secrets)
        )


def claims(user, pd_user=PD_USER, kind="pagerduty"):
    return ContactMethod.objects.create(
        user=user,
        label="PagerDuty",
        kind=kind,
        target=pd_user,
        sealed_secrets=seal(
            {"routing_key": "personal"} if kind == "pagerduty" else {"api_key": "k"}
        ),
    )


def new_incident(world, key="a"):
    ingest_alerts(world[f"{key}_source"], title=f"Beaconing {uuid.uuid4().hex[:6]}")
    with rls_bypass("test"):
        return Incident.objects.for_tenant(world[key]).order_by("-created_at").first()


def fresh(incident):
    with rls_bypass("test"):
        return Incident.objects.for_tenant(incident.tenant_id).get(pk=incident.pk)


def timeline(incident):
    with rls_bypass("test"):
        return list(
            IncidentEvent.objects.for_tenant(incident.tenant_id)
            .filter(incident=incident, kind="paging.inbound")
            .values_list("summary", flat=True)
        )


def audited(tenant):
    with rls_bypass("test"):
        return list(
            AuditEvent.objects.for_tenant(tenant).filter(action="paging.inbound").order_by("at")
        )


def ack_clock(incident):
    with rls_bypass("test"):
        return (
            SlaClock.objects.for_tenant(incident.tenant_id)
            .filter(incident=incident, target="acknowledge")
            .order_by("-created_at")[0]
        )


# --- PagerDuty -----------------------------------------------------------------------------------
def test_an_acknowledgement_in_pagerduty_acknowledges_stops_the_clock_and_the_page(
    live_server, two_tenants
):
    world = two_tenants
    analyst = world["analyst_a"]
    claims(analyst)
    channel = channel_of(world["a"])
    incident = new_incident(world)
    mail = ContactMethod.objects.create(
        user=analyst, label="Mail", kind="email", target="a@x.example"
    )
    sms = ContactMethod.objects.create(
        user=analyst, label="Phone", kind="sms", target="+14155550100"
    )
    NotificationRule.objects.create(user=analyst, contact_method=mail, delay_minutes=0)
    NotificationRule.objects.create(user=analyst, contact_method=sms, delay_minutes=30)
    team = Team.objects.create(name="SOC L1 (inbound)", kind="mssp_tier")
    team.members.add(analyst)
    with rls_bypass("test"):
        escalation_request(incident, direction="to_tier", actor=None, team=team)
        (page,) = Page.objects.for_tenant(world["a"]).filter(incident=incident)
    assert page.status == "paging" and ack_clock(incident).state == "running"

    status, answer = pd_post(live_server, channel, pd_event(f"incident:{incident.pk}"))

    assert (status, answer["status"]) == (200, "applied"), answer
    incident = fresh(incident)
    assert incident.status == "acknowledged" and incident.owner_id == analyst.pk
    clock = ack_clock(incident)
    assert clock.state == "met" and clock.met_at is not None
    with rls_bypass("test"):
        page.refresh_from_db()
    assert page.status == "answered"
    assert timeline(incident) == ["Acknowledged in PagerDuty by Jane Responder: acknowledged here"]
    (entry,) = audited(world["a"])
    assert entry.actor_id == analyst.pk and entry.data["result"] == "applied"


def test_resolved_in_pagerduty_acknowledges_and_says_the_resolution_is_the_portals(
    live_server, two_tenants
):
    world = two_tenants
    claims(world["a_responder"])
    channel = channel_of(world["a"])
    incident = new_incident(world)
    body = pd_event(f"incident:{incident.pk}", event_type="incident.resolved")
    status, answer = pd_post(live_server, channel, body)
    assert (status, answer["status"]) == (200, "applied")
    assert fresh(incident).status == "acknowledged"  # not resolved: no resolution was given
    (said,) = timeline(incident)
    assert said.startswith("Resolved in PagerDuty by Jane Responder: acknowledged here")
    assert "resolve it in the portal" in said


def test_the_same_event_twice_acts_once(live_server, two_tenants):
    world = two_tenants
    claims(world["a_responder"])
    channel = channel_of(world["a"])
    incident = new_incident(world)
    body = pd_event(f"incident:{incident.pk}", event_id="01DUPLICATE")
    assert pd_post(live_server, channel, body)[1]["status"] == "applied"
    status, answer = pd_post(live_server, channel, body)
    assert (status, answer["status"]) == (200, "duplicate")
    assert len(audited(world["a"])) == 1 and len(timeline(incident)) == 1


def test_a_viewer_acknowledging_in_pagerduty_is_recorded_but_not_applied(live_server, two_tenants):
    world = two_tenants
    claims(world["a_viewer"])
    channel = channel_of(world["a"])
    incident = new_incident(world)
    status, answer = pd_post(live_server, channel, pd_event(f"incident:{incident.pk}"))
    assert (status, answer["status"]) == (200, "not_applied")
    assert fresh(incident).status == "new" and ack_clock(incident).state == "running"
    (said,) = timeline(incident)
    assert said.startswith("Acknowledged in PagerDuty by Jane Responder, not applied:")
    (entry,) = audited(world["a"])
    assert entry.data["result"] == "not_applied" and entry.actor_id == world["a_viewer"].pk


def test_an_unmapped_pagerduty_user_changes_nothing(live_server, two_tenants):
    world = two_tenants
    channel = channel_of(world["a"])
    incident = new_incident(world)
    status, answer = pd_post(live_server, channel, pd_event(f"incident:{incident.pk}"))
    assert (status, answer["status"]) == (200, "not_applied")
    assert "no portal user of this customer is PagerDuty user PJANE01" in answer["detail"]
    assert fresh(incident).status == "new"
    assert "not applied" in timeline(incident)[0]


def test_a_pagerduty_user_mapped_to_another_tenants_person_is_not_applied(live_server, two_tenants):
    world = two_tenants
    claims(world["b_admin"])  # Globex's admin claims the PagerDuty user
    claims(world["analyst_b"])
    channel = channel_of(world["a"])
    incident = new_incident(world)
    status, answer = pd_post(live_server, channel, pd_event(f"incident:{incident.pk}"))
    assert (status, answer["status"]) == (200, "not_applied")
    assert fresh(incident).status == "new"


def test_globexs_channel_carrying_acmes_incident_key_is_ignored_and_audited(
    live_server, two_tenants
):
    world = two_tenants
    claims(world["analyst_b"])  # works Globex (tenant B) only
    claims(world["mssp_admin"], pd_user="PADMIN01")  # sees every tenant
    globex = channel_of(
        world["b"], secrets={"routing_key": "rk", "webhook_secret": GLOBEX_PD_SECRET}
    )
    acme_incident = new_incident(world, "a")
    for agent in (PD_USER, "PADMIN01"):
        body = pd_event(f"incident:{acme_incident.pk}", agent=agent)
        status, answer = pd_post(live_server, globex, body, secret=GLOBEX_PD_SECRET)
        assert (status, answer["status"]) == (202, "unknown_incident")
    assert fresh(acme_incident).status == "new"
    assert timeline(acme_incident) == []  # nothing written on Acme's incident
    assert audited(world["a"]) == []
    recorded = audited(world["b"])
    assert len(recorded) == 2 and {e.data["result"] for e in recorded} == {"unknown_incident"}


def test_globexs_secret_on_acmes_channel_url_is_refused(live_server, two_tenants):
    world = two_tenants
    claims(world["a_responder"])
    acme = channel_of(world["a"])
    channel_of(world["b"], secrets={"routing_key": "rk", "webhook_secret": GLOBEX_PD_SECRET})
    incident = new_incident(world)
    body = pd_event(f"incident:{incident.pk}")
    status, answer = pd_post(live_server, acme, body, secret=GLOBEX_PD_SECRET)
    assert status == 401 and "does not match" in answer["detail"]
    assert fresh(incident).status == "new" and audited(world["a"]) == []


def test_any_matching_signature_of_several_is_accepted(live_server, two_tenants):
    world = two_tenants
    claims(world["a_responder"])
    channel = channel_of(world["a"])
    incident = new_incident(world)
    body = pd_event(f"incident:{incident.pk}")
    header = f"{sign('the-old-secret-000000', body)}, {sign(PD_SECRET, body)}"
    status, answer = pd_post(
        live_server, channel, body, secret="", **{"X-PagerDuty-Signature": header}
    )
    assert (status, answer["status"]) == (200, "applied")


def test_other_pagerduty_events_are_accepted_and_ignored(live_server, two_tenants):
    world = two_tenants
    channel = channel_of(world["a"])
    incident = new_incident(world)
    body = pd_event(f"incident:{incident.pk}", event_type="incident.annotated")
    status, answer = pd_post(live_server, channel, body)
    assert (status, answer["status"]) == (202, "ignored")
    assert audited(world["a"]) == []


@pytest.mark.parametrize(
    "case",
    [
        "unsigned",
        "bad_signature",
        "not_json",
        "not_an_object",
        "no_event",
        "wrong_type",
        "too_big",
        "unknown_channel",
        "opsgenie_channel",
        "no_secret",
        "stale",
        "bad_time",
    ],
)
def test_bad_pagerduty_requests_are_clear_4xx(live_server, two_tenants, case, settings):
    world = two_tenants
    claims(world["a_responder"])
    channel = channel_of(world["a"])
    incident = new_incident(world)
    good = pd_event(f"incident:{incident.pk}")
    path = f"/integrations/pagerduty/{channel.pk}/"
    body, headers, expected = good, {"X-PagerDuty-Signature": sign(PD_SECRET, good)}, 400
    if case == "unsigned":
        headers, expected = {}, 401
    elif case == "bad_signature":
        headers, expected = {"X-PagerDuty-Signature": "v1=" + "0" * 64}, 401
    elif case in ("not_json", "not_an_object", "no_event", "stale", "bad_time"):
        body = {
            "not_json": b"{not json",
            "not_an_object": b"[1, 2]",
            "no_event": b'{"messages": []}',
            "stale": pd_event(
                f"incident:{incident.pk}", occurred_at=timezone.now() - timedelta(days=2)
            ),
            "bad_time": good.replace(b'"occurred_at": "', b'"occurred_at": "yesterday'),
        }[case]
        headers = {"X-PagerDuty-Signature": sign(PD_SECRET, body)}
    elif case == "wrong_type":
        headers["Content-Type"], expected = "text/plain", 415
    elif case == "too_big":
        settings.INBOUND_MAX_BYTES = 1024
        body = pd_event(f"incident:{incident.pk}") + b" " * 2000
        headers, expected = {"X-PagerDuty-Signature": sign(PD_SECRET, body)}, 413
    elif case == "unknown_channel":
        path, expected = f"/integrations/pagerduty/{uuid.uuid4()}/", 404
    elif case == "opsgenie_channel":
        genie = channel_of(world["a"], "opsgenie", {"api_key": "k", "webhook_secret": PD_SECRET})
        path, expected = f"/integrations/pagerduty/{genie.pk}/", 404
    elif case == "no_secret":
        bare = channel_of(world["a"], secrets={"routing_key": "rk"})
        path, expected = f"/integrations/pagerduty/{bare.pk}/", 403
    status, answer = post(live_server, path, body, headers)
    assert status == expected, (case, answer)
    assert answer.get("detail"), answer  # a sentence, never an empty error
    assert fresh(incident).status == "new"


def test_a_get_is_not_allowed(live_server, two_tenants):
    channel = channel_of(two_tenants["a"])
    url = f"{live_server.url}/integrations/pagerduty/{channel.pk}/"
    request = urllib.request.Request(url)  # noqa: S310 (the live server on loopback)
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 (loopback)
    assert raised.value.code == 405


# --- Opsgenie ------------------------------------------------------------------------------------
def genie_body(alias, action="Acknowledge", username="jane@acme.example"):
    return json.dumps(
        {
            "action": action,
            "alert": {
                "alertId": str(uuid.uuid4()),
                "alias": alias,
                "username": username,
                "updatedAt": 1765116000000,
                "message": "[Acme] Beaconing",
            },
            "source": {"name": "", "type": "mobile"},
            "integrationName": "MSSP portal",
        }
    ).encode()


def test_opsgenie_acknowledge_and_close_with_its_token(live_server, two_tenants):
    world = two_tenants
    claims(world["a_responder"], pd_user="jane@acme.example", kind="opsgenie")
    channel = channel_of(world["a"], "opsgenie", {"api_key": "k", "webhook_secret": GENIE_TOKEN})
    path = f"/integrations/opsgenie/{channel.pk}/"
    first, second = new_incident(world), new_incident(world)
    status, answer = post(
        live_server, path, genie_body(f"incident:{first.pk}"), {"X-MSSP-Token": GENIE_TOKEN}
    )
    assert (status, answer["status"]) == (200, "applied")
    assert fresh(first).status == "acknowledged"
    body = genie_body(f"incident:{second.pk}", action="Close", username="JANE@acme.example")
    status, answer = post(live_server, path, body, {"X-MSSP-Token": GENIE_TOKEN})
    assert (status, answer["status"]) == (200, "applied")
    assert fresh(second).status == "acknowledged"
    # a wrong or missing token; an unknown user: nothing happens
    third = new_incident(world)
    body = genie_body(f"incident:{third.pk}")
    assert post(live_server, path, body, {"X-MSSP-Token": "not-the-token-000000"})[0] == 401
    assert post(live_server, path, body)[0] == 401
    body = genie_body(f"incident:{third.pk}", username="nobody@acme.example")
    status, answer = post(live_server, path, body, {"X-MSSP-Token": GENIE_TOKEN})
    assert (status, answer["status"]) == (200, "not_applied")
    assert fresh(third).status == "new"


# --- contact methods name the vendor's user ----------------------------------------------------
def test_my_notifications_validates_the_pagerduty_user_id(client, two_tenants):
    user = two_tenants["a_responder"]
    client.force_login(user)
    form = {"label": "PagerDuty", "kind": "pagerduty", "routing_key": "my-service-key"}
    reply = client.post("/account/notifications/", form | {"target": "jane@example.com"})
    assert reply.status_code == 400 and b"Your PagerDuty user id" in reply.content
    reply = client.post("/account/notifications/", form | {"target": "pjane01"})
    assert reply.status_code == 302
    assert ContactMethod.objects.get(user=user, kind="pagerduty").target == "PJANE01"
    reply = client.post(
        "/account/notifications/",
        {"label": "Genie", "kind": "opsgenie", "api_key": "k", "target": "not an e-mail"},
    )
    assert reply.status_code == 400 and b"Your Opsgenie username" in reply.content


def test_a_channel_webhook_secret_is_optional_kept_and_never_shown(api, two_tenants):
    admin = two_tenants["a_admin"]
    client = api(admin)
    made = client.post(
        "/api/v1/tenants/tenant-a/channels/",
        {"name": "PD", "kind": "pagerduty", "routing_key": "rk-0123"},
        format="json",
    )
    assert made.status_code == 201, made.content
    changed = client.patch(
        f"/api/v1/tenants/tenant-a/channels/{made.json()['id']}/",
        {"webhook_secret": PD_SECRET},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert PD_SECRET not in changed.content.decode()
    with rls_bypass("test"):
        channel = Channel.objects.for_tenant(two_tenants["a"]).get(pk=made.json()["id"])
    from tenants.sealed import unseal

    assert unseal(channel.sealed_secrets) == {"routing_key": "rk-0123", "webhook_secret": PD_SECRET}
    short = client.patch(
        f"/api/v1/tenants/tenant-a/channels/{channel.pk}/",
        {"webhook_secret": "short"},
        format="json",
    )
    assert short.status_code == 400


# --- the whole loop ------------------------------------------------------------------------------
def test_the_portal_triggers_pagerduty_and_pagerdutys_acknowledgement_comes_back(
    live_server, two_tenants, settings
):
    """The sender triggers on the local PagerDuty receiver; the receiver's incident key comes
    back in a signed v3 webhook, as PagerDuty's would, and the portal's incident is
    acknowledged; the portal then tells PagerDuty so (acknowledge, same dedup key)."""
    world = two_tenants
    settings.WEBHOOK_ALLOW_PRIVATE = True
    pagerduty = Receiver()
    settings.PAGERDUTY_EVENTS_URL = f"{pagerduty.base}/v2/enqueue"
    pagerduty.answer(202)
    try:
        claims(world["analyst_a"])
        channel = channel_of(world["a"])
        with rls_bypass("test"):
            Subscription.objects.create(tenant=world["a"], channel=channel, events=[])
        incident = new_incident(world)
        delivery.deliver_batch()
        triggers = [r.json() for r in pagerduty.requests if r.json()["event_action"] == "trigger"]
        assert triggers, "the portal did not trigger PagerDuty"
        dedup_key = triggers[0]["dedup_key"]
        assert dedup_key == f"incident:{incident.pk}"

        status, answer = pd_post(live_server, channel, pd_event(dedup_key))

        assert (status, answer["status"]) == (200, "applied")
        assert fresh(incident).status == "acknowledged"
        delivery.deliver_batch()
        actions = [(r.json()["event_action"], r.json()["dedup_key"]) for r in pagerduty.requests]
        assert ("acknowledge", dedup_key) in actions
    finally:
        pagerduty.stop.set()
        pagerduty.server.shutdown()
        pagerduty.server.server_close()


def test_paging_rules_are_not_touched_by_inbound_events(live_server, two_tenants):
    """A page about another incident goes on: the event answers only its own incident."""
    world = two_tenants
    analyst = world["analyst_a"]
    claims(analyst)
    method = ContactMethod.objects.create(
        user=analyst, label="Mail", kind="email", target="a@x.example"
    )
    NotificationRule.objects.create(user=analyst, contact_method=method, delay_minutes=0)
    sms = ContactMethod.objects.create(
        user=analyst, label="Phone", kind="sms", target="+14155550100"
    )
    NotificationRule.objects.create(user=analyst, contact_method=sms, delay_minutes=30)
    channel = channel_of(world["a"])
    team = Team.objects.create(name="SOC (two incidents)", kind="mssp_tier")
    team.members.add(analyst)
    acked, other = new_incident(world), new_incident(world)
    with rls_bypass("test"):
        escalation_request(acked, direction="to_tier", actor=None, team=team)
        escalation_request(other, direction="to_tier", actor=None, team=team)
    assert pd_post(live_server, channel, pd_event(f"incident:{acked.pk}"))[0] == 200
    with rls_bypass("test"):
        states = {
            p.incident_id: p.status
            for p in Page.objects.for_tenant(world["a"]).filter(user=analyst)
        }
    assert states == {acked.pk: "answered", other.pk: "paging"}
    assert paging.sweep(timezone.now() + timedelta(minutes=1)) >= 0
