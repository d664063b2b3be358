"""Tenant administration has one path (tenants.administration): a rule changed in one place,
tenants.policy, changes the settings page and the API alike, and both refuse another tenant's
member or contact with the same 404 as a missing one."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tenants import policy
from tenants.models import Contact, Membership, User
from tenants.rls import rls_bypass

pytestmark = pytest.mark.django_db


def rows(model, **filters) -> list:
    """Rows as they are, whatever the tenant (users are not tenant-owned)."""
    with rls_bypass("test assertion"):
        manager = model.objects
        if hasattr(manager, "dangerously_unscoped"):
            manager = manager.dangerously_unscoped("test assertion")
        return list(manager.filter(**filters))


def membership_of(user: User) -> Membership:
    return rows(Membership, user=user)[0]


def contact_of(tenant, name: str = "CISO") -> Contact:
    with rls_bypass("test fixture"):
        return Contact.objects.create(
            tenant=tenant, name=name, email=f"{name.lower()}@{tenant.slug}.example"
        )


@pytest.fixture
def page(client):
    """The portal, signed in as `user`."""

    def signed_in(user):
        client.force_login(user)
        return client

    return signed_in


NEW_MEMBER = {"username": "new.analyst", "email": "new@a.example", "role": "viewer"}


def test_the_member_rule_is_stated_once(two_tenants, page, api, monkeypatch):
    """Customer admins stop managing members when tenants.policy says so: the page and the API
    refuse them alike; an MSSP admin still adds members on both."""
    monkeypatch.setattr(policy, "may_manage_members", lambda access, tenant: access.is_mssp_admin)
    admin = two_tenants["a_admin"]

    by_page = page(admin).post(reverse("settings-members"), NEW_MEMBER)
    by_api = api(admin).post("/api/v1/tenants/tenant-a/members/", NEW_MEMBER, format="json")
    assert by_page.status_code == 403
    assert by_api.status_code == 403 and by_api.json()["error"] == "forbidden"
    assert not rows(User, username__endswith="new.analyst")

    mssp = two_tenants["mssp_admin"]
    by_page = page(mssp).post(
        reverse("settings-members") + "?tenant=tenant-a", {**NEW_MEMBER, "username": "p"}
    )
    by_api = api(mssp).post(
        "/api/v1/tenants/tenant-a/members/", {**NEW_MEMBER, "username": "q"}, format="json"
    )
    assert by_page.status_code == 302 and by_api.status_code == 201, by_api.json()
    added = rows(Membership, tenant=two_tenants["a"], user__username__in=["p", "q"])
    assert len(added) == 2


def test_the_contact_rule_is_stated_once(two_tenants, page, api, monkeypatch):
    """Contacts frozen by tenants.policy: neither path adds, changes nor removes one."""
    monkeypatch.setattr(policy, "may_manage_contacts", lambda access, tenant: False)
    admin, contact = two_tenants["a_admin"], contact_of(two_tenants["a"])
    body = {"name": "Duty", "email": "duty@a.example"}
    portal, client = page(admin), api(admin)
    base = "/api/v1/tenants/tenant-a/contacts/"

    assert portal.post(reverse("settings-contacts"), body).status_code == 403
    assert client.post(base, body, format="json").status_code == 403
    edit = reverse("settings-contact-edit", args=[contact.pk])
    assert portal.post(edit, {**body, "notify_sla": "on"}).status_code == 403
    assert client.patch(f"{base}{contact.pk}/", body, format="json").status_code == 403
    delete = reverse("settings-contact-delete", args=[contact.pk])
    assert portal.post(delete).status_code == 403
    assert client.delete(f"{base}{contact.pk}/").status_code == 403
    assert [c.name for c in rows(Contact, tenant=two_tenants["a"])] == ["CISO"]


def test_the_same_refusal_in_the_same_words(two_tenants, page, api):
    """A state the action forbids (removing oneself) reads the same on both paths."""
    admin = two_tenants["a_admin"]
    me = membership_of(admin)
    by_page = page(admin).post(reverse("settings-member-remove", args=[me.pk]))
    by_api = api(admin).delete(f"/api/v1/tenants/tenant-a/members/{me.pk}/")
    assert by_page.status_code == 400 and b"You cannot remove yourself." in by_page.content
    assert by_api.status_code == 400 and by_api.json()["detail"] == "You cannot remove yourself."
    assert rows(Membership, pk=me.pk)


def test_another_tenants_member_is_not_found_on_either_path(two_tenants, page, api):
    admin = two_tenants["a_admin"]
    theirs = membership_of(two_tenants["b_viewer"])
    portal, client = page(admin), api(admin)

    role = reverse("settings-member-role", args=[theirs.pk])
    remove = reverse("settings-member-remove", args=[theirs.pk])
    assert portal.post(role, {"role": "admin"}).status_code == 404
    assert portal.post(remove).status_code == 404
    for tenant in ("tenant-a", "tenant-b"):
        url = f"/api/v1/tenants/{tenant}/members/{theirs.pk}/"
        assert client.patch(url, {"role": "admin"}, format="json").status_code == 404
        assert client.delete(url).status_code == 404
    assert membership_of(two_tenants["b_viewer"]).role == "viewer"
    assert rows(User, pk=two_tenants["b_viewer"].pk, is_active=True)


def test_another_tenants_contact_is_not_found_on_either_path(two_tenants, page, api):
    admin = two_tenants["a_admin"]
    theirs = contact_of(two_tenants["b"])
    portal, client = page(admin), api(admin)
    body = {"name": "Mine now", "email": "x@a.example"}

    assert portal.post(reverse("settings-contact-edit", args=[theirs.pk]), body).status_code == 404
    assert portal.post(reverse("settings-contact-delete", args=[theirs.pk])).status_code == 404
    for tenant in ("tenant-a", "tenant-b"):
        url = f"/api/v1/tenants/{tenant}/contacts/{theirs.pk}/"
        assert client.patch(url, body, format="json").status_code == 404
        assert client.delete(url).status_code == 404
    assert [c.name for c in rows(Contact, pk=theirs.pk)] == ["CISO"]


def test_the_staff_assignment_rule_is_stated_once(two_tenants, page, api, monkeypatch):
    """Which tenants staff work is changed by the SLA health page and by PATCH
    /api/v1/staff/{id}/ through one Action: a rule changed in tenants.policy alone stops both,
    and lifting it lets both through."""
    from tests.factories import StaffFactory

    manager = StaffFactory(staff_role="manager")
    analyst = two_tenants["analyst_a"]
    tenant_b = two_tenants["b"]
    monkeypatch.setattr(policy, "may_change_staff", lambda access, fields: False)

    by_page = page(manager).post(f"/manager/staff/{analyst.pk}/tenants/", {"tenants": []})
    by_api = api(manager).patch(f"/api/v1/staff/{analyst.pk}/", {"tenants": []}, format="json")
    assert by_page.status_code == 403
    assert by_api.status_code == 403 and by_api.json()["error"] == "forbidden"
    assert analyst.has_perm("tenants.work_tenant", two_tenants["a"])

    monkeypatch.setattr(policy, "may_change_staff", lambda access, fields: True)
    by_page = page(manager).post(
        f"/manager/staff/{analyst.pk}/tenants/", {"tenants": [tenant_b.pk]}
    )
    assert by_page.status_code == 302
    fresh = User.objects.get(pk=analyst.pk)
    assert fresh.has_perm("tenants.work_tenant", tenant_b)
    by_api = api(manager).patch(
        f"/api/v1/staff/{analyst.pk}/", {"tenants": ["tenant-a"]}, format="json"
    )
    assert by_api.status_code == 200 and by_api.json()["tenants"] == ["tenant-a"]
