"""The MSSP's own single sign-on in a real browser: a new analyst enters their work address,
signs in at the MSSP's OpenID Connect provider (authlib's, on 127.0.0.1), comes back as a new
staff account with the role their group maps to, and is held at second-factor enrolment (the
safe default: the portal's own factor after the IdP) before any customer data."""

from __future__ import annotations

from provisioning.models import IdentityProvider, SsoDomain, StaffGroupRoleMapping
from tenants import sealed
from tenants.models import User
from tenants.rls import rls_bypass
from tests.live import running_daphne
from tests.provisioning.oidc_idp import TestProvider


def test_a_new_analyst_signs_in_through_the_mssps_provider_and_must_enrol(
    two_tenants, new_page, screenshot, live_portal
):
    with TestProvider() as idp:
        idp.add_user("nina", email="nina@mssp.test", groups=["SOC L2"])
        with rls_bypass("browser test fixture: the MSSP's single sign-on"):
            config = IdentityProvider.objects.create(
                tenant=None,
                issuer=idp.issuer,
                client_id=idp.client.client_id,
                sealed_secrets=sealed.seal({"client_secret": idp.client.client_secret}),
            )
            SsoDomain.objects.create(tenant=None, domain="mssp.test", verified_at=config.created_at)
        StaffGroupRoleMapping.objects.create(group_name="SOC L2", role="analyst_l2")
        with running_daphne(live_portal.log_dir, WEBHOOK_ALLOW_PRIVATE="1") as portal:
            page = new_page(f"{portal}/login/")
            page.get_by_role("link", name="Sign in with single sign-on").click()
            page.get_by_label("Work e-mail address").fill("nina@mssp.test")
            page.get_by_role("button", name="Continue").click()
            page.wait_for_url(f"{idp.issuer}/authorize*")
            page.fill("#idp-user", "nina")
            page.fill("#idp-password", "idp-password")
            with page.expect_navigation(url=f"{portal}/**"):
                page.get_by_role("button", name="Sign in").click()
            page.goto(f"{portal}/console/")  # the analysts' queue
            page.wait_for_url("**/accounts/2fa/totp/activate/**")
            screenshot(page, "staff-enrolment")
    nina = User.objects.get(username="nina")
    assert nina.staff_role == "analyst_l2" and not nina.has_usable_password()
