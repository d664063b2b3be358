"""Verifying a claimed e-mail domain by DNS: the claim's TXT record `_mssp-verify.<domain>`,
looked up with dnspython on a real DNS server in the suite (tests/provisioning/dns_server.py,
dnslib's, via SSO_DNS_NAMESERVERS) when the tenant's admin presses "Check DNS" (API and page)
and by the periodic re-check; the MSSP admin's manual verification stays as an override."""

from __future__ import annotations

import pytest
from django.test import Client

from provisioning.models import SsoDomain
from provisioning.tasks import recheck_pending_domains
from tenants.models import AuditEvent
from tenants.rls import rls_bypass

from .dns_server import TestDnsServer

pytestmark = pytest.mark.django_db

URL = "/api/v1/tenants/tenant-a/sso-domains/"


@pytest.fixture
def dns(settings):
    with TestDnsServer() as server:
        settings.SSO_DNS_NAMESERVERS = f"127.0.0.1:{server.port}"
        yield server


def verified_entries(tenant):
    with rls_bypass("test"):
        return list(
            AuditEvent.objects.for_tenant(tenant)
            .filter(action="sso.domain_verified")
            .order_by("id")
        )


def test_a_claim_is_verified_by_its_txt_record_and_not_by_another(two_tenants, api, dns):
    a = api(two_tenants["a_admin"])
    claim = a.post(URL, {"domain": "acme.test"}, format="json").json()
    assert claim["verified"] is False
    assert claim["verification_record"] == "_mssp-verify.acme.test"
    value = claim["verification_value"]
    assert value.startswith("mssp-verify=") and len(value) > 30
    check = f"{URL}{claim['id']}/check/"

    missing = a.post(check)  # nothing published yet
    assert missing.status_code == 400 and "_mssp-verify.acme.test" in missing.json()["detail"]
    assert "_mssp-verify.acme.test" in dns.questions
    dns.records["_mssp-verify.acme.test"] = ["mssp-verify=someone-elses-token", "v=spf1 -all"]
    assert a.post(check).status_code == 400  # another claim's token proves nothing
    dns.records["_mssp-verify.acme.test"].append(value)
    done = a.post(check)
    assert done.status_code == 200, done.content
    body = done.json()
    assert body["verified"] is True and body["verified_method"] == "dns"
    assert verified_entries(two_tenants["a"])[-1].data == {"domain": "acme.test", "method": "dns"}
    assert a.post(check).status_code == 409  # verified already
    # tenant B's admin cannot check A's claim (404), nor its own route with A's id
    b = api(two_tenants["b_admin"])
    assert b.post(f"/api/v1/tenants/tenant-b/sso-domains/{claim['id']}/check/").status_code == 404
    assert b.post(check).status_code == 404
    assert api(two_tenants["a_viewer"]).post(check).status_code == 403


def test_an_unanswering_resolver_is_a_503_and_the_periodic_recheck_verifies_later(
    two_tenants, api, dns
):
    a = api(two_tenants["a_admin"])
    claim = a.post(URL, {"domain": "acme.test"}, format="json").json()
    other = api(two_tenants["b_admin"]).post(
        "/api/v1/tenants/tenant-b/sso-domains/", {"domain": "beta.test"}, format="json"
    )
    dns.down = True
    down = a.post(f"{URL}{claim['id']}/check/")
    assert down.status_code == 503 and "try again" in down.json()["detail"].lower()
    assert recheck_pending_domains() == 0  # no answer: nothing changes, nothing fails
    dns.down = False
    assert recheck_pending_domains() == 0  # nothing published
    dns.records["_mssp-verify.acme.test"] = [claim["verification_value"]]
    # B publishes A's token for its own domain: proves nothing for B's claim
    dns.records["_mssp-verify.beta.test"] = [claim["verification_value"]]
    assert recheck_pending_domains() == 1
    with rls_bypass("test"):
        a_claim = SsoDomain.objects.for_tenant(two_tenants["a"]).get(domain="acme.test")
        b_claim = SsoDomain.objects.for_tenant(two_tenants["b"]).get(pk=other.json()["id"])
    assert a_claim.verified and a_claim.verified_method == "dns" and a_claim.verified_by is None
    assert not b_claim.verified and b_claim.dns_checked_at is not None


def test_the_settings_page_shows_the_record_and_checks_it_and_mssp_admins_still_override(
    two_tenants, api, dns
):
    client = Client()
    client.force_login(two_tenants["a_admin"])
    assert client.post("/settings/sso/domains/", {"domain": "acme.test"}).status_code == 302
    with rls_bypass("test"):
        claim = SsoDomain.objects.for_tenant(two_tenants["a"]).get()
    page = client.get("/settings/sso/").content.decode()
    assert "_mssp-verify.acme.test" in page and f"mssp-verify={claim.verification_token}" in page
    assert "Check DNS for acme.test" in page
    dns.records["_mssp-verify.acme.test"] = [f"mssp-verify={claim.verification_token}"]
    checked = client.post(f"/settings/sso/domains/{claim.pk}/check/")
    assert checked.status_code == 302
    assert "Verified" in client.get("/settings/sso/").content.decode()
    assert client.get(f"/settings/sso/domains/{claim.pk}/check/").status_code == 404
    # the manual override: an MSSP admin verifies a claim whose DNS says nothing
    pending = api(two_tenants["b_admin"]).post(
        "/api/v1/tenants/tenant-b/sso-domains/", {"domain": "beta.test"}, format="json"
    )
    verified = api(two_tenants["mssp_admin"]).post(
        f"/api/v1/tenants/tenant-b/sso-domains/{pending.json()['id']}/verify/"
    )
    assert verified.status_code == 200 and verified.json()["verified_method"] == "manual"
