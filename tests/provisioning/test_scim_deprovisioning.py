"""SCIM deactivation and deletion take access away at once: a signed-in member's sessions end
(their next request is signed out) and their open live-stream sockets close (4401), while a
colleague's stay open; each in the tenant's audit log with the SCIM token as the actor."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from tenants import consumers
from tenants.models import AuditEvent, UserSession
from tenants.rls import rls_bypass
from tests.factories import MembershipFactory, TenantFactory
from tests.tenants.test_stream import closed_with
from tests.tenants.test_stream_lifetime import hang_up, run, session_socket, still_open

from .conftest import ScimClient, new_token, patch_body, user_body

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world():
    a = TenantFactory(slug="scim-a", name="SCIM A")
    admin = MembershipFactory(tenant=a, role="admin").user
    colleague = MembershipFactory(tenant=a, role="viewer").user
    scim = ScimClient(new_token(a, admin))
    created = scim.post("Users", user_body("leaver@example.com"))
    assert created.status_code == 201
    member_id = created.json()["id"]
    with rls_bypass("test"):
        from tenants.models import Membership

        leaver = Membership.objects.for_tenant(a).select_related("user").get(pk=member_id).user
    return SimpleNamespace(a=a, scim=scim, member_id=member_id, leaver=leaver, colleague=colleague)


def signed_in(user) -> Client:
    client = Client(HTTP_USER_AGENT="Firefox/128.0")
    client.force_login(user)  # the login signal gives the session its record (tenants.sessions)
    assert client.get("/api/v1/me/").status_code == 200
    return client


def live_sessions(user) -> int:
    return UserSession.objects.filter(user=user, ended_at__isnull=True).count()


@pytest.mark.parametrize("how", ["deactivate", "delete"])
def test_scim_takes_access_away_at_once(world, how):
    laptop, phone = signed_in(world.leaver), signed_in(world.leaver)
    colleague = signed_in(world.colleague)
    assert live_sessions(world.leaver) == 2

    async def scenario():
        sockets = [await session_socket(laptop), await session_socket(phone)]
        other = await session_socket(colleague)
        try:
            if how == "deactivate":
                answer = await database_sync_to_async(world.scim.patch)(
                    f"Users/{world.member_id}",
                    patch_body({"op": "Replace", "path": "active", "value": "False"}),
                )
                assert answer.status_code == 200, answer.content
            else:
                answer = await database_sync_to_async(world.scim.delete)(f"Users/{world.member_id}")
                assert answer.status_code == 204
            for socket in sockets:
                assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
            await still_open(world.a, other)
        finally:
            await hang_up(*sockets, other)

    run(scenario)
    assert live_sessions(world.leaver) == 0
    assert live_sessions(world.colleague) == 1
    # the next request of either session is signed out
    assert laptop.get("/api/v1/me/").status_code == 401
    assert phone.get("/alerts/").status_code == 302
    assert colleague.get("/api/v1/me/").status_code == 200
    with rls_bypass("test"):
        entry = AuditEvent.objects.for_tenant(world.a).get(
            action="scim.user_deactivated" if how == "deactivate" else "scim.user_deleted"
        )
    assert entry.actor_id is None
    assert entry.actor_name.startswith("SCIM token")
    assert entry.data["sessions_ended"] == 2
