"""A real Celery worker (solo pool: one process, one database connection pool, tasks back to
back) running set-password tasks of two tenants in alternation: each task sees only its own
tenant, none finds a tenant context left by the one before (TenantTask would raise
CarriedTenantContext), and a task naming one tenant with another tenant's membership does
nothing."""

from __future__ import annotations

import email
import re
import time
import uuid
from email.policy import default as default_policy

import pytest
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from tenants.models import Membership
from tenants.rls import rls_bypass
from tests.factories import MembershipFactory, TenantFactory
from tests.live import running_worker

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.timeout(180)]

PER_TENANT = 20
WAIT_SECONDS = 60
SEPARATOR = b"\n" + b"-" * 79 + b"\n"


def invitee(tenant) -> Membership:
    """A customer user added without a password: due a set-password link."""
    membership = MembershipFactory(tenant=tenant, role="viewer")
    membership.user.set_unusable_password()
    membership.user.save(update_fields=["password"])
    return membership


def sent_messages(directory) -> list[email.message.EmailMessage]:
    """Every message the file-based backend wrote. Counted per message, not per file: the
    backend names a file by second and object id, so two sends can share one file."""
    messages = []
    for path in sorted(directory.glob("*.log")):
        for chunk in path.read_bytes().split(SEPARATOR):
            if chunk.strip():
                messages.append(email.message_from_bytes(chunk, policy=default_policy))
    return messages


def outcomes(log_text: str) -> dict[str, str]:
    """task id -> return value, from the worker's "Task ...[id] succeeded in ...s: value"."""
    pattern = r"send_set_password_link\[([0-9a-f-]{36})\] succeeded in [0-9.e-]+s: (\w+)"
    return dict(re.findall(pattern, log_text))


@pytest.mark.django_db(transaction=True)
def test_worker_running_alternating_tenants_tasks_never_carries_tenant_context(
    tmp_path, broker_app
):
    from tenants.tasks import send_set_password_link

    a = TenantFactory(slug="worker-tenant-a", name="Worker Tenant A")
    b = TenantFactory(slug="worker-tenant-b", name="Worker Tenant B")
    invited = {a.pk: [invitee(a) for _ in range(PER_TENANT)]}
    invited[b.pk] = [invitee(b) for _ in range(PER_TENANT)]
    # Only ever named by a task of the *other* tenant: must stay uninvited.
    crossed_targets = {a.pk: [invitee(a), invitee(a)], b.pk: [invitee(b), invitee(b)]}
    tenant_name = {a.pk: a.name, b.pk: b.name}

    queue = f"test-tenant-context-{uuid.uuid4().hex[:10]}"
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    broker = broker_app.conf.broker_url
    assert broker.startswith("redis://")

    with running_worker(
        tmp_path,
        queue,
        CELERY_BROKER_URL=broker,
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(mail_dir),
        DB_POOL="1",
    ) as log:
        expected: dict[str, str] = {}  # task id -> what it must return
        for i in range(PER_TENANT):
            for tenant in (a, b):
                membership = invited[tenant.pk][i]
                result = send_set_password_link.apply_async(
                    args=[tenant.pk, str(membership.pk)], queue=queue
                )
                expected[result.id] = "True"
            if i == PER_TENANT // 2:
                # Crossed: tenant A's id with tenant B's membership, and the reverse.
                for tenant, other in ((a, b), (b, a)):
                    for membership in crossed_targets[other.pk]:
                        result = send_set_password_link.apply_async(
                            args=[tenant.pk, str(membership.pk)], queue=queue
                        )
                        expected[result.id] = "False"

        deadline = time.monotonic() + WAIT_SECONDS
        log_text = ""
        while len(outcomes(log_text)) < len(expected):
            assert "Traceback" not in log_text, log_text[-3000:]  # a task failed: no waiting
            assert time.monotonic() < deadline, log_text[-3000:]
            time.sleep(0.2)
            log_text = log.read_text(errors="replace")

    assert outcomes(log_text) == expected  # every task ran once; crossed ones returned False
    assert "CarriedTenantContext" not in log_text
    assert "Traceback" not in log_text

    with rls_bypass("test: read every tenant's memberships"):
        rows = {
            m.pk: m for m in Membership.objects.dangerously_unscoped("test").select_related("user")
        }
    for memberships in invited.values():
        assert all(rows[m.pk].invited_at is not None for m in memberships)
    for memberships in crossed_targets.values():
        assert all(rows[m.pk].invited_at is None for m in memberships)

    messages = sent_messages(mail_dir)
    recipients = [str(message["To"]) for message in messages]
    invited_emails = {m.user.email: m for ms in invited.values() for m in ms}
    assert sorted(recipients) == sorted(invited_emails)  # one message each, none to crossed
    for message in messages:
        membership = rows[invited_emails[str(message["To"])].pk]
        assert tenant_name[membership.tenant_id] in str(message["Subject"])
        body = message.get_content()
        assert f"Hello {membership.user.username}," in body
        assert f"/reset/{urlsafe_base64_encode(force_bytes(membership.user.pk))}/" in body
        other = next(name for pk, name in tenant_name.items() if pk != membership.tenant_id)
        assert other not in body
