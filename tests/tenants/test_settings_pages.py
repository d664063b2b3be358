"""The customer admin's settings pages: members, API tokens, intake sources, contacts, audit log.

Each page applies the API's rules (same serializers, services and audit entries); tenant A's
admin can neither see nor touch tenant B's rows (each attempt is the same 404 as a missing id,
and nothing changes); secrets are shown once and stored hashed; hostile input is a form error,
never a 500; list pages answer in a fixed number of queries.
"""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from alerts.models import IntakeSource
from tenants import audit
from tenants.models import ApiToken, AuditEvent, Contact, Membership, User
from tenants.rls import rls_bypass
from tests.factories import IntakeSourceFactory, MembershipFactory, issue_token

pytestmark = pytest.mark.django_db

TENANT_PAGES = ["settings-members", "settings-sources", "settings-contacts", "settings-audit"]
ALL_PAGES = [*TENANT_PAGES, "settings-tokens"]


# --- helpers -----------------------------------------------------------------------------------
def unscoped(model):
    return model.objects.dangerously_unscoped("test assertion")


def read(model, **filters):
    with rls_bypass("test assertion"):
        return list(unscoped(model).filter(**filters))


def audit_actions(tenant) -> list[str]:
    with rls_bypass("test assertion"):
        return list(
            unscoped(AuditEvent)
            .filter(tenant=tenant)
            .order_by("at")
            .values_list("action", flat=True)
        )


def make_contact(tenant, **kwargs) -> Contact:
    with rls_bypass("test fixture"):
        return Contact.objects.create(
            tenant=tenant,
            name=kwargs.pop("name", "CISO"),
            email=kwargs.pop("email", f"ciso@{tenant.slug}.example"),
            **kwargs,
        )


def membership_of(user) -> Membership:
    with rls_bypass("test assertion"):
        return unscoped(Membership).select_related("user").get(user=user)


def page_text(response) -> bytes:
    """The page without its per-request CSRF token and CSP nonce."""
    content = re.sub(rb'"X-CSRFToken": "[^"]*"', b"", response.content)
    content = re.sub(rb'nonce="[^"]*"', b"", content)
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", content)


def shown_secret(response) -> str:
    match = re.search(rb'id="secret-value"[^>]*value="([^"]+)"', response.content)
    assert match, "the secret is not on the page"
    return match.group(1).decode()


@pytest.fixture
def world(two_tenants):
    w = two_tenants
    w["a_contact"] = make_contact(w["a"])
    w["b_contact"] = make_contact(w["b"], name="B's CISO")
    return w


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        return client

    return login


# --- who may open what -------------------------------------------------------------------------
@pytest.mark.parametrize("page", ALL_PAGES)
def test_customer_admin_opens_every_settings_page(page, world, as_user):
    response = as_user(world["a_admin"]).get(reverse(page))
    assert response.status_code == 200
    assert b"Tenant B" not in response.content


@pytest.mark.parametrize("page", TENANT_PAGES)
@pytest.mark.parametrize(
    "who", ["a_viewer", "a_responder", "analyst_a", "outsider"], ids=lambda w: w
)
def test_other_roles_are_refused_with_a_page_that_says_why(page, who, world, as_user):
    client = as_user(world[who])
    response = client.get(reverse(page))
    assert response.status_code == 403
    assert b"managed by your organisation&#x27;s admins" in response.content
    # ... and they cannot change anything either
    assert client.post(reverse(page), {"name": "x", "email": "x@example.com"}).status_code == 403


def test_staff_below_admin_are_refused(world, as_user, make_user):
    for role in ("lead", "manager", "analyst_l3"):
        staff = make_user(None, role, tenants=[world["a"]])
        assert as_user(staff).get(reverse("settings-members")).status_code == 403


@pytest.mark.parametrize("who", ["a_viewer", "a_responder", "analyst_a", "outsider", "mssp_admin"])
def test_everybody_has_their_own_tokens_page(who, world, as_user):
    issue_token(world[who])
    response = as_user(world[who]).get(reverse("settings-tokens"))
    assert response.status_code == 200
    assert b"<strong>test</strong>" in response.content


