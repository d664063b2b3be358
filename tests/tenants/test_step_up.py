"""Step-up (issue 13): a dangerous action inside a session needs the second factor (or, for an
account without one, the password) given within STEP_UP_MINUTES. Pages go through allauth's
reauthentication and back; the API answers 403 naming the page; token requests go by scopes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from tenants.actions import Action
from tenants.administration import MEMBER_ADD, MEMBER_REMOVE, MEMBER_SET_ROLE, TOKEN_ISSUE
from tenants.models import ApiToken, AuditEvent
from tenants.rls import rls_bypass
from tests.mfa import PASSWORD, enrol, fresh_code, log_in

pytestmark = pytest.mark.django_db


def later(settings):
    """Past the step-up window of a session that signed in now."""
    return time_machine.travel(timezone.now() + timedelta(minutes=settings.STEP_UP_MINUTES + 1))


def tokens_of(user) -> int:
    return ApiToken.objects.filter(user=user).count()


def test_the_dangerous_actions_are_marked():
    from alerts.actions import EXPORT_INCIDENTS
    from alerts.sources import CREATE_SOURCE, ROTATE_SOURCE_KEY
    from notifications.actions import (
        CHANNEL_CREATE,
        CHANNEL_DELETE,
        CHANNEL_UPDATE,
        TEAM_CHANNEL_CREATE,
        TEAM_CHANNEL_DELETE,
        TEAM_CHANNEL_UPDATE,
    )
    from reports.actions import REPORT_REQUEST
    from tenants.administration import STAFF_UPDATE

    dangerous: list[Action] = [
        TOKEN_ISSUE,
        ROTATE_SOURCE_KEY,
        CREATE_SOURCE,
        MEMBER_ADD,
        MEMBER_SET_ROLE,
        MEMBER_REMOVE,
        STAFF_UPDATE,
        CHANNEL_CREATE,
        CHANNEL_UPDATE,
        CHANNEL_DELETE,
        TEAM_CHANNEL_CREATE,
        TEAM_CHANNEL_UPDATE,
        TEAM_CHANNEL_DELETE,
        REPORT_REQUEST,
        EXPORT_INCIDENTS,
    ]
    assert all(action.step_up for action in dangerous)


def test_a_page_goes_through_the_second_factor_and_back(two_tenants, settings):
    admin = two_tenants["a_admin"]
    enrol(admin)
    client = Client()
    assert log_in(client, admin).status_code == 302
    with later(settings):
        asked = client.post(
            "/settings/tokens/", {"name": "soar", "scopes": ["read"], "expires_in_days": "30"}
        )
        assert asked.status_code == 302
        assert asked["Location"].startswith("/accounts/2fa/reauthenticate/?next=")
        assert tokens_of(admin) == 0
        page = client.get(asked["Location"])
        assert page.status_code == 200 and b'name="code"' in page.content
        # the code replays the kept POST
        done = client.post(asked["Location"], {"code": fresh_code(admin)})
        assert tokens_of(admin) == 1, done
        with rls_bypass("test"):
            assert AuditEvent.objects.dangerously_unscoped("t").filter(action="auth.step_up")
        # within the window again: no second ask
        again = client.post(
            "/settings/tokens/", {"name": "two", "scopes": ["read"], "expires_in_days": "30"}
        )
        assert not again.get("Location", "").startswith("/accounts/")
        assert tokens_of(admin) == 2


def test_an_account_without_a_second_factor_steps_up_with_its_password(two_tenants, settings):
    admin = two_tenants["a_admin"]
    client = Client()
    log_in(client, admin)
    with later(settings):
        asked = client.post(
            "/settings/tokens/", {"name": "soar", "scopes": ["read"], "expires_in_days": "30"}
        )
        assert asked["Location"].startswith("/accounts/reauthenticate/?next=")
        wrong = client.post(asked["Location"], {"password": "not-it"})
        assert wrong.status_code == 200 and tokens_of(admin) == 0
        client.post(asked["Location"], {"password": PASSWORD})
        assert tokens_of(admin) == 1


def test_the_api_in_a_session_answers_403_naming_the_page(two_tenants, settings):
    admin = two_tenants["a_admin"]
    enrol(admin)
    client = Client()
    log_in(client, admin)
    body = {"name": "soar", "scopes": ["read"]}
    within = client.post("/api/v1/tokens/", body, content_type="application/json")
    assert within.status_code == 201
    with later(settings):
        refused = client.post("/api/v1/tokens/", body, content_type="application/json")
        assert refused.status_code == 403
        assert refused.json()["error"] == "step_up_required"
        assert refused.json()["reauthenticate"] == "/accounts/reauthenticate/"
        assert "/accounts/reauthenticate/" in refused.json()["detail"]
        hooks = "/api/v1/tenants/tenant-a/webhooks/"
        hook = {"url": "https://hooks.example.com/x", "events": ["incident.updated"]}
        assert client.post(hooks, hook, content_type="application/json").status_code == 403
        client.post("/accounts/2fa/reauthenticate/", {"code": fresh_code(admin)})
        assert (
            client.post("/api/v1/tokens/", body, content_type="application/json").status_code == 201
        )


def test_token_requests_are_not_sessions_and_go_by_their_scopes(two_tenants, settings, api):
    admin = two_tenants["a_admin"]
    client = api(admin)
    with later(settings):
        made = client.post("/api/v1/tokens/", {"name": "child", "scopes": ["read"]}, format="json")
        assert made.status_code == 201
