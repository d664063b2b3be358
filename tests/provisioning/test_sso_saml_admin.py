"""SAML single sign-on's administration: the tenant's SAML IdP configured on
/api/v1/tenants/{slug}/sso/ and on /settings/sso/ by its metadata URL (read through the SSRF
guard), the document itself or an uploaded file; bad metadata is a 400 that says why."""

from __future__ import annotations

import pytest
from django.test import Client

from provisioning.models import IdentityProvider
from tenants.models import AuditEvent
from tenants.rls import rls_bypass

from .saml_idp import TestSamlProvider, needs_xmlsec1

pytestmark = [pytest.mark.django_db, needs_xmlsec1]


@pytest.fixture
def idp():
    with TestSamlProvider() as provider:
        yield provider


def entries(tenant, action):
    with rls_bypass("test"):
        return list(AuditEvent.objects.for_tenant(tenant).filter(action=action).order_by("id"))


def test_admin_configures_saml_by_metadata_url_or_document_through_the_api(
    two_tenants, api, idp, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the IdP is on loopback
    client = api(two_tenants["a_admin"])
    url = "/api/v1/tenants/tenant-a/sso/"
    assert client.put(url, {"kind": "saml"}, format="json").status_code == 400  # no metadata
    created = client.put(
        url,
        {"kind": "saml", "metadata_url": f"{idp.base}/metadata", "groups_claim": "memberOf"},
        format="json",
    )
    assert created.status_code == 201, created.content
    answer = created.json()
    assert answer["kind"] == "saml" and answer["issuer"] == idp.entity_id
    assert answer["sp_entity_id"].endswith(f"/sso/saml/sso-{answer['id']}/metadata/")
    assert answer["acs_url"].endswith(f"/sso/saml/sso-{answer['id']}/acs/")
    assert answer["redirect_uri"] == "" and answer["metadata_read_at"]
    document = idp.metadata()
    uploaded = client.patch(url, {"metadata_xml": document}, format="json")
    assert uploaded.status_code == 200 and uploaded.json()["metadata_url"] == ""
    assert entries(two_tenants["a"], "sso.config_changed")[-1].data["changed"] == [
        "metadata_url"
    ] or "metadata_xml" in str(entries(two_tenants["a"], "sso.config_changed")[-1].data)
    for bad in (
        {"kind": "saml", "metadata_xml": "<not-metadata/>"},
        {"kind": "saml", "metadata_xml": "not xml at all"},
        {"kind": "saml", "metadata_xml": document.replace("IDPSSODescriptor", "SPSSODescriptor")},
        {"kind": "saml", "metadata_url": f"{idp.base}/nowhere"},
        {"kind": "saml", "metadata_url": f"{idp.base}/metadata", "metadata_xml": document},
        {"kind": "saml", "metadata_xml": ["a", "list"]},
        {"kind": "oidc"},  # another kind needs its own fields
    ):
        answer = client.put(url, bad, format="json")
        assert answer.status_code == 400, (bad, answer.content)
        assert answer.json()  # a message, never a 500
    settings.WEBHOOK_ALLOW_PRIVATE = False  # the SSRF guard: loopback holds no metadata
    guarded = client.put(
        url, {"kind": "saml", "metadata_url": f"{idp.base}/metadata"}, format="json"
    )
    assert guarded.status_code == 400 and "metadata_url" in guarded.json().get(
        "fields", guarded.json()
    )
    assert client.get(url).json()["issuer"] == idp.entity_id  # unchanged


def test_settings_page_takes_an_uploaded_metadata_file_and_shows_the_sp(two_tenants, idp):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = Client()
    client.force_login(two_tenants["a_admin"])
    saved = client.post(
        "/settings/sso/",
        {
            "kind": "saml",
            "metadata_file": SimpleUploadedFile("idp.xml", idp.metadata().encode()),
            "username_claim": "uid",
            "email_claim": "email",
            "groups_claim": "groups",
            "default_role": "viewer",
            "enabled": "1",
        },
    )
    assert saved.status_code == 302, saved.content
    page = client.get("/settings/sso/").content.decode()
    with rls_bypass("test"):
        config = IdentityProvider.objects.for_tenant(two_tenants["a"]).get()
    assert config.kind == "saml" and config.issuer == idp.entity_id
    assert f"/sso/saml/{config.provider_id}/acs/" in page and idp.entity_id in page
    bad = client.post(
        "/settings/sso/",
        {
            "kind": "saml",
            "metadata_xml": "<nope/>",
            "username_claim": "uid",
            "default_role": "viewer",
        },
    )
    assert (
        bad.status_code == 400
        and "not SAML metadata" in bad.content.decode()
        or ("describes no identity provider" in bad.content.decode())
    )
