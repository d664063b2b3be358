"""The connectors API and settings pages: secrets given once and shown as a hint only, who may
see and change which connectors, hostile input refused with a clear 4xx, and "test
connection" answering a human message from a real (local) vendor API."""

from __future__ import annotations

import pytest

from connectors.models import Connector
from tenants.models import AuditEvent
from tenants.rls import rls_bypass, tenant_scope

from .conftest import VT_KEY, make_connector
from .receivers import Receiver

pytestmark = pytest.mark.django_db

URL = "/api/v1/connectors/"


def vt_body(base_url="", **extra):
    return {
        "tenant": "tenant-a",
        "kind": "virustotal",
        "name": "Acme VirusTotal",
        "base_url": base_url,
        "secrets": {"api_key": VT_KEY},
        **extra,
    }


def test_a_connectors_secret_is_given_once_and_never_shown(api, two_tenants, loopback, virustotal):
    virustotal.known["8.8.8.8"] = {"harmless": 60}
    admin = api(two_tenants["a_admin"])
    made = admin.post(URL, vt_body(f"{virustotal.base}/api/v3"), format="json")
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["secret_hint"] == "…cret" and body["purpose"] == "enrichment"
    assert "secrets" not in body and VT_KEY not in made.content.decode()
    for answer in (admin.get(URL), admin.get(f"{URL}{body['id']}/")):
        assert answer.status_code == 200 and VT_KEY not in answer.content.decode()
    tested = admin.post(f"{URL}{body['id']}/test/", {}, format="json")
    assert tested.status_code == 200
    assert tested.json()["last_test_ok"] is True
    assert tested.json()["last_test_message"] == "VirusTotal accepted the API key."
    calls = admin.get(f"{URL}{body['id']}/calls/")
    assert calls.status_code == 200 and calls.json()[0]["status"] == 200
    assert VT_KEY not in calls.content.decode()
    # a new key replaces the old; the last test then says nothing
    changed = admin.patch(
        f"{URL}{body['id']}/", {"secrets": {"api_key": "wrong-key-0000"}}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["last_test_ok"] is None
    failed = admin.post(f"{URL}{body['id']}/test/", {}, format="json").json()
    assert failed["last_test_ok"] is False and "credentials" in failed["last_test_message"]
    with rls_bypass("test"):
        row = Connector.objects.for_tenant(two_tenants["a"]).get(pk=body["id"])
        audit = list(
            AuditEvent.objects.for_tenant(two_tenants["a"])
            .filter(action__startswith="connector.")
            .values_list("action", "data")
        )
    assert VT_KEY not in row.sealed_secrets
    assert [a for a, _ in audit].count("connector.tested") == 2
    assert {"connector.created", "connector.updated"} <= {a for a, _ in audit}
    assert VT_KEY not in str(audit) and "wrong-key-0000" not in str(audit)


def test_garbage_and_silence_are_a_failed_test_never_a_500(api, two_tenants, loopback, settings):
    settings.CONNECTOR_TIMEOUT = 0.2
    settings.CONNECTOR_ATTEMPTS = 1
    admin = api(two_tenants["a_admin"])
    with Receiver(mode="garbage") as garbage, Receiver(mode="hang") as hanging:
        for name, base in (("garbage", garbage.base), ("hanging", hanging.base)):
            made = admin.post(URL, vt_body(base, name=name), format="json").json()
            tested = admin.post(f"{URL}{made['id']}/test/", {}, format="json")
            assert tested.status_code == 200 and tested.json()["last_test_ok"] is False
            assert tested.json()["last_test_message"]


def test_who_sees_and_who_changes_connectors(api, two_tenants, make_user):
    a, b = two_tenants["a"], two_tenants["b"]
    mine = make_connector(a, "abuseipdb", "", {"api_key": "a-key-123456789"})
    theirs = make_connector(b, "abuseipdb", "", {"api_key": "b-key-123456789"})
    lead = make_user(None, "lead", tenants=[a])
    # MSSP staff who see A and A's admins read A's connectors; nobody reads B's through A
    for who in ("a_admin", "analyst_a"):
        listed = api(two_tenants[who]).get(URL).json()["results"]
        assert [c["id"] for c in listed] == [str(mine.pk)]
        assert api(two_tenants[who]).get(f"{URL}{theirs.pk}/").status_code == 404
    # a customer's viewers and responders do not see connectors at all
    for who in ("a_viewer", "a_responder"):
        assert api(two_tenants[who]).get(URL).json()["results"] == []
        assert api(two_tenants[who]).get(f"{URL}{mine.pk}/").status_code == 404
    # changing: the customer's admins and MSSP leads and above, never an L1 analyst
    body = {"kind": "abuseipdb", "name": "x", "secrets": {"api_key": "k-123456789"}}
    analyst = api(two_tenants["analyst_a"])
    assert analyst.post(URL, {**body, "tenant": "tenant-a"}, format="json").status_code == 403
    assert api(lead).post(URL, {**body, "tenant": "tenant-a"}, format="json").status_code == 201
    assert (
        api(two_tenants["a_admin"]).post(URL, {**body, "name": "y"}, format="json").status_code
        == 201
    )
    # A's admin naming B: no such customer; B's connector by id: missing
    refused = api(two_tenants["a_admin"]).post(URL, {**body, "tenant": "tenant-b"}, format="json")
    assert refused.status_code == 400
    for method in ("patch", "delete"):
        answer = getattr(api(two_tenants["a_admin"]), method)(
            f"{URL}{theirs.pk}/", {}, format="json"
        )
        assert answer.status_code == 404
    assert api(two_tenants["a_admin"]).post(f"{URL}{theirs.pk}/test/").status_code == 404
    assert api(two_tenants["a_admin"]).get(f"{URL}{theirs.pk}/calls/").status_code == 404
    with rls_bypass("test"):
        assert Connector.objects.for_tenant(b).filter(pk=theirs.pk).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "telnet"}, "kind"),
        ({"base_url": "http://127.0.0.1:8000/"}, "base_url"),
        ({"base_url": "https://169.254.169.254/latest/"}, "base_url"),
        ({"base_url": "https://localhost/"}, "base_url"),
        ({"base_url": "file:///etc/passwd"}, "base_url"),
        ({"base_url": "https://user:pw@93.184.216.34/"}, "base_url"),
        ({"base_url": "http://93.184.216.34/"}, "base_url"),
        ({"options": {"evil": "1"}}, "options"),
        ({"options": {"rate_per_minute": "x" * 5000}}, "options"),
        ({"options": {"rate_per_minute": 0}}, "options"),
        ({"options": ["not", "an", "object"]}, "options"),
        ({"options": {"ca_certificate": "-----BEGIN CERTIFICATE-----\nnope"}}, "options"),
        ({"secrets": {"password": "x"}}, "secrets"),
        ({"secrets": {}}, "secrets"),
        ({"name": "   "}, "name"),
    ],
)
def test_hostile_connector_input_is_a_clear_400(api, two_tenants, change, field):
    answer = api(two_tenants["a_admin"]).post(URL, {**vt_body(), **change}, format="json")
    assert answer.status_code == 400, answer.content
    assert field in answer.content.decode()


