"""The navigation, generated from mssp.navigation.PAGES: every page it lists exists, each
persona is offered exactly the pages it may open, and a page not offered to a persona refuses
it on the server (403 or 404), so no page relies on a missing link for its protection."""

from __future__ import annotations

import pytest
from django.urls import reverse

from mssp.navigation import PAGES, pages_for
from tenants.access import access_for

pytestmark = pytest.mark.django_db

PERSONAS = (
    "analyst_a",
    "mssp_admin",
    "a_admin",
    "a_responder",
    "a_viewer",
    "outsider",
)


def test_every_page_in_the_navigation_exists():
    for page in PAGES:
        assert reverse(page.url_name).startswith("/"), page.url_name


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_is_offered_exactly_what_it_may_open(client, two_tenants, persona):
    user = two_tenants[persona]
    access = access_for(user)
    offered = {p["url"] for group in pages_for(access).values() for p in group}
    client.force_login(user)
    wrong = []
    for page in PAGES:
        url = reverse(page.url_name)
        code = client.get(url).status_code
        if (url in offered and code != 200) or (url not in offered and code not in (403, 404)):
            wrong.append(f"{url}: {'offered' if url in offered else 'not offered'}, got {code}")
    assert not wrong, f"{persona}: " + "; ".join(wrong)


def test_pages_need_a_login(client):
    for page in PAGES:
        response = client.get(reverse(page.url_name))
        assert response.status_code == 302 and "/login/" in response["Location"], page.url_name


HOSTILE_QUERIES = [
    "cursor=garbage",
    "cursor=%25%25%25",
    "page=abc",
    "page=999999999",
    "page_size=abc",
    "page_size=-1",
    "since=yesterday&until=2026-13-45",
    "since=0001-01-01&until=9999-12-31",
    "from=0001-01-01&to=9999-12-31",
    "from=not-a-date&to=nope",
    "period=forever&severity=urgent",
    "status=exploded&owner=" + "x" * 500,
    "tenant=tenant-b",
    "q=" + "a" * 5000,
]


@pytest.mark.parametrize("persona", ["mssp_admin", "a_admin"])
def test_hostile_query_strings_never_break_a_page(client, two_tenants, persona):
    """Every page of the navigation, with every hostile query string: a page or a 4xx with a
    message, never a 500, and tenant B's name never shown to tenant A's admin."""
    from tests.factories import ingest_alerts

    ingest_alerts(two_tenants["b_source"], 1, title="B's secret alert")
    client.force_login(two_tenants[persona])
    wrong = []
    for page in PAGES:
        for query in HOSTILE_QUERIES:
            url = f"{reverse(page.url_name)}?{query}"
            response = client.get(url)
            if response.status_code >= 500:
                wrong.append(f"{url[:80]}: {response.status_code}")
            elif persona == "a_admin" and b"B's secret alert" in response.content:
                wrong.append(f"{url[:80]}: shows tenant B's alert")
    assert not wrong, "; ".join(wrong)
