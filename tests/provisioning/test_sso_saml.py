"""Single sign-on through a real SAML 2.0 identity provider (tests/provisioning/saml_idp.py,
built with pysaml2, signing with xmlsec1) on 127.0.0.1: the portal's AuthnRequest (HTTP-Redirect
binding), the provider's signed response posted to the tenant's assertion consumer service, and
each refusal (a page that says why, and an audit entry in the right tenant)."""

from __future__ import annotations

import base64
import datetime
import html
from urllib.parse import parse_qsl, urlsplit

import pytest
import time_machine
from django.contrib.auth import get_user
from django.test import Client

from provisioning.models import GroupRoleMapping, IdentityProvider, SsoDomain
from tenants.models import AuditEvent, Membership, User
from tenants.rls import rls_bypass

from .saml_idp import TestSamlProvider, needs_xmlsec1

pytestmark = [pytest.mark.django_db, pytest.mark.password_only, needs_xmlsec1]


def configure(tenant, idp, domain, **fields):
    with rls_bypass("test fixture"):
        config = IdentityProvider.objects.create(
            tenant=tenant,
            kind="saml",
            issuer=idp.entity_id,
            metadata_xml=idp.metadata(),
            username_claim="urn:mace:dir:attribute-def:uid",  # as pysaml2 names them
            email_claim="urn:mace:dir:attribute-def:mail",
            groups_claim="memberOf",
            **fields,
        )
        SsoDomain.objects.create(tenant=tenant, domain=domain, verified_at=config.created_at)
    idp.add_sp(Client().get(f"/sso/saml/{config.provider_id}/metadata/").content)
    return config


@pytest.fixture
def idp():
    with TestSamlProvider() as provider:
        provider.add_user("alice", mail="alice@acme.test", memberOf=["SOC Responders"])
        yield provider


@pytest.fixture
def sso(two_tenants, idp):
    config = configure(two_tenants["a"], idp, "acme.test")
    with rls_bypass("test fixture"):
        GroupRoleMapping.objects.create(
            tenant=two_tenants["a"], group_name="SOC Responders", role="responder"
        )
    return {"config": config, **two_tenants}


def onward(started) -> str:
    assert started.status_code == 200 and b'id="sso-continue"' in started.content, started.content
    url = started["Refresh"].split("url=", 1)[1]
    assert f'href="{html.escape(url)}"' in started.content.decode()
    return url


def post_to_acs(client, acs, fields):
    handed = client.post(acs.replace("http://testserver", ""), fields)
    assert handed.status_code == 302, handed.content
    return client.get(handed["Location"])


def sign_in(client, idp, user="alice", email="alice@acme.test"):
    acs, fields = idp.sign_in(onward(client.post("/login/sso/", {"email": email})), user)
    return post_to_acs(client, acs, fields), (acs, fields)


def entries(tenant, action):
    with rls_bypass("test"):
        return list(AuditEvent.objects.for_tenant(tenant).filter(action=action).order_by("id"))


def refused(response, tenant, reason):
    assert response.status_code == 403, response.content
    assert b"Single sign-on refused" in response.content
    rows = [e for e in entries(tenant, "auth.sso_refused") if e.data["reason"] == reason]
    assert rows, [e.data for e in entries(tenant, "auth.sso_refused")]
    return response.content.decode()


def member_of(tenant, username):
    with rls_bypass("test"):
        return (
            Membership.objects.for_tenant(tenant)
            .select_related("user")
            .filter(user__username=username)
            .first()
        )


