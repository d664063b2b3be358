"""Hunts: one path for every action (alerts.hunts' actions). A rule changed in one place, the
owner rule or the serializer's limits, changes the hunt pages and the API alike; and neither
path reaches a hunt its caller may not see."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from alerts import hunts
from alerts.models import Hunt
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

QUERY = {"q": "VPN login"}


def _hunt(owner, **fields) -> Hunt:
    return Hunt.objects.create(
        owner=owner, name=fields.pop("name", "VPN logins"), query=QUERY, **fields
    )


def _page_form(**overrides) -> dict:
    return {"name": "Renamed", "q": QUERY["q"], "lookback_days": "7", **overrides}


@pytest.fixture
def hunter(two_tenants):
    return StaffFactory(staff_role="analyst_l2", tenants=[two_tenants["a"]])


def test_the_owner_rule_is_stated_once(monkeypatch, api, client, hunter):
    hunt = _hunt(hunter)
    client.force_login(hunter)
    monkeypatch.setattr(hunts, "may_change_hunt", lambda access, hunt: False)

    page = client.post(f"/hunts/{hunt.pk}/", _page_form())
    patched = api(hunter).patch(f"/api/v1/hunts/{hunt.pk}/", {"name": "Renamed"}, format="json")
    assert page.status_code == 403 and patched.status_code == 403
    assert client.post(f"/hunts/{hunt.pk}/delete/").status_code == 403
    assert api(hunter).delete(f"/api/v1/hunts/{hunt.pk}/").status_code == 403
    assert Hunt.objects.get(pk=hunt.pk).name == "VPN logins"

    monkeypatch.undo()  # the rule as it is: the owner changes their hunt, on either path
    assert client.post(f"/hunts/{hunt.pk}/", _page_form()).status_code == 302
    patched = api(hunter).patch(f"/api/v1/hunts/{hunt.pk}/", {"name": "Again"}, format="json")
    assert patched.status_code == 200 and patched.json()["name"] == "Again"


def test_the_serializers_limits_are_the_pages_too(monkeypatch, api, client, hunter):
    def no_vpn(self, value):
        if "VPN" in value:
            raise serializers.ValidationError("No VPN hunts this week.")
        return value

    monkeypatch.setattr(hunts.HuntSerializer, "validate_name", no_vpn, raising=False)
    client.force_login(hunter)
    page = client.post("/hunts/", _page_form(name="VPN logins"))
    created = api(hunter).post(
        "/api/v1/hunts/", {"name": "VPN logins", "query": QUERY}, format="json"
    )
    assert page.status_code == 400 and "No VPN hunts this week." in page.content.decode()
    assert created.status_code == 400 and "No VPN hunts this week." in created.json()["detail"]
    hunt = _hunt(hunter, name="Logins")  # a change is held to the same limit
    assert client.post(f"/hunts/{hunt.pk}/", _page_form(name="VPN")).status_code == 400
    patched = api(hunter).patch(f"/api/v1/hunts/{hunt.pk}/", {"name": "VPN"}, format="json")
    assert patched.status_code == 400
    assert not Hunt.objects.filter(name__contains="VPN").exists()


def test_another_staff_members_private_hunt_is_not_found_on_either_path(
    api, client, hunter, two_tenants
):
    other = _hunt(StaffFactory(staff_role="analyst_l2", tenants=[two_tenants["b"]]))
    client.force_login(hunter)
    for path in (f"/hunts/{other.pk}/", f"/hunts/{other.pk}/run/", f"/hunts/{other.pk}/delete/"):
        assert client.post(path, _page_form()).status_code == 404, path
    caller = api(hunter)
    assert (
        caller.patch(f"/api/v1/hunts/{other.pk}/", {"name": "x"}, format="json").status_code == 404
    )
    assert caller.post(f"/api/v1/hunts/{other.pk}/run/").status_code == 404
    assert caller.delete(f"/api/v1/hunts/{other.pk}/").status_code == 404
    assert Hunt.objects.get(pk=other.pk).name == "VPN logins" and not other.runs.exists()
