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
