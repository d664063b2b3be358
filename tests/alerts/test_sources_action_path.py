"""Intake sources: one path for every action (alerts.sources' actions). Who may administer
a tenant's sources, and the serializer's limits, are stated once and hold on the settings
pages and the API alike; another tenant's source is not found on either path."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework import serializers

from alerts import sources
from alerts.api.serializers import IntakeSourceSerializer
from alerts.models import IntakeSource
from tenants.rls import rls_bypass

pytestmark = pytest.mark.django_db

API = "/api/v1/tenants/tenant-a/sources/"


def _read(source: IntakeSource) -> IntakeSource:
    with rls_bypass("test assertion"):
        return IntakeSource.objects.dangerously_unscoped("test assertion").get(pk=source.pk)


def _names(tenant) -> set[str]:
    with rls_bypass("test assertion"):
        rows = IntakeSource.objects.dangerously_unscoped("test assertion").filter(tenant=tenant)
        return set(rows.values_list("name", flat=True))


def test_who_administers_sources_is_stated_once(monkeypatch, api, client, two_tenants):
    admin, source = two_tenants["a_admin"], two_tenants["a_source"]
    before = _read(source)
    client.force_login(admin)
    monkeypatch.setattr(sources, "may_administer_sources", lambda access, target: False)

    page_posts = {
        reverse("settings-sources"): {"name": "Berlin", "kind": "generic"},
        reverse("settings-source-edit", args=[source.pk]): {"name": "Renamed"},
        reverse("settings-source-rotate", args=[source.pk]): {},
        reverse("settings-source-revoke", args=[source.pk]): {},
    }
    for url, data in page_posts.items():
        assert client.post(url, data).status_code == 403, url
    caller = api(admin)
    created = caller.post(API, {"name": "Berlin", "kind": "generic"}, format="json")
    assert created.status_code == 403
    renamed = caller.patch(f"{API}{source.pk}/", {"name": "Renamed"}, format="json")
    assert renamed.status_code == 403
    assert caller.post(f"{API}{source.pk}/rotate-key/").status_code == 403
    assert caller.delete(f"{API}{source.pk}/").status_code == 403
    after = _read(source)
    assert (after.name, after.status, after.key_digest) == (
        before.name,
        before.status,
        before.key_digest,
    )
    assert "Berlin" not in _names(two_tenants["a"])

    monkeypatch.undo()  # the rule as it is: the tenant's admin, on either path
    made = client.post(reverse("settings-sources"), {"name": "Berlin", "kind": "generic"})
    assert made.status_code == 200 and "Intake key of" in made.content.decode()
    assert caller.post(API, {"name": "Bonn", "kind": "generic"}, format="json").status_code == 201
    assert {"Berlin", "Bonn"} <= _names(two_tenants["a"])


def test_the_serializers_limits_are_the_pages_too(monkeypatch, api, client, two_tenants):
    def no_test_names(self, value):
        if value.startswith("test"):
            raise serializers.ValidationError("Name it after the place it watches.")
        return value

    monkeypatch.setattr(IntakeSourceSerializer, "validate_name", no_test_names)
    admin = two_tenants["a_admin"]
    client.force_login(admin)
    page = client.post(reverse("settings-sources"), {"name": "test box", "kind": "generic"})
    created = api(admin).post(API, {"name": "test box", "kind": "generic"}, format="json")
    assert page.status_code == 400 and "Name it after the place" in page.content.decode()
    assert created.status_code == 400 and "Name it after the place" in created.json()["detail"]
    assert "test box" not in _names(two_tenants["a"])


def test_another_tenants_source_is_not_found_on_either_path(api, client, two_tenants):
    admin, theirs = two_tenants["a_admin"], two_tenants["b_source"]
    before = _read(theirs)
    client.force_login(admin)
    for name, data in (
        ("settings-source-edit", {"name": "mine"}),
        ("settings-source-rotate", {}),
        ("settings-source-revoke", {}),
    ):
        assert client.post(reverse(name, args=[theirs.pk]), data).status_code == 404, name
    caller = api(admin)
    assert caller.patch(f"{API}{theirs.pk}/", {"name": "mine"}, format="json").status_code == 404
    assert caller.post(f"{API}{theirs.pk}/rotate-key/").status_code == 404
    assert caller.delete(f"{API}{theirs.pk}/").status_code == 404
    after = _read(theirs)
    assert (after.name, after.status, after.key_digest) == (
        before.name,
        before.status,
        before.key_digest,
    )