def test_a_kind_without_a_default_address_needs_one_and_cannot_change_kind(api, two_tenants):
    admin = api(two_tenants["a_admin"])
    body = {"kind": "misp", "name": "MISP", "secrets": {"api_key": "misp-key-1234"}}
    assert admin.post(URL, body, format="json").status_code == 400
    made = admin.post(URL, {**body, "base_url": "https://misp.example.com"}, format="json")
    assert made.status_code == 201, made.content
    changed = admin.patch(f"{URL}{made.json()['id']}/", {"kind": "opencti"}, format="json")
    assert changed.status_code == 400
    duplicate = admin.post(URL, {**body, "base_url": "https://misp.example.com"}, format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.content.decode()


def test_the_settings_page_adds_tests_and_removes_a_connector(
    client, two_tenants, loopback, virustotal
):
    client.force_login(two_tenants["a_admin"])
    page = client.get("/settings/connectors/")
    assert page.status_code == 200 and b"Add a connector" in page.content
    form = client.get("/settings/connectors/new/?kind=virustotal")
    assert form.status_code == 200 and b'name="secret_api_key"' in form.content
    added = client.post(
        "/settings/connectors/new/?kind=virustotal",
        {
            "name": "VT",
            "base_url": f"{virustotal.base}/api/v3",
            "secret_api_key": VT_KEY,
            "is_enabled": "on",
        },
    )
    assert added.status_code == 302
    with tenant_scope([two_tenants["a"].pk]):
        connector = Connector.objects.for_tenant(two_tenants["a"]).get(name="VT")
    tested = client.post(f"/settings/connectors/{connector.pk}/test/", follow=True)
    assert b"VirusTotal accepted the API key." in tested.content
    assert VT_KEY.encode() not in tested.content
    edit = client.get(f"/settings/connectors/{connector.pk}/")
    assert edit.status_code == 200 and VT_KEY.encode() not in edit.content
    bad = client.post(
        "/settings/connectors/new/?kind=virustotal",
        {"name": "Bad", "base_url": "http://169.254.169.254/", "secret_api_key": "k"},
    )
    assert bad.status_code == 400
    # B's admin: A's connector does not exist for them
    client.force_login(two_tenants["b_admin"])
    assert client.get(f"/settings/connectors/{connector.pk}/").status_code == 404
    assert client.post(f"/settings/connectors/{connector.pk}/delete/").status_code == 404
    client.force_login(two_tenants["a_admin"])
    removed = client.post(f"/settings/connectors/{connector.pk}/delete/")
    assert removed.status_code == 302
    with tenant_scope([two_tenants["a"].pk]):
        assert not Connector.objects.for_tenant(two_tenants["a"]).filter(name="VT").exists()


def test_a_response_kinds_required_options_stay_required(api, two_tenants):
    admin = api(two_tenants["a_admin"])
    body = {
        "kind": "entra",
        "name": "Entra",
        "options": {"tenant_id": "contoso-guid", "client_id": "app-id"},
        "secrets": {"client_secret": "entra-secret-1234"},
    }
    assert (
        admin.post(URL, {**body, "options": {"tenant_id": "x"}}, format="json").status_code == 400
    )
    made = admin.post(URL, body, format="json")
    assert made.status_code == 201 and made.json()["base_url"] == ""
    cleared = admin.patch(f"{URL}{made.json()['id']}/", {"options": {}}, format="json")
    assert cleared.status_code == 400 and "client_id" in cleared.content.decode()


def test_changing_a_connector_in_a_session_needs_a_recent_second_factor(two_tenants, settings):
    from datetime import timedelta

    import time_machine
    from django.test import Client
    from django.utils import timezone

    from connectors.actions import CONNECTOR_CREATE, CONNECTOR_DELETE, CONNECTOR_UPDATE
    from tests.mfa import enrol, log_in

    assert all(a.step_up for a in (CONNECTOR_CREATE, CONNECTOR_UPDATE, CONNECTOR_DELETE))
    admin = two_tenants["a_admin"]
    enrol(admin)
    client = Client()
    log_in(client, admin)
    body = {"kind": "abuseipdb", "name": "Abuse", "secrets": {"api_key": "k-123456789"}}
    later = timezone.now() + timedelta(minutes=settings.STEP_UP_MINUTES + 1)
    with time_machine.travel(later):
        refused = client.post(URL, body, content_type="application/json")
        assert refused.status_code == 403 and refused.json()["error"] == "step_up_required"
        assert client.get(URL).status_code == 200  # reading is not dangerous


def test_an_mssp_admin_adds_a_customers_connector_on_its_settings_page(client, two_tenants):
    client.force_login(two_tenants["mssp_admin"])
    form = client.get("/settings/connectors/new/?kind=abuseipdb&tenant=tenant-b")
    assert form.status_code == 200
    assert b'action="/settings/connectors/new/?kind=abuseipdb&amp;tenant=tenant-b"' in form.content
    added = client.post(
        "/settings/connectors/new/?kind=abuseipdb&tenant=tenant-b",
        {"name": "B's AbuseIPDB", "secret_api_key": "b-abuse-key-123", "is_enabled": "on"},
    )
    assert added.status_code == 302 and added["Location"].endswith("?tenant=tenant-b")
    with tenant_scope([two_tenants["b"].pk]):
        assert Connector.objects.for_tenant(two_tenants["b"]).filter(kind="abuseipdb").exists()
    assert client.get("/settings/connectors/new/?kind=telnet&tenant=tenant-b").status_code == 404


def test_the_kinds_say_what_each_connector_needs(api, two_tenants):
    listed = api(two_tenants["a_viewer"]).get(f"{URL}kinds/")
    assert listed.status_code == 200
    kinds = {k["kind"]: k for k in listed.json()["kinds"]}
    assert set(kinds) == set(Connector.Kind.values)
    vt = kinds["virustotal"]
    assert vt["purpose"] == "enrichment" and vt["has_test"] is True
    assert [s["name"] for s in vt["secrets"]] == ["api_key"] and "ip" in vt["observable_types"]
    assert {"tenant_id", "client_id"} <= {o["name"] for o in kinds["entra"]["options"]}