def test_first_sign_in_makes_a_member_with_the_mapped_role_and_later_ones_follow_groups(sso, idp):
    config = sso["config"]
    metadata = Client().get(f"/sso/saml/{config.provider_id}/metadata/")
    assert metadata.status_code == 200 and metadata["Content-Type"].startswith(
        "application/samlmetadata+xml"
    )
    text = metadata.content.decode()
    assert f'entityID="http://testserver/sso/saml/{config.provider_id}/metadata/"' in text
    assert f'Location="http://testserver/sso/saml/{config.provider_id}/acs/"' in text

    client = Client()
    answer, _ = sign_in(client, idp)
    assert answer.status_code == 302, answer.content
    user = get_user(client)
    assert user.is_authenticated and user.username == "tenant-a/alice"
    assert user.email == "alice@acme.test" and not user.is_mssp_staff
    assert not user.has_usable_password()
    assert member_of(sso["a"], "tenant-a/alice").role == "responder"
    assert idp.requests[-1]["force_authn"] in (None, "false")
    login = entries(sso["a"], "auth.sso_login")[-1]
    assert login.data["new_member"] is True and login.actor_id == user.pk
    assert login.data["subject"] == "persistent-alice"  # the NameID

    idp.users["alice"]["attributes"]["memberOf"] = ["Everyone"]
    again = Client()
    answer, _ = sign_in(again, idp)
    assert answer.status_code == 302 and get_user(again).pk == user.pk
    assert member_of(sso["a"], "tenant-a/alice").role == "viewer"


def tampered(fields, old: bytes, new: bytes):
    xml = base64.b64decode(fields["SAMLResponse"])
    assert old in xml
    return {**fields, "SAMLResponse": base64.b64encode(xml.replace(old, new)).decode()}


@pytest.mark.parametrize(
    ("tamper", "reason", "says"),
    [
        ({"sp_entity_id": "https://other.example/sp"}, "wrong_audience", "another application"),
        ({"issuer": "https://evil.example/idp"}, "wrong_issuer", "does not use"),
        ({"sign_assertion": False}, "unsigned", "not signed"),
        ({"sign_assertion": False, "sign_response": True}, "unsigned", "not signed"),
        ("wrong key", "bad_signature", "not validly signed"),
        ("edited", "bad_signature", "not validly signed"),
        ("expired", "expired", "expired"),
    ],
)
def test_a_bad_response_is_refused_with_a_page_and_an_audit_entry(sso, idp, tamper, reason, says):
    client = Client()
    if tamper == "wrong key":
        idp.sign_with_wrong_key = True
    elif isinstance(tamper, dict):
        idp.tamper = tamper
    acs, fields = idp.sign_in(
        onward(client.post("/login/sso/", {"email": "alice@acme.test"})), "alice"
    )
    if tamper == "edited":  # the signed assertion, changed after signing
        fields = tampered(fields, b"alice@acme.test", b"mallory@acme.test")
    if tamper == "expired":  # the portal's clock an hour after the assertion's end
        with time_machine.travel(datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)):
            answer = post_to_acs(client, acs, fields)
    else:
        answer = post_to_acs(client, acs, fields)
    assert says in refused(answer, sso["a"], reason)
    assert not get_user(client).is_authenticated
    assert member_of(sso["a"], "tenant-a/alice") is None


def test_the_same_assertion_twice_is_refused_as_replayed(sso, idp):
    client = Client()
    answer, (acs, fields) = sign_in(client, idp)
    assert answer.status_code == 302
    for replay in (client, Client()):
        says = refused(post_to_acs(replay, acs, fields), sso["a"], "replayed")
        assert "used already" in says
    assert len(entries(sso["a"], "auth.sso_login")) == 1