def test_anonymous_callers_are_sent_to_login(client):
    for page in ALL_PAGES:
        response = client.get(reverse(page))
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_mssp_admin_chooses_a_tenant_then_administers_it(world, as_user):
    client = as_user(world["mssp_admin"])
    chooser = client.get(reverse("settings-members"))
    assert chooser.status_code == 200
    assert b"?tenant=tenant-a" in chooser.content and b"?tenant=tenant-b" in chooser.content
    page = client.get(reverse("settings-members") + "?tenant=tenant-b")
    assert page.status_code == 200
    assert world["b_viewer"].username.encode() in page.content
    assert world["a_viewer"].username.encode() not in page.content
    assert b"?tenant=tenant-b" in page.content  # links and forms stay on tenant B
    assert client.get(reverse("settings-members") + "?tenant=nope").status_code == 404
    assert client.post(reverse("settings-contacts"), {"name": "x"}).status_code == 404


def test_mssp_admin_changes_are_audited_in_the_tenant(world, as_user):
    client = as_user(world["mssp_admin"])
    response = client.post(
        reverse("settings-contacts") + "?tenant=tenant-b",
        {"name": "NOC desk", "email": "noc@b.example", "notify_sla": "on"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("settings-contacts") + "?tenant=tenant-b"
    assert read(Contact, tenant=world["b"], name="NOC desk")
    assert "contact.created" in audit_actions(world["b"])


def test_customer_admin_cannot_name_another_tenant(world, as_user):
    client = as_user(world["a_admin"])
    for page in TENANT_PAGES:
        assert client.get(reverse(page) + "?tenant=tenant-b").status_code == 404


# --- tenant A's admin and tenant B's objects ---------------------------------------------------
def test_customer_admin_cannot_touch_another_tenants_objects(world, as_user):
    b_member = membership_of(world["b_viewer"])
    b_admin = membership_of(world["b_admin"])
    b_source, b_contact = world["b_source"], world["b_contact"]
    # B's objects exist, so every 404 below is isolation, not absence
    assert read(Membership, pk=b_member.pk) and read(Membership, pk=b_admin.pk)
    with rls_bypass("test"):
        before_source = unscoped(IntakeSource).values().get(pk=b_source.pk)
        before_contact = unscoped(Contact).values().get(pk=b_contact.pk)
    before_audit = audit_actions(world["b"])

    client = as_user(world["a_admin"])
    attempts = [
        ("post", reverse("settings-member-role", args=[b_member.pk]), {"role": "admin"}),
        ("post", reverse("settings-member-role", args=[b_admin.pk]), {"role": "viewer"}),
        ("post", reverse("settings-member-remove", args=[b_member.pk]), {}),
        ("get", reverse("settings-source-edit", args=[b_source.pk]), None),
        ("post", reverse("settings-source-edit", args=[b_source.pk]), {"name": "mine"}),
        ("post", reverse("settings-source-rotate", args=[b_source.pk]), {}),
        ("post", reverse("settings-source-revoke", args=[b_source.pk]), {}),
        ("get", reverse("settings-contact-edit", args=[b_contact.pk]), None),
        ("post", reverse("settings-contact-edit", args=[b_contact.pk]), {"name": "x"}),
        ("post", reverse("settings-contact-delete", args=[b_contact.pk]), {}),
    ]
    for method, url, data in attempts:
        response = getattr(client, method)(url, data) if data is not None else client.get(url)
        assert response.status_code == 404, url
        missing = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", str(uuid.uuid4()), url)
        again = getattr(client, method)(missing, data) if data is not None else client.get(missing)
        assert again.status_code == 404 and page_text(again) == page_text(response)  # same 404

    assert membership_of(world["b_viewer"]).role == "viewer"
    assert membership_of(world["b_admin"]).role == "admin"
    assert User.objects.get(pk=world["b_viewer"].pk).is_active
    with rls_bypass("test"):
        assert unscoped(IntakeSource).values().get(pk=b_source.pk) == before_source
        assert unscoped(Contact).values().get(pk=b_contact.pk) == before_contact
    assert audit_actions(world["b"]) == before_audit

    # and nothing of B's is on A's pages
    for page in TENANT_PAGES:
        content = client.get(reverse(page)).content
        for text in (world["b_viewer"].username, b_source.name, "B&#x27;s CISO"):
            assert text.encode() not in content, (page, text)


def test_nobody_revokes_another_users_token(world, as_user):
    issue_token(world["b_admin"])
    token = ApiToken.objects.get(user=world["b_admin"])
    response = as_user(world["a_admin"]).post(reverse("settings-token-revoke", args=[token.pk]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert token.name.encode() not in as_user(world["a_admin"]).get("/settings/tokens/").content


def test_malformed_ids_are_404(world, as_user):
    client = as_user(world["a_admin"])
    for url in ("/settings/members/123/remove/", "/settings/contacts/not-a-uuid/"):
        assert client.post(url).status_code == 404


# --- members -----------------------------------------------------------------------------------
def test_members_page_lists_role_and_last_login(world, as_user):
    viewer = world["a_viewer"]
    User.objects.filter(pk=viewer.pk).update(last_login=timezone.now())
    content = as_user(world["a_admin"]).get(reverse("settings-members")).content.decode()
    assert viewer.username in content and world["a_responder"].username in content
    assert 'value="responder" selected' in content
    assert "Never" in content  # the responder never logged in


def test_adding_a_member_with_a_password(world, as_user):
    response = as_user(world["a_admin"]).post(
        reverse("settings-members"),
        {
            "username": "new.analyst",
            "email": "na@a.example",
            "role": "responder",
            "password": "a-long-enough-passphrase-2026",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="tenant-a/new.analyst")  # the tenant's own namespace
    assert user.check_password("a-long-enough-passphrase-2026")
    assert membership_of(user).role == "responder" and membership_of(user).tenant == world["a"]
    assert "membership.created" in audit_actions(world["a"])
    page = as_user(world["a_admin"]).get(response["Location"])
    assert b"tenant-a/new.analyst added as responder" in page.content


def test_adding_a_member_without_a_password_sends_a_link(
    world, as_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(world["a_admin"]).post(
            reverse("settings-members"),
            {"username": "invitee", "email": "invitee@a.example", "role": "viewer"},
        )
    assert response.status_code == 302
    user = User.objects.get(username="tenant-a/invitee")
    assert not user.has_usable_password()
    assert [m.to for m in mail.outbox] == [["invitee@a.example"]]
    assert "/reset/" in mail.outbox[0].body


@pytest.mark.parametrize(
    "data, field",
    [
        ({"username": "x" * 100_000, "email": "a@b.example", "role": "viewer"}, "username"),
        ({"username": "nul\x00user", "email": "a@b.example", "role": "viewer"}, "username"),
        ({"username": "<script>", "email": "a@b.example", "role": "viewer"}, "username"),
        ({"username": "ok", "email": "not-an-email", "role": "viewer"}, "email"),
        ({"username": "ok", "email": "a\x00@b.example", "role": "viewer"}, "email"),
        ({"username": "ok", "email": "a@b.example", "role": "owner"}, "role"),
        (
            {"username": "ok", "email": "a@b.example", "role": "viewer", "password": "123"},
            "password",
        ),
        (
            {"username": "ok", "email": "a@b.example", "role": "viewer", "password": "p" * 10_000},
            "password",
        ),
        ({"username": "", "email": "", "role": ""}, "username"),
    ],
)
def test_bad_member_input_is_a_form_error(data, field, world, as_user):
    before = read(Membership, tenant=world["a"])
    response = as_user(world["a_admin"]).post(reverse("settings-members"), data)
    assert response.status_code == 400
    assert f'id="id_{field}_error"'.encode() in response.content
    assert len(read(Membership, tenant=world["a"])) == len(before)
    if data["username"] == "<script>":  # echoed back into the form, escaped
        assert b'value="&lt;script&gt;"' in response.content


def test_taken_username_is_a_form_error(world, as_user):
    """Taken in the customer admin's own tenant; a name taken elsewhere is free here
    (tests/tenants/test_member_usernames.py)."""
    client = as_user(world["a_admin"])
    data = {"username": "twice", "email": "x@a.example", "role": "viewer"}
    assert client.post(reverse("settings-members"), data).status_code == 302
    response = client.post(reverse("settings-members"), {**data, "username": "TWICE"})
    assert response.status_code == 400
    assert b"Your organisation already has a user of that name" in response.content


def test_taken_username_is_a_form_error_for_an_mssp_admin(world, as_user):
    response = as_user(world["mssp_admin"]).post(
        reverse("settings-members") + "?tenant=tenant-a",
        {"username": world["b_viewer"].username.upper(), "email": "x@a.example", "role": "viewer"},
    )
    assert response.status_code == 400 and b"That username is taken." in response.content


def test_changing_a_role(world, as_user):
    member = membership_of(world["a_viewer"])
    response = as_user(world["a_admin"]).post(
        reverse("settings-member-role", args=[member.pk]), {"role": "responder"}
    )
    assert response.status_code == 302
    assert membership_of(world["a_viewer"]).role == "responder"
    assert world["a_viewer"].has_perm("tenants.respond_escalations", world["a"])
    with rls_bypass("test"):
        entry = unscoped(AuditEvent).get(action="membership.role_changed")
    assert entry.data == {"from": "viewer", "to": "responder"}
    assert entry.actor_id == world["a_admin"].pk


def test_unknown_role_is_an_error_next_to_the_member(world, as_user):
    member = membership_of(world["a_viewer"])
    for role in ("superuser", "admin\x00", "x" * 10_000, ""):
        response = as_user(world["a_admin"]).post(
            reverse("settings-member-role", args=[member.pk]), {"role": role}
        )
        assert response.status_code == 400
        assert b'class="errorlist" role="alert"' in response.content
    assert membership_of(world["a_viewer"]).role == "viewer"


def test_the_last_admin_cannot_demote_themselves(world, as_user):
    me = membership_of(world["a_admin"])
    response = as_user(world["a_admin"]).post(
        reverse("settings-member-role", args=[me.pk]), {"role": "viewer"}
    )
    assert response.status_code == 400
    assert b"is the only admin of Tenant A" in response.content
    assert membership_of(world["a_admin"]).role == "admin"


def test_an_admin_may_step_down_when_another_admin_remains(world, as_user):
    second = MembershipFactory(tenant=world["a"], role="admin").user
    me = membership_of(world["a_admin"])
    client = as_user(world["a_admin"])
    response = client.post(reverse("settings-member-role", args=[me.pk]), {"role": "responder"})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert membership_of(world["a_admin"]).role == "responder"
    assert client.get(reverse("settings-members")).status_code == 403
    assert membership_of(second).role == "admin"


def test_an_admin_cannot_remove_themselves(world, as_user):
    me = membership_of(world["a_admin"])
    response = as_user(world["a_admin"]).post(reverse("settings-member-remove", args=[me.pk]))
    assert response.status_code == 400 and b"You cannot remove yourself." in response.content
    assert read(Membership, pk=me.pk)


def test_removing_a_member_closes_the_account_and_revokes_tokens(world, as_user):
    viewer = world["a_viewer"]
    issue_token(viewer)
    member = membership_of(viewer)
    response = as_user(world["a_admin"]).post(reverse("settings-member-remove", args=[member.pk]))
    assert response.status_code == 302
    assert not read(Membership, pk=member.pk)
    assert not User.objects.get(pk=viewer.pk).is_active
    assert not ApiToken.objects.filter(user=viewer, revoked_at__isnull=True).exists()
    assert "membership.removed" in audit_actions(world["a"])


def test_destructive_buttons_ask_for_confirmation(world, as_user):
    client = as_user(world["a_admin"])
    for page in ("settings-members", "settings-sources", "settings-contacts"):
        content = client.get(reverse(page)).content
        assert b'<details class="confirm">' in content, page


def test_state_changes_need_post(world, as_user):
    member = membership_of(world["a_viewer"])
    client = as_user(world["a_admin"])
    assert client.get(reverse("settings-member-remove", args=[member.pk])).status_code == 405
    assert (
        client.get(reverse("settings-source-revoke", args=[world["a_source"].pk])).status_code
        == 405
    )
    assert read(Membership, pk=member.pk)


# --- API tokens --------------------------------------------------------------------------------
def test_a_new_token_is_shown_once_and_stored_hashed(world, as_user):
    client = as_user(world["a_responder"])
    response = client.post(
        reverse("settings-tokens"),
        {"name": "SOAR playbook", "scopes": ["read", "write"], "expires_in_days": "7"},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw = shown_secret(response)
    token = ApiToken.objects.get(user=world["a_responder"], name="SOAR playbook")
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(list(ApiToken.objects.values_list()))
    assert token.scopes == ["read", "write"]
    assert 6 <= (token.expires_at - timezone.now()).days <= 7
    # shown once: the list page afterwards carries only the prefix
    later = client.get(reverse("settings-tokens")).content.decode()
    assert raw not in later and token.prefix in later
    # and it works against the API
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    assert "token.created" in audit_actions(world["a"])


def test_the_form_offers_only_the_scopes_the_role_allows(world, as_user):
    viewer_form = as_user(world["a_viewer"]).get(reverse("settings-tokens")).content
    assert b'value="read"' in viewer_form and b'value="write"' not in viewer_form
    admin_form = as_user(world["a_admin"]).get(reverse("settings-tokens")).content
    assert b'value="admin"' in admin_form
    assert b'value="intake"' not in admin_form  # SIEMs use their source's intake key


@pytest.mark.parametrize(
    "data",
    [
        {"name": "escalate", "scopes": ["read", "admin"], "expires_in_days": "30"},
        {"name": "escalate", "scopes": ["write"], "expires_in_days": "30"},
        {"name": "unknown", "scopes": ["root"], "expires_in_days": "30"},
        {"name": "none", "expires_in_days": "30"},
        {"name": "x" * 100_000, "scopes": ["read"], "expires_in_days": "30"},
        {"name": "nul\x00", "scopes": ["read"], "expires_in_days": "30"},
        {"name": "forever", "scopes": ["read"], "expires_in_days": "100000"},
        {"name": "past", "scopes": ["read"], "expires_in_days": "-1"},
        {"name": "nan", "scopes": ["read"], "expires_in_days": "NaN"},
    ],
)
def test_bad_token_input_is_a_form_error(data, world, as_user):
    response = as_user(world["a_viewer"]).post(reverse("settings-tokens"), data)
    assert response.status_code == 400
    assert b'class="errorlist"' in response.content
    assert b'id="secret-value"' not in response.content
    assert not ApiToken.objects.filter(user=world["a_viewer"]).exists()


def test_scope_escalation_is_refused_by_the_service_rule(world, as_user):
    response = as_user(world["a_responder"]).post(
        reverse("settings-tokens"), {"name": "t", "scopes": ["admin"], "expires_in_days": "1"}
    )
    assert response.status_code == 400
    assert not ApiToken.objects.filter(user=world["a_responder"]).exists()


def test_revoking_a_token(world, as_user):
    issue_token(world["a_viewer"])
    token = ApiToken.objects.get(user=world["a_viewer"])
    client = as_user(world["a_viewer"])
    response = client.post(reverse("settings-token-revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "token.revoked" in audit_actions(world["a"])
    assert b"Revoked" in client.get(reverse("settings-tokens")).content


def test_tokens_page_empty_state(world, as_user):
    content = as_user(world["outsider"]).get(reverse("settings-tokens")).content
    assert b"You have no API tokens." in content


# --- intake sources ----------------------------------------------------------------------------
def test_creating_a_source_shows_its_key_once(world, as_user):
    client = as_user(world["a_admin"])
    response = client.post(
        reverse("settings-sources"),
        {"name": "Berlin gateway", "kind": "generic", "expected_interval_minutes": "30"},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = shown_secret(response)
    source = read(IntakeSource, tenant=world["a"], name="Berlin gateway")[0]
    assert source.key_digest == hashlib.sha256(key.encode()).hexdigest()
    assert source.expected_interval_minutes == 30 and source.kind == "generic"
    assert key not in client.get(reverse("settings-sources")).content.decode()
    assert "intake_key.created" in audit_actions(world["a"])
    # the key works for intake
    posted = client.post(
        "/api/v1/intake/generic/",
        {"title": "t", "severity": "low"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert posted.status_code == 202


def test_rotating_a_key_voids_the_old_one(world, as_user):
    source = world["a_source"]
    old_digest = source.key_digest
    response = as_user(world["a_admin"]).post(reverse("settings-source-rotate", args=[source.pk]))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    key = shown_secret(response)
    after = read(IntakeSource, pk=source.pk)[0]
    assert after.key_digest == hashlib.sha256(key.encode()).hexdigest() != old_digest
    assert after.key_rotated_at is not None
    assert "intake_key.rotated" in audit_actions(world["a"])


def test_revoking_a_source_disables_it(world, as_user):
    source = world["a_source"]
    response = as_user(world["a_admin"]).post(reverse("settings-source-revoke", args=[source.pk]))
    assert response.status_code == 302
    after = read(IntakeSource, pk=source.pk)[0]
    assert after.status == "disabled" and after.key_digest.startswith("revoked:")
    assert "intake_key.revoked" in audit_actions(world["a"])


def test_silent_sources_are_marked(world, as_user):
    with rls_bypass("test"):
        unscoped(IntakeSource).filter(pk=world["a_source"].pk).update(
            expected_interval_minutes=5, last_seen_at=timezone.now() - timezone.timedelta(hours=1)
        )
    content = as_user(world["a_admin"]).get(reverse("settings-sources")).content
    assert b'<span class="badge warn">Silent</span>' in content


def test_editing_a_source(world, as_user):
    source = world["a_source"]
    client = as_user(world["a_admin"])
    assert client.get(reverse("settings-source-edit", args=[source.pk])).status_code == 200
    response = client.post(
        reverse("settings-source-edit", args=[source.pk]),
        {"name": "Renamed", "expected_interval_minutes": ""},
    )
    assert response.status_code == 302
    assert read(IntakeSource, pk=source.pk)[0].name == "Renamed"
    assert "intake_source.updated" in audit_actions(world["a"])


@pytest.mark.parametrize(
    "data",
    [
        {"name": "dup", "kind": "syslog"},
        {"name": "x" * 100_000, "kind": "wazuh"},
        {"name": "nul\x00", "kind": "wazuh"},
        {"name": "", "kind": "wazuh"},
        {"name": "n", "kind": "wazuh", "expected_interval_minutes": "-5"},
        {"name": "n", "kind": "wazuh", "expected_interval_minutes": "9" * 40},
    ],
)
def test_bad_source_input_is_a_form_error(data, world, as_user):
    before = len(read(IntakeSource, tenant=world["a"]))
    response = as_user(world["a_admin"]).post(reverse("settings-sources"), data)
    assert response.status_code == 400
    assert b'class="errorlist"' in response.content
    assert len(read(IntakeSource, tenant=world["a"])) == before


def test_a_duplicate_source_name_is_a_form_error(world, as_user):
    response = as_user(world["a_admin"]).post(
        reverse("settings-sources"), {"name": world["a_source"].name, "kind": "wazuh"}
    )
    assert response.status_code == 400
    assert b"This tenant already has a source of that name." in response.content
    # ... but tenant B's names are no clash (and not revealed)
    response = as_user(world["a_admin"]).post(
        reverse("settings-sources"), {"name": world["b_source"].name, "kind": "wazuh"}
    )
    assert response.status_code == 200


# --- contacts ----------------------------------------------------------------------------------
def test_adding_editing_and_removing_a_contact(world, as_user):
    client = as_user(world["a_admin"])
    response = client.post(
        reverse("settings-contacts"),
        {
            "name": "Duty officer",
            "email": "duty@a.example",
            "phone": "+49 30 1234",
            "notify_sla": "on",
        },
    )
    assert response.status_code == 302
    contact = read(Contact, tenant=world["a"], name="Duty officer")[0]
    assert contact.notify_sla and not contact.receive_reports
    edit = reverse("settings-contact-edit", args=[contact.pk])
    assert b"duty@a.example" in client.get(edit).content
    response = client.post(
        edit, {"name": "Duty officer", "email": "soc@a.example", "receive_reports": "on"}
    )
    assert response.status_code == 302
    contact = read(Contact, pk=contact.pk)[0]
    assert contact.email == "soc@a.example" and contact.receive_reports and not contact.notify_sla
    response = client.post(reverse("settings-contact-delete", args=[contact.pk]))
    assert response.status_code == 302 and not read(Contact, pk=contact.pk)
    actions = audit_actions(world["a"])
    assert {"contact.created", "contact.updated", "contact.deleted"} <= set(actions)


@pytest.mark.parametrize(
    "data",
    [
        {"name": "x", "email": "not an email"},
        {"name": "x", "email": "a@" + "b" * 300 + ".example"},
        {"name": "x" * 100_000, "email": "a@b.example"},
        {"name": "nul\x00", "email": "a@b.example"},
        {"name": "x", "email": "a@b.example", "phone": "1" * 1000},
        {"name": "", "email": ""},
    ],
)
def test_bad_contact_input_is_a_form_error(data, world, as_user):
    client = as_user(world["a_admin"])
    before = len(read(Contact, tenant=world["a"]))
    assert client.post(reverse("settings-contacts"), data).status_code == 400
    edit = reverse("settings-contact-edit", args=[world["a_contact"].pk])
    response = client.post(edit, data)
    assert response.status_code == 400 and b'class="errorlist"' in response.content
    assert len(read(Contact, tenant=world["a"])) == before
    assert read(Contact, pk=world["a_contact"].pk)[0].name == "CISO"


def test_contacts_empty_state_says_what_to_do(two_tenants, as_user):
    content = as_user(two_tenants["a_admin"]).get(reverse("settings-contacts")).content
    assert b"No contacts yet" in content


# --- audit log ---------------------------------------------------------------------------------
def test_audit_log_newest_first_paginated_and_own_tenant_only(world, as_user):
    for i in range(60):
        audit.record(
            f"test.a{i:02d}", tenant=world["a"], actor=world["a_admin"], summary=f"A {i:02d}"
        )
    audit.record("test.secret", tenant=world["b"], summary="B only")
    client = as_user(world["a_admin"])
    first = client.get(reverse("settings-audit")).content.decode()
    assert "B only" not in first and "test.secret" not in first
    assert first.index("A 59") < first.index("A 58")
    # 50 a page: the admin's login (recorded by force_login) is the newest, then A 59 ... A 11
    assert "A 11" in first and "A 10" not in first
    older = re.search(r'href="([^"]*cursor=[^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(older).content.decode()
    assert "A 10" in second and "A 00" in second and "A 11" not in second
    assert "Newest" in second


def test_audit_log_filters(world, as_user):
    audit.record("membership.created", tenant=world["a"], actor=world["a_admin"], summary="M")
    audit.record("token.created", tenant=world["a"], actor=world["a_viewer"], summary="T")
    client = as_user(world["a_admin"])
    url = reverse("settings-audit")
    content = client.get(url, {"action": "membership."}).content.decode()
    assert ">M<" not in content or "membership.created" in content
    assert "token.created" not in content
    content = client.get(url, {"actor": world["a_viewer"].username}).content.decode()
    assert "token.created" in content and "membership.created" not in content
    today = timezone.now().date()
    content = client.get(url, {"since": str(today - timezone.timedelta(days=1))}).content.decode()
    assert "token.created" in content
    content = client.get(url, {"until": str(today - timezone.timedelta(days=3))}).content.decode()
    assert "No entries match these filters." in content


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"since": "2026-05-01", "until": "2026-04-01"},
        {"action": "x" * 1000},
        {"cursor": "garbage"},
        {"cursor": "2026-01-01T00:00:00|not-a-uuid"},
    ],
)
def test_bad_audit_filters_are_form_errors(params, world, as_user):
    response = as_user(world["a_admin"]).get(reverse("settings-audit"), params)
    assert response.status_code == 400 and b'class="errorlist"' in response.content


def test_audit_log_empty_state(world, as_user, make_tenant):
    # (a customer admin's own login is always in their log; an MSSP admin sees a new tenant's)
    tenant = make_tenant()
    url = reverse("settings-audit") + f"?tenant={tenant.slug}"
    content = as_user(world["mssp_admin"]).get(url).content
    assert b"Nothing has been recorded for" in content


def test_settings_changes_reach_the_audit_page(world, as_user):
    client = as_user(world["a_admin"])
    client.post(reverse("settings-contacts"), {"name": "Audited", "email": "au@a.example"})
    content = client.get(reverse("settings-audit")).content.decode()
    assert "contact.created" in content and world["a_admin"].username in content


# --- query counts ------------------------------------------------------------------------------
def _add_rows(page: str, world, n: int) -> None:
    tenant = world["a"]
    for i in range(n):
        if page == "settings-members":
            MembershipFactory(tenant=tenant)
        elif page == "settings-sources":
            IntakeSourceFactory(tenant=tenant)
        elif page == "settings-contacts":
            make_contact(tenant, name=f"c{uuid.uuid4().hex}", email=f"c{i}@a.example")
        elif page == "settings-audit":
            audit.record("test.event", tenant=tenant, actor=world["a_admin"], data={"i": i})
        elif page == "settings-tokens":
            issue_token(world["a_admin"])


@pytest.mark.parametrize("page", ALL_PAGES)
def test_list_page_query_count_does_not_grow_with_rows(page, world, as_user):
    client = as_user(world["a_admin"])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse(page))
        assert response.status_code == 200
        return len(captured)

    _add_rows(page, world, 2)
    queries()
    few = queries()
    _add_rows(page, world, 15)
    many = queries()
    assert many == few, f"{page}: {few} queries for a few rows, {many} for more"
    # session, user, the caller's access and tenant context (8), then the page's own reads
    assert few <= 16, f"{page}: {few} queries"


def test_a_sources_kind_cannot_be_changed_by_posting_it(world, as_user):
    source = world["a_source"]
    response = as_user(world["a_admin"]).post(
        reverse("settings-source-edit", args=[source.pk]), {"name": "Same", "kind": "cef"}
    )
    assert response.status_code == 302
    after = read(IntakeSource, pk=source.pk)[0]
    assert after.name == "Same" and after.kind == source.kind


def test_mssp_admin_rotates_a_customers_key(world, as_user):
    source = world["b_source"]
    url = reverse("settings-source-rotate", args=[source.pk]) + "?tenant=tenant-b"
    response = as_user(world["mssp_admin"]).post(url)
    assert response.status_code == 200
    key = shown_secret(response)
    after = read(IntakeSource, pk=source.pk)[0]
    assert after.key_digest == hashlib.sha256(key.encode()).hexdigest()
    # ... but not through tenant A's address
    wrong = reverse("settings-source-rotate", args=[source.pk]) + "?tenant=tenant-a"
    assert as_user(world["mssp_admin"]).post(wrong).status_code == 404
    assert read(IntakeSource, pk=source.pk)[0].key_digest == after.key_digest


def test_the_account_menu_offers_exactly_the_pages_the_caller_may_open(world, as_user):
    admin_page = as_user(world["a_admin"]).get(reverse("settings-tokens")).content.decode()
    for page in ALL_PAGES:
        assert f'href="{reverse(page)}"' in admin_page, page
    viewer_page = as_user(world["a_viewer"]).get(reverse("settings-tokens")).content.decode()
    assert f'href="{reverse("settings-tokens")}"' in viewer_page
    for page in TENANT_PAGES:
        assert f'href="{reverse(page)}"' not in viewer_page, page


def test_an_oversized_form_post_is_refused_without_a_500(world, as_user):
    huge = "x" * (6 * 1024 * 1024)
    response = as_user(world["a_admin"]).post(
        reverse("settings-contacts"), {"name": huge, "email": "a@b.example"}
    )
    assert 400 <= response.status_code < 500
    assert len(read(Contact, tenant=world["a"])) == 1
