"""My notifications (/account/notifications/): every signed-in user's own contact methods,
notification rules and recent pages, through the real views and the API's own actions.

Each user sees and changes only their own rows (anyone else's id is the same 404 as a missing
one, and nothing changes); a secret never reaches a page, not even back into the form after an
error; the recent pages are the caller's, inside the tenants they see.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alerts.models import Incident
from mssp.navigation import pages_for
from notifications import paging
from notifications.models import ContactMethod, Delivery, NotificationRule, Page
from sla.escalation import escalation_request
from tenants.access import access_for
from tenants.models import Team
from tenants.rls import rls_bypass
from tests.factories import ingest_alerts

pytestmark = pytest.mark.django_db

PAGE = reverse("my-notifications")
RULE_ADD = reverse("my-rule-add")
SECRET_PATH = "very-secret-path"
SLACK_URL = f"http://127.0.0.1:9/services/T000/B000/{SECRET_PATH}"
ROUTING_KEY = "r0uting-key-that-is-secret"


# --- helpers -----------------------------------------------------------------------------------
def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def method_of(user, **fields) -> ContactMethod:
    fields = {"label": "Phone", "kind": "sms", "target": "+14155550100", **fields}
    return ContactMethod.objects.create(user=user, **fields)


def incident_in(world, tenant_key: str, title: str) -> Incident:
    ingest_alerts(world[f"{tenant_key}_source"], title=title, distinct=False)
    with rls_bypass("test fixture"):
        return Incident.objects.for_tenant(world[tenant_key]).get()


def all_pages() -> list[Page]:
    with rls_bypass("test assertion"):
        return list(Page.objects.dangerously_unscoped("test assertion").select_related("user"))


def recent_section(response) -> str:
    return response.content.decode().split('id="recent-pages"', 1)[1]


# --- contact methods and rules -----------------------------------------------------------------
@pytest.mark.parametrize("who", ["analyst_a", "a_viewer"])
def test_a_user_adds_an_sms_contact_method_and_a_rule_and_sees_them(two_tenants, who):
    user = two_tenants[who]
    client = signed_in(user)
    added = client.post(PAGE, {"label": "Phone", "kind": "sms", "target": "+14155550100"})
    assert added.status_code == 302 and added["Location"] == PAGE
    (method,) = ContactMethod.objects.filter(user=user)
    assert (method.kind, method.target) == ("sms", "+14155550100")
    rule = client.post(RULE_ADD, {"contact_method": str(method.pk), "delay_minutes": "5"})
    assert rule.status_code == 302
    assert [(r.contact_method_id, r.delay_minutes) for r in user.notification_rules.all()] == [
        (method.pk, 5)
    ]
    page = client.get(PAGE)
    text = page.content.decode()
    assert page.status_code == 200
    assert "+14155550100" in text and "Phone (SMS) after 5 min" in text
    assert "Notification rule added." in text  # the action's message, after the redirect


def test_rules_are_listed_by_delay_as_one_sentence(two_tenants):
    user = two_tenants["analyst_a"]
    mail, sms, call = (
        method_of(user, label="Work mail", kind="email", target="me@mssp.example"),
        method_of(user, label="Phone", kind="sms"),
        method_of(user, label="Phone call", kind="voice"),
    )
    for method, delay in ((call, 70), (mail, 0), (sms, 5)):
        NotificationRule.objects.create(user=user, contact_method=method, delay_minutes=delay)
    text = signed_in(user).get(PAGE).content.decode()
    assert (
        "Work mail (E-mail) at once; Phone (SMS) after 5 min; Phone call (Voice call) after "
        "1 h 10 min" in text
    )


def test_without_rules_the_page_says_how_you_are_paged(two_tenants):
    user = two_tenants["a_viewer"]
    text = signed_in(user).get(PAGE).content.decode()
    assert user.email and f"paged by e-mail to <strong>{user.email}</strong>" in text
    user.email = ""
    user.save(update_fields=["email"])
    text = signed_in(user).get(PAGE).content.decode()
    assert "You cannot be paged: add a contact method" in text
    method_of(user)
    text = signed_in(user).get(PAGE).content.decode()
    assert "You cannot be paged: add a rule" in text


def test_another_user_never_sees_nor_removes_my_rows(two_tenants):
    owner, other = two_tenants["analyst_a"], two_tenants["a_viewer"]
    method = method_of(owner, label="Analyst's phone", target="+14155550199")
    rule = NotificationRule.objects.create(user=owner, contact_method=method, delay_minutes=3)
    assert signed_in(owner).get(PAGE).content.decode().count("Analyst&#x27;s phone") >= 1
    theirs = signed_in(other)
    text = theirs.get(PAGE).content.decode()
    assert "Analyst&#x27;s phone" not in text and "+14155550199" not in text
    assert str(method.pk) not in text and str(rule.pk) not in text
    for url in (
        reverse("my-contact-method-delete", args=[method.pk]),
        reverse("my-rule-delete", args=[rule.pk]),
    ):
        assert theirs.post(url).status_code == 404, url
    assert ContactMethod.objects.filter(pk=method.pk).exists()
    assert NotificationRule.objects.filter(pk=rule.pk).exists()
    # the owner can
    mine = signed_in(owner)
    assert mine.post(reverse("my-rule-delete", args=[rule.pk])).status_code == 302
    assert not NotificationRule.objects.filter(pk=rule.pk).exists()
    assert mine.post(reverse("my-contact-method-delete", args=[method.pk])).status_code == 302
    assert not ContactMethod.objects.filter(pk=method.pk).exists()


def test_removing_is_a_post(two_tenants):
    owner = two_tenants["analyst_a"]
    method = method_of(owner)
    url = reverse("my-contact-method-delete", args=[method.pk])
    assert signed_in(owner).get(url).status_code == 405
    assert ContactMethod.objects.filter(pk=method.pk).exists()


def test_a_rule_naming_another_users_contact_method_is_refused(two_tenants):
    theirs = method_of(two_tenants["analyst_a"])
    user = two_tenants["analyst_b"]
    method_of(user)  # has one of their own, so the form is offered
    response = signed_in(user).post(
        RULE_ADD, {"contact_method": str(theirs.pk), "delay_minutes": "0"}
    )
    assert response.status_code == 400
    assert "No such contact method of yours" in response.content.decode()
    assert not NotificationRule.objects.exists()


def test_a_delay_over_a_day_is_refused(two_tenants):
    user = two_tenants["a_responder"]
    method = method_of(user)
    response = signed_in(user).post(
        RULE_ADD, {"contact_method": str(method.pk), "delay_minutes": "2000"}
    )
    assert response.status_code == 400
    assert "less than or equal to 1440" in response.content.decode()
    assert not NotificationRule.objects.exists()


def test_a_bad_phone_number_is_refused_with_the_fields_message(two_tenants):
    user = two_tenants["a_viewer"]
    response = signed_in(user).post(PAGE, {"label": "Phone", "kind": "sms", "target": "12345"})
    assert response.status_code == 400
    assert "A phone number in international form, such as +14155550100." in (
        response.content.decode()
    )
    assert not ContactMethod.objects.exists()


def test_a_signed_webhook_is_refused_with_the_actions_message(two_tenants, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    user = two_tenants["analyst_a"]
    response = signed_in(user).post(PAGE, {"label": "Hook", "kind": "webhook", "url": SLACK_URL})
    text = response.content.decode()
    assert response.status_code == 400
    assert "A signed webhook is a channel of a tenant, not a person" in text
    assert SECRET_PATH not in text
    assert not ContactMethod.objects.exists()


def test_secrets_never_appear_in_any_response(two_tenants, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    client = signed_in(two_tenants["a_admin"])
    bodies = []
    for data in (
        {"label": "", "kind": "slack", "url": SLACK_URL},  # an error elsewhere: label
        {"label": "Slack DM", "kind": "slack", "url": SLACK_URL, "target": "x"},
        {"label": "Phone", "kind": "sms", "target": "+14155550100", "url": SLACK_URL},
        {"label": "PD", "kind": "pagerduty", "routing_key": ROUTING_KEY, "target": "x"},
        {"label": "Hook", "kind": "webhook", "url": SLACK_URL},
    ):
        response = client.post(PAGE, data)
        assert response.status_code == 400, data
        bodies.append(response.content.decode())
    assert not ContactMethod.objects.exists()
    for data in (
        {"label": "Slack DM", "kind": "slack", "url": SLACK_URL},
        {"label": "PD", "kind": "pagerduty", "routing_key": ROUTING_KEY},
    ):
        response = client.post(PAGE, data, follow=True)
        assert response.redirect_chain and response.status_code == 200, data
        bodies.append(response.content.decode())
    assert ContactMethod.objects.count() == 2
    slack = ContactMethod.objects.get(kind="slack")
    assert slack.hint and slack.hint in bodies[-1]  # its end, to tell it apart
    for body in bodies:
        assert SECRET_PATH not in body and ROUTING_KEY not in body
        assert SLACK_URL not in body


# --- recent pages ------------------------------------------------------------------------------
@pytest.fixture
def paged(two_tenants):
    """analyst_a paged by a tier escalation in A (through their own e-mail rule); a_responder
    paged about the same incident; analyst_a paged in tenant B, which they do not work."""
    analyst = two_tenants["analyst_a"]
    mail = method_of(analyst, label="Work mail", kind="email", target="analyst@mssp.example")
    NotificationRule.objects.create(user=analyst, contact_method=mail, delay_minutes=0)
    team = Team.objects.create(name="SOC L2", kind="mssp_tier")
    team.members.add(analyst)
    incident = incident_in(two_tenants, "a", "Beaconing to a known C2")
    with rls_bypass("test fixture"):
        escalation_request(incident, direction="to_tier", actor=None, team=team)
        paging.start(
            two_tenants["a"].pk, incident, {}, [two_tenants["a_responder"]], "The responder's page"
        )
        Delivery.objects.dangerously_unscoped("test fixture").filter(
            page__user=analyst, event_type="page"
        ).update(answer="Accepted by the mail server")
    b_incident = incident_in(two_tenants, "b", "Tenant B's own incident")
    with rls_bypass("test fixture"):
        paging.start(two_tenants["b"].pk, b_incident, {}, [analyst], "A page in tenant B")
    return incident


def test_recent_pages_show_my_pages_and_their_deliveries(two_tenants, paged):
    assert {(p.user_id, p.tenant_id) for p in all_pages()} == {
        (two_tenants["analyst_a"].pk, two_tenants["a"].pk),
        (two_tenants["a_responder"].pk, two_tenants["a"].pk),
        (two_tenants["analyst_a"].pk, two_tenants["b"].pk),
    }  # every page exists, or "not shown" would prove nothing
    response = signed_in(two_tenants["analyst_a"]).get(PAGE)
    recent = recent_section(response)
    assert f'href="{reverse("incident", args=[paged.pk])}"' in recent
    assert "Beaconing to a known C2" in recent and "Escalated to SOC L2" in recent
    assert "E-mail" in recent and "Work mail" in recent and "Accepted by the mail server" in recent
    assert "The responder&#x27;s page" not in recent  # another user's
    assert "A page in tenant B" not in recent and "Tenant B" not in recent  # another tenant's


def test_a_customer_user_sees_their_own_page_only(two_tenants, paged):
    recent = recent_section(signed_in(two_tenants["a_responder"]).get(PAGE))
    assert "The responder&#x27;s page" in recent and "Beaconing to a known C2" in recent
    assert "Escalated to SOC L2" not in recent and "A page in tenant B" not in recent


def test_nobody_has_paged_you_yet(two_tenants, paged):
    recent = recent_section(signed_in(two_tenants["a_viewer"]).get(PAGE))
    assert "Nobody has paged you yet." in recent


def test_the_recent_pages_take_the_same_queries_for_one_page_or_many(two_tenants):
    analyst = two_tenants["analyst_a"]
    client = signed_in(analyst)
    ingest_alerts(two_tenants["a_source"], 4, title="Lateral movement")
    with rls_bypass("test fixture"):
        incidents = list(Incident.objects.for_tenant(two_tenants["a"]))
        paging.start(two_tenants["a"].pk, incidents[0], {}, [analyst], "first")
    client.get(PAGE)  # the session's first use
    with CaptureQueriesContext(connection) as one:
        assert "first" in recent_section(client.get(PAGE))
    with rls_bypass("test fixture"):
        for incident in incidents[1:]:
            paging.start(two_tenants["a"].pk, incident, {}, [analyst], "more")
    with CaptureQueriesContext(connection) as many:
        assert recent_section(client.get(PAGE)).count('id="page-') == len(incidents)
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]


# --- navigation --------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["analyst_a", "a_viewer", "outsider"])
def test_the_navigation_offers_the_page_to_every_signed_in_user(two_tenants, who):
    user = two_tenants[who]
    offered = [p["url"] for p in pages_for(access_for(user))["settings"]]
    assert PAGE in offered
    response = signed_in(user).get(PAGE)
    assert response.status_code == 200 and f'href="{PAGE}"' in response.content.decode()


def test_anonymous_is_sent_to_log_in(two_tenants):
    method = method_of(two_tenants["analyst_a"])
    anonymous = Client()
    for url in (
        PAGE,
        RULE_ADD,
        reverse("my-contact-method-delete", args=[method.pk]),
    ):
        response = anonymous.post(url, {"contact_method": str(method.pk), "delay_minutes": "0"})
        assert response.status_code == 302 and "/login/" in response["Location"], url
    response = anonymous.get(PAGE)
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert ContactMethod.objects.filter(pk=method.pk).exists()
    assert not NotificationRule.objects.exists()
