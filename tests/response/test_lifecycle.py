"""Response actions end to end through the API, against a local Defender over real HTTP: the
contract's modes (pre-approved runs at once, needs approval waits for the customer's yes and
escalates then expires on its clock, never refuses), one run per idempotency key, reversal and
what is in force, the customer's own team acting, and a vendor that hangs, fails or answers
garbage."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from alerts.models import ContainmentAction, IncidentEvent
from response import services
from tenants.models import AuditEvent
from tenants.rls import rls_bypass

from .conftest import rows, set_mode
from .receivers import CLIENT_SECRET, MACHINE

pytestmark = pytest.mark.django_db

HOST = "ws-042.contoso.local"


def request_isolation(api, user, w, *, key=None, incident=None, connector=None, target=HOST):
    body = {
        "connector": str((connector or w["a_defender"]).pk),
        "action": "isolate_host",
        "target": target,
        "reason": "ransomware on the host",
    }
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api(user).post(
        f"/api/v1/incidents/{(incident or w['a_incident']).pk}/actions/",
        body,
        format="json",
        **headers,
    )


def audit_actions(tenant) -> list[str]:
    with rls_bypass("test assertion"):
        return list(
            AuditEvent.objects.dangerously_unscoped("t")
            .filter(tenant=tenant, action__startswith="response.")
            .order_by("at")
            .values_list("action", flat=True)
        )


def isolations(receiver) -> list:
    return [s for s in receiver.seen if s.path.endswith("/isolate")]


def test_pre_approved_isolation_runs_at_once_and_is_in_force(
    world, api, django_capture_on_commit_callbacks
):
    w = world
    set_mode(w["a"], "isolate_host", "pre_approved")
    with django_capture_on_commit_callbacks(execute=True):
        answer = request_isolation(api, w["analyst_a"], w)
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["status"] == "pending" or body["status"] in ("approved", "succeeded")
    (row,) = rows(tenant=w["a"])
    assert row.status == "succeeded", row.result_message
    assert row.result_data["machine_id"] == MACHINE and row.in_force
    # the documented calls: a token by client credentials, the device by name, the isolation
    token, search, isolate = w["defender"].seen
    assert token.path.endswith("/oauth2/v2.0/token")
    assert search.query["$filter"] == [f"computerDnsName eq '{HOST}'"]
    assert isolate.path == f"/api/machines/{MACHINE}/isolate"
    assert isolate.json()["IsolationType"] == "Full" and MACHINE in w["defender"].isolated
    assert audit_actions(w["a"]) == [
        "response.requested",
        "response.approved",
        "response.run",
        "response.succeeded",
    ]
    with rls_bypass("test assertion"):
        record = ContainmentAction.objects.dangerously_unscoped("t").get(tenant=w["a"])
        timeline = IncidentEvent.objects.dangerously_unscoped("t").filter(
            incident=w["a_incident"], kind="response_action"
        )
        assert record.result == "succeeded" and record.target == HOST
        assert timeline.count() == 4
        # every request of the run is on the timeline (connectors.http's log, redacted)
        calls = timeline.order_by("at").last().data["calls"]
        assert [(c["method"], c["status"]) for c in calls] == [
            ("POST", 200),
            ("GET", 200),
            ("POST", 201),
        ]
        assert not any(CLIENT_SECRET in json.dumps(e.data) for e in timeline)
    # the kind's "test connection" (connectors.kinds), through the same client
    from connectors import kinds
    from connectors.http import ConnectorClient

    said = kinds.spec("defender").test(ConnectorClient(w["a_defender"], purpose="test"))
    assert said.startswith("Signed in")
    listed = api(w["a_viewer"]).get(f"/api/v1/incidents/{w['a_incident'].pk}/actions/").json()
    assert [(r["action"], r["in_force"], r["in_force_words"]) for r in listed] == [
        ("isolate_host", True, "host isolated")
    ]


def test_needs_approval_waits_for_the_customers_yes_and_a_viewer_cannot_give_it(
    world, api, django_capture_on_commit_callbacks
):
    w = world  # no policy row: the default, needs approval
    with django_capture_on_commit_callbacks(execute=True):
        first = request_isolation(api, w["analyst_a"], w).json()
    assert first["status"] == "awaiting_approval" and first["respond_by"]
    assert not isolations(w["defender"])
    approve = f"/api/v1/actions/{first['id']}/approve/"
    assert api(w["a_viewer"]).post(approve, {}, format="json").status_code == 403
    assert api(w["analyst_a"]).post(approve, {}, format="json").status_code == 403  # the MSSP
    with django_capture_on_commit_callbacks(execute=True):
        answer = api(w["a_responder"]).post(approve, {"note": "go"}, format="json")
    assert answer.status_code == 200
    (row,) = rows(tenant=w["a"])
    assert row.status == "succeeded" and row.decided_by == w["a_responder"]
    assert len(isolations(w["defender"])) == 1
    # answered once: a second answer is a conflict, never a second run
    assert api(w["a_admin"]).post(approve, {}, format="json").status_code == 409


def test_a_rejected_action_never_runs(world, api, django_capture_on_commit_callbacks):
    w = world
    first = request_isolation(api, w["analyst_a"], w).json()
    reject = f"/api/v1/actions/{first['id']}/reject/"
    assert api(w["a_admin"]).post(reject, {}, format="json").status_code == 400  # a reason
    with django_capture_on_commit_callbacks(execute=True):
        answer = api(w["a_admin"]).post(reject, {"reason": "a server, not a laptop"}, format="json")
    assert answer.json()["status"] == "rejected"
    assert not isolations(w["defender"]) and "response.rejected" in audit_actions(w["a"])


def test_the_approval_clock_escalates_then_expires_without_running(
    world, api, django_capture_on_commit_callbacks
):
    w = world
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = request_isolation(api, w["analyst_a"], w).json()
    (row,) = rows(tenant=w["a"])
    assert row.respond_by == start + timedelta(minutes=15) and row.escalation_step == 0
    with time_machine.travel(start + timedelta(minutes=14), tick=False):
        assert services.sweep() == 0
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        assert services.sweep() == 1
    (row,) = rows(tenant=w["a"])
    assert row.status == "awaiting_approval" and row.escalation_step == 1
    assert row.respond_by == start + timedelta(minutes=31)
    with time_machine.travel(start + timedelta(minutes=32), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert services.sweep() == 1
    (row,) = rows(tenant=w["a"])
    assert row.status == "expired" and not isolations(w["defender"])
    assert audit_actions(w["a"])[-2:] == ["response.escalated", "response.expired"]
    answer = api(w["a_admin"]).post(f"/api/v1/actions/{first['id']}/approve/", {}, format="json")
    assert answer.status_code == 409


def test_a_contract_that_never_allows_an_action_refuses_it(world, api):
    set_mode(world["a"], "isolate_host", "never")
    answer = request_isolation(api, world["analyst_a"], world)
    assert answer.status_code == 403 and "never" in answer.json()["detail"]
    assert rows(tenant=world["a"]) == []


def test_the_same_request_twice_runs_once(world, api, django_capture_on_commit_callbacks):
    w = world
    set_mode(w["a"], "isolate_host", "pre_approved")
    with django_capture_on_commit_callbacks(execute=True):
        first = request_isolation(api, w["analyst_a"], w, key="retry-1")
        again = request_isolation(api, w["analyst_a"], w, key="retry-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert len(rows(tenant=w["a"])) == 1 and len(isolations(w["defender"])) == 1
    # the key names one request: another incident's with it is a conflict
    other = api(w["analyst_a"]).post(
        f"/api/v1/incidents/{w['a_incident'].pk}/actions/",
        {"connector": str(w["a_webhook"].pk), "action": "block_address", "target": "203.0.113.9"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="retry-1",
    )
    assert other.status_code == 409


def test_reversing_an_isolation_releases_the_host_and_lifts_it(
    world, api, django_capture_on_commit_callbacks
):
    w = world
    set_mode(w["a"], "isolate_host", "pre_approved")
    set_mode(w["a"], "release_host", "pre_approved")
    with django_capture_on_commit_callbacks(execute=True):
        first = request_isolation(api, w["analyst_a"], w).json()
    with django_capture_on_commit_callbacks(execute=True):
        answer = api(w["analyst_a"]).post(
            f"/api/v1/actions/{first['id']}/reverse/", {}, format="json"
        )
    assert answer.status_code == 201
    assert answer.json()["action"] == "release_host" and answer.json()["reverses"] == first["id"]
    assert w["defender"].seen[-1].path == f"/api/machines/{MACHINE}/unisolate"
    assert MACHINE not in w["defender"].isolated
    isolation, release = rows(tenant=w["a"])
    assert isolation.lifted_at is not None and not isolation.in_force
    assert release.status == "succeeded"
    again = api(w["analyst_a"]).post(f"/api/v1/actions/{first['id']}/reverse/", {}, format="json")
    assert again.status_code == 409


def test_a_hybrid_customers_responder_acts_without_waiting_an_outsourced_ones_cannot(
    world, api, django_capture_on_commit_callbacks
):
    w = world
    with django_capture_on_commit_callbacks(execute=True):
        answer = request_isolation(api, w["a_responder"], w)
    assert answer.status_code == 201
    (row,) = rows(tenant=w["a"])
    assert row.by_customer and row.status == "succeeded" and row.mode == "needs_approval"
    assert request_isolation(api, w["a_viewer"], w).status_code == 403
    w["a"].service_model = "outsourced"
    w["a"].save()
    assert request_isolation(api, w["a_admin"], w, target="ws-9").status_code == 403


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("hang", "did not answer in time"),
        ("500", "server error"),
        ("garbage", "not JSON"),
    ],
)
def test_a_vendor_that_hangs_fails_or_answers_garbage_fails_the_action_clearly(
    world, api, django_capture_on_commit_callbacks, mode, said
):
    w = world
    set_mode(w["a"], "isolate_host", "pre_approved")
    w["defender"].mode = mode
    with django_capture_on_commit_callbacks(execute=True):
        answer = request_isolation(api, w["analyst_a"], w)
    assert answer.status_code == 201
    (row,) = rows(tenant=w["a"])
    assert row.status == "failed" and said in row.result_message, row.result_message
    assert not row.in_force and audit_actions(w["a"])[-1] == "response.failed"
    with rls_bypass("test assertion"):
        assert not ContainmentAction.objects.dangerously_unscoped("t").filter(tenant=w["a"])


def test_the_customers_channels_hear_of_the_approval_asked_and_the_result(
    world, api, django_capture_on_commit_callbacks
):
    from notifications.models import Channel, Delivery, Subscription

    w = world
    with rls_bypass("test fixture"):
        channel = Channel.objects.create(
            tenant=w["a"], name="SOC mailbox", kind="email", target="soc@a.example"
        )
        Subscription.objects.create(
            tenant=w["a"],
            channel=channel,
            events=["action.approval_requested", "action.completed"],
        )
    first = request_isolation(api, w["analyst_a"], w).json()
    with django_capture_on_commit_callbacks(execute=True):
        api(w["a_admin"]).post(
            f"/api/v1/actions/{first['id']}/reject/", {"reason": "not that one"}, format="json"
        )
    with rls_bypass("test assertion"):
        told = list(
            Delivery.objects.dangerously_unscoped("t")
            .filter(tenant=w["a"], channel=channel)
            .order_by("created_at")
            .values_list("event_type", "title")
        )
    assert [event for event, _ in told] == ["action.approval_requested", "action.completed"]
    assert told[0][1].startswith(f"Your approval is needed: response action on {HOST[:20]}")
    assert w["a_incident"].title in told[0][1]


def test_a_lost_task_is_sent_again_and_a_dead_run_is_failed_never_run_twice(
    world, api, django_capture_on_commit_callbacks
):
    w = world
    set_mode(w["a"], "isolate_host", "pre_approved")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = request_isolation(api, w["analyst_a"], w).json()  # its task never ran (lost)
    assert rows(tenant=w["a"])[0].status == "approved"
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            services.sweep()
    assert rows(tenant=w["a"])[0].status == "succeeded"
    assert services.run_action(w["a"].pk, first["id"]) == "not approved"  # a duplicate task
    assert len(isolations(w["defender"])) == 1
    with rls_bypass("test fixture"):  # a worker died mid-run
        rows(tenant=w["a"])[0].__class__.objects.dangerously_unscoped("t").filter(
            pk=first["id"]
        ).update(status="running", started_at=start)
    with time_machine.travel(start + timedelta(minutes=11), tick=False):
        services.sweep()
    (row,) = rows(tenant=w["a"])
    assert row.status == "failed" and "check the tool" in row.result_message


def test_the_approvers_are_paged_until_one_answers(world, api, django_capture_on_commit_callbacks):
    from notifications.models import Page

    w = world
    first = request_isolation(api, w["analyst_a"], w).json()
    with rls_bypass("test assertion"):
        pages = Page.objects.dangerously_unscoped("t").filter(tenant=w["a"])
        # no one on call: every responder and admin of the customer, never its viewer or staff
        assert {p.user for p in pages} == {w["a_responder"], w["a_admin"]}
        # each told at once by their first rule (here the fallback: one e-mail, then done)
        assert {p.status for p in pages} <= {"paging", "exhausted"} and pages.count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        api(w["a_responder"]).post(f"/api/v1/actions/{first['id']}/approve/", {}, format="json")
    with rls_bypass("test assertion"):
        assert {p.status for p in pages.all()} == {"answered"}


def test_the_customers_on_call_is_asked_first_then_every_responder(world, api):
    from oncall.models import Layer, Schedule
    from tenants.models import Team

    w = world
    with rls_bypass("test fixture"):  # A's in-house team: its responder on call, every day
        team = Team.objects.dangerously_unscoped("t").get(tenant=w["a"], kind="in_house")
        schedule = Schedule.objects.create(team=team, name="A on call", time_zone="UTC")
        Layer.objects.create(
            schedule=schedule,
            position=0,
            participants=[w["a_responder"].pk],
            rotation="daily",
            rotation_start=timezone.now() - timedelta(days=2),
        )
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        request_isolation(api, w["analyst_a"], w)
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        services.sweep()
    with rls_bypass("test assertion"):
        asked = [
            e.data["approvers"]
            for e in IncidentEvent.objects.dangerously_unscoped("t")
            .filter(incident=w["a_incident"], kind="response_action", data__has_key="approvers")
            .order_by("at")
        ]
    assert asked[0] == [w["a_responder"].pk]  # on call now
    assert set(asked[1]) == {w["a_responder"].pk, w["a_admin"].pk}  # unanswered: everyone
