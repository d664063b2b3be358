"""Single sign-on in a real browser: a customer's user enters their work address on the login
page, signs in on their organisation's OpenID Connect provider (a real one, authlib's, on
127.0.0.1: tests/provisioning/oidc_idp.py; or a SAML 2.0 IdP, pysaml2's), and comes back
signed in as a new member of that tenant with the role its groups map to — through the portal's
own redirects and its CSP."""

from __future__ import annotations

from urllib.parse import urlparse

import httpx

from provisioning.models import GroupRoleMapping, IdentityProvider, SsoDomain
from tenants import sealed
from tenants.models import Membership
from tenants.rls import rls_bypass
from tests.browser.support import header_user
from tests.live import running_daphne
from tests.provisioning.oidc_idp import TestProvider
from tests.provisioning.saml_idp import TestSamlProvider, needs_xmlsec1


def test_a_customer_signs_in_through_its_identity_provider(
    two_tenants, new_page, screenshot, live_portal
):
    a = two_tenants["a"]
    with TestProvider() as idp:
        idp.add_user("alice", email="alice@acme.test", groups=["SOC Responders"])
        with rls_bypass("browser test fixture: tenant A's single sign-on"):
            IdentityProvider.objects.create(
                tenant=a,
                issuer=idp.issuer,
                client_id=idp.client.client_id,
                sealed_secrets=sealed.seal({"client_secret": idp.client.client_secret}),
            )
            SsoDomain.objects.create(tenant=a, domain="acme.test", verified_at=a.created_at)
            GroupRoleMapping.objects.create(tenant=a, group_name="SOC Responders", role="responder")
        # A portal of its own that may reach a provider on loopback (a deployment's would
        # refuse it: the SSRF guard, WEBHOOK_ALLOW_PRIVATE).
        with running_daphne(live_portal.log_dir, WEBHOOK_ALLOW_PRIVATE="1") as portal:
            page = new_page(f"{portal}/login/")
            page.get_by_role("link", name="Sign in with single sign-on").click()
            page.get_by_label("Work e-mail address").fill("alice@acme.test")
            screenshot(page, "email")
            page.get_by_role("button", name="Continue").click()
            page.wait_for_url(f"{idp.issuer}/authorize*")
            page.fill("#idp-user", "alice")
            page.fill("#idp-password", "idp-password")
            with page.expect_navigation(url=f"{portal}/**"):
                page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state("load")
            assert urlparse(page.url).netloc == urlparse(portal).netloc
            assert "/login" not in page.url, page.url
            assert header_user(page) == "tenant-a/alice"
            screenshot(page, "signed-in")
    with rls_bypass("test"):
        membership = Membership.objects.for_tenant(a).get(user__username="tenant-a/alice")
    assert membership.role == "responder"


@needs_xmlsec1
def test_a_customer_signs_in_through_its_saml_identity_provider(
    two_tenants, new_page, screenshot, live_portal
):
    """The same, with a SAML 2.0 IdP (pysaml2's, tests/provisioning/saml_idp.py): the portal's
    AuthnRequest by redirect, the IdP's signed response posted back by the IdP's own page."""
    a = two_tenants["a"]
    with TestSamlProvider() as idp:
        idp.add_user("alice", mail="alice@acme.test", memberOf=["SOC Responders"])
        with rls_bypass("browser test fixture: tenant A's SAML single sign-on"):
            config = IdentityProvider.objects.create(
                tenant=a,
                kind="saml",
                issuer=idp.entity_id,
                metadata_xml=idp.metadata(),
                username_claim="urn:mace:dir:attribute-def:uid",
                email_claim="urn:mace:dir:attribute-def:mail",
                groups_claim="memberOf",
            )
            SsoDomain.objects.create(tenant=a, domain="acme.test", verified_at=a.created_at)
            GroupRoleMapping.objects.create(tenant=a, group_name="SOC Responders", role="responder")
        portal = live_portal.url
        idp.add_sp(httpx.get(f"{portal}/sso/saml/{config.provider_id}/metadata/").content)
        page = new_page(f"{portal}/login/")
        page.get_by_role("link", name="Sign in with single sign-on").click()
        page.get_by_label("Work e-mail address").fill("alice@acme.test")
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(f"{idp.base}/sso*")
        page.fill("#idp-user", "alice")
        page.fill("#idp-password", "idp-password")
        screenshot(page, "saml-idp")
        with page.expect_navigation(url=f"{portal}/**"):
            page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("load")
        assert urlparse(page.url).netloc == urlparse(portal).netloc
        assert "/login" not in page.url and "/sso/" not in page.url, page.url
        assert header_user(page) == "tenant-a/alice"
        screenshot(page, "saml-signed-in")
    with rls_bypass("test"):
        membership = Membership.objects.for_tenant(a).get(user__username="tenant-a/alice")
    assert membership.role == "responder"
