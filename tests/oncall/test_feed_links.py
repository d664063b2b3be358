# ruff: noqa: F811  (the fixtures imported from test_api are parameters here)
"""Subscription links to a schedule's iCalendar feed (oncall.feeds): a URL a calendar app
fetches without a session or a header. Only its digest is kept; each fetch asks again whether
its owner still reads the schedule; every failure is the same 404."""

from __future__ import annotations

import icalendar
import pytest
from django.test import Client
from guardian.shortcuts import remove_perm

from oncall.models import FeedToken
from tenants.models import AuditEvent, Membership
from tenants.rls import rls_bypass
from tests.oncall.test_api import URL, a_schedule, b_schedule, frozen, w  # noqa: F401

pytestmark = pytest.mark.django_db


def mint(api, user, schedule_id):
    response = api(user).post(f"{URL}{schedule_id}/feed-link/")
    assert response.status_code == 201, response.content
    return response.json()


def fetch(url):
    return Client().get(url.removeprefix("http://testserver"))


def test_a_member_subscribes_without_a_session_and_revokes(w, api, a_schedule):
    link = mint(api, w["a_responder"], a_schedule["id"])
    assert link["url"].startswith("http://testserver/oncall/feed/mssp_ical_")
    response = fetch(link["url"])
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert response["Cache-Control"] == "private, max-age=300"
    events = icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    assert any(str(e["SUMMARY"]) == f"On call: {w['a_responder'].username}" for e in events)
    # the secret is answered once: reading the link back shows only its prefix
    shown = api(w["a_responder"]).get(f"{URL}{a_schedule['id']}/feed-link/").json()
    assert shown["active"] is True and shown["url"] is None
    assert link["url"].split("/")[-1].startswith(shown["prefix"])
    assert shown["last_used_at"] is not None
    with rls_bypass("test"):
        stored = FeedToken.objects.get()
    assert stored.digest != link["url"].split("/")[-1].removesuffix(".ics")

    assert api(w["a_responder"]).delete(f"{URL}{a_schedule['id']}/feed-link/").status_code == 204
    assert fetch(link["url"]).status_code == 404
    gone = api(w["a_responder"]).get(f"{URL}{a_schedule['id']}/feed-link/").json()
    assert gone == {
        "active": False,
        "prefix": None,
        "created_at": None,
        "last_used_at": None,
        "url": None,
    }


def test_a_new_link_replaces_the_old_one(w, api, a_schedule):
    old = mint(api, w["a_viewer"], a_schedule["id"])
    new = mint(api, w["a_viewer"], a_schedule["id"])
    assert fetch(old["url"]).status_code == 404
    assert fetch(new["url"]).status_code == 200


def test_the_link_dies_with_its_owners_access(w, api, a_schedule):
    left = mint(api, w["a_responder"], a_schedule["id"])
    deactivated = mint(api, w["a_viewer"], a_schedule["id"])
    staff = mint(api, w["analyst_a"], a_schedule["id"])
    with rls_bypass("test"):
        Membership.objects.for_tenant(w["a"]).filter(user=w["a_responder"]).delete()
    w["a_viewer"].is_active = False
    w["a_viewer"].save()
    remove_perm("tenants.work_tenant", w["analyst_a"], w["a"])  # no longer works tenant A
    for link in (left, deactivated, staff):
        assert fetch(link["url"]).status_code == 404


def test_another_tenant_can_neither_subscribe_nor_read(w, api, a_schedule, b_schedule):
    for outsider in (w["b_admin"], w["b_responder"], w["analyst_b"]):
        response = api(outsider).post(f"{URL}{a_schedule['id']}/feed-link/")
        assert response.status_code == 404
        assert api(outsider).delete(f"{URL}{a_schedule['id']}/feed-link/").status_code == 404
    # a link to B's schedule reads B's and nothing of A's
    body = fetch(mint(api, w["b_viewer"], b_schedule["id"])["url"]).content.decode()
    assert w["a_responder"].username not in body and w["b_responder"].username in body


def test_an_mssp_tier_schedule_is_staffs_only(w, api):
    from tests.oncall.test_api import layer, make_schedule

    tier = make_schedule(api, w["lead"], w["tier"], [layer(w["analyst_l2"])], name="L2 primary")
    assert fetch(mint(api, w["analyst_l2"], tier["id"])["url"]).status_code == 200
    assert api(w["a_admin"]).post(f"{URL}{tier['id']}/feed-link/").status_code == 404


@pytest.mark.parametrize(
    "token",
    [
        "x",
        "mssp_ical_" + "A" * 43,
        "mssp_ical_" + "A" * 400,
        "mssp_" + "A" * 43,
        "mssp_ical_%00",
        "mssp_ical_é",
        "../../etc/passwd",
    ],
)
def test_guessed_links_get_the_same_404(token, db):
    # (a NUL is refused before any view, with 400)
    expected = 400 if "%00" in token else 404
    assert Client().get(f"/oncall/feed/{token}.ics").status_code == expected


def test_the_page_shows_the_link_once_and_revokes_it(w, client, a_schedule):
    client.force_login(w["a_responder"])
    page = f"/oncall/{a_schedule['id']}/"
    made = client.post(f"{page}feed-link/")
    assert made.status_code == 200
    html = made.content.decode()
    assert "Your subscription link" in html and "/oncall/feed/mssp_ical_" in html
    raw_url = html.split('id="secret-value"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    assert fetch(raw_url).status_code == 200
    again = client.get(page).content.decode()
    assert "/oncall/feed/mssp_ical_" not in again and "Revoke the link" in again
    assert client.post(f"{page}feed-link/delete/").status_code == 302
    assert fetch(raw_url).status_code == 404
    with rls_bypass("test"):
        verbs = list(
            AuditEvent.objects.for_tenant(w["a"])
            .filter(action__startswith="oncall.feed_link")
            .values_list("action", "data")
        )
    assert sorted(v for v, _ in verbs) == ["oncall.feed_link.created", "oncall.feed_link.revoked"]
    secret = raw_url.split("/")[-1].removesuffix(".ics")
    assert all(secret not in str(data) for _, data in verbs)