def test_an_answer_not_started_here_and_a_hostile_body_are_refused(sso, idp):
    client = Client()
    acs, fields = idp.sign_in(
        onward(client.post("/login/sso/", {"email": "alice@acme.test"})), "alice"
    )
    refused(post_to_acs(Client(), acs, fields), sso["a"], "state")  # another browser
    path = acs.replace("http://testserver", "")
    refused(
        post_to_acs(Client(), path, {"SAMLResponse": "not base64 at all"}),
        sso["a"],
        "invalid_assertion",
    )
    refused(
        post_to_acs(Client(), path, {"SAMLResponse": base64.b64encode(b"<x>&lt;</x>").decode()}),
        sso["a"],
        "invalid_assertion",
    )
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>'
    )
    refused(
        post_to_acs(Client(), path, {"SAMLResponse": base64.b64encode(bomb).decode()}),
        sso["a"],
        "invalid_assertion",
    )
    empty = post_to_acs(Client(), path, {})
    assert empty.status_code == 400 and b"not a valid SAML response" in empty.content
    assert Client().get(path).status_code == 405
    finish = Client().get(path + "finish/")  # no response handed over
    refused(finish, sso["a"], "state")
    assert Client().post("/sso/saml/sso-not-a-uuid/acs/", {}).status_code == 404
    assert Client().get(f"/sso/saml/sso-{sso['config'].pk.hex[:8]}/metadata/").status_code == 404


def test_tenant_b_identity_provider_never_signs_in_to_tenant_a(sso, idp):
    with TestSamlProvider() as idp_b:
        idp_b.add_user("alice", mail="alice@beta.test")
        config_b = configure(sso["b"], idp_b, "beta.test")
        # B's IdP answers A's request (its user posts B's assertion to A's ACS)
        client = Client()
        url = onward(client.post("/login/sso/", {"email": "alice@acme.test"}))
        idp_b.add_sp(Client().get(f"/sso/saml/{sso['config'].provider_id}/metadata/").content)
        acs, fields = idp_b.respond(dict(parse_qsl(urlsplit(url).query)), "alice", sent_to=idp)
        assert acs.endswith(f"/sso/saml/{sso['config'].provider_id}/acs/")
        says = refused(post_to_acs(client, acs, fields), sso["a"], "wrong_issuer")
        assert "does not use" in says
        # A's valid assertion, posted to B's ACS: for A's SP, not B's
        client = Client()
        acs, fields = idp.sign_in(
            onward(client.post("/login/sso/", {"email": "alice@acme.test"})), "alice"
        )
        to_b = acs.replace(sso["config"].provider_id, config_b.provider_id)
        refused(post_to_acs(client, to_b, fields), sso["b"], "wrong_destination")
    assert not get_user(client).is_authenticated
    with rls_bypass("test"):
        assert (
            not Membership.objects.for_tenant(sso["b"])
            .filter(user__username__endswith="alice")
            .exists()
        )
    # A's IdP naming an MSSP admin: a member of tenant A by that name, never the staff account
    staff = sso["mssp_admin"].username
    idp.add_user(staff, mail=f"{staff}@acme.test")
    client = Client()
    answer, _ = sign_in(client, idp, user=staff)
    user = get_user(client)
    assert user.username == f"tenant-a/{staff}" and not user.is_mssp_staff
    assert User.objects.get(pk=sso["mssp_admin"].pk).is_mssp_staff


def test_a_disabled_saml_provider_refuses_and_sso_only_refuses_passwords(sso, idp):
    client = Client()
    acs, fields = idp.sign_in(
        onward(client.post("/login/sso/", {"email": "alice@acme.test"})), "alice"
    )
    with rls_bypass("test"):
        IdentityProvider.objects.for_tenant(sso["a"]).update(enabled=False)
    refused(post_to_acs(client, acs, fields), sso["a"], "sso_disabled")
    with rls_bypass("test"):
        IdentityProvider.objects.for_tenant(sso["a"]).update(enabled=True, sso_only=True)
    page = Client().post(
        "/login/", {"username": sso["a_admin"].username, "password": "correct-horse-battery"}
    )
    assert "single sign-on only" in page.content.decode()


def test_an_idp_initiated_response_is_refused_as_unsolicited(sso, idp):
    client = Client()
    url = onward(client.post("/login/sso/", {"email": "alice@acme.test"}))
    idp.tamper = {"in_response_to": None}  # validly signed, but answering no request of ours
    acs, fields = idp.sign_in(url, "alice")
    says = refused(post_to_acs(client, acs, fields), sso["a"], "unsolicited")
    assert "not started on the portal" in says
    assert not get_user(client).is_authenticated
