"""Every e-mail the portal sends can be sent whatever text went into its subject (a tenant
name, an incident title), and an address the mail server refuses for good does not stop the
others."""

from __future__ import annotations

import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend

from reports import services as reports
from tenants import mail as tenant_mail
from tenants.models import Contact, Tenant
from tenants.rls import rls_bypass
from tests.factories import generated_report

pytestmark = pytest.mark.django_db

HOSTILE_NAME = "Acme\r\nBcc: attacker@evil.example\u2028Corp"


def rename(tenant, name: str) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(name=name)
    tenant.refresh_from_db()


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses nobody@a.example for good (550) and takes the others."""

    def send_messages(self, messages):
        for message in messages:
            if "nobody@a.example" in message.to:
                raise smtplib.SMTPRecipientsRefused({"nobody@a.example": (550, b"No such user")})
            mail.outbox.append(message)
        return len(messages)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("a\r\nb", "a b"),
        ("a\nBcc: x@y", "a Bcc: x@y"),
        ("\u2028\u2029\x85\x0b\x0c\x1b", "(no subject)"),
        ("tab\there", "tab here"),
        ("x" * 1000, "x" * tenant_mail.SUBJECT_MAX),
        (None, "(no subject)"),
    ],
)
def test_a_subject_is_one_bounded_line(text, expected):
    assert tenant_mail.subject(text) == expected


def test_a_tenant_name_with_a_line_break_does_not_stop_the_set_password_mail(
    api, two_tenants, django_capture_on_commit_callbacks
):
    rename(two_tenants["a"], HOSTILE_NAME)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(two_tenants["mssp_admin"]).post(
            "/api/v1/tenants/tenant-a/members/",
            {"username": "dave", "email": "dave@a.example", "role": "viewer"},
            format="json",
        )
    assert response.status_code == 201
    (message,) = mail.outbox
    assert message.subject == "Your Acme Bcc: attacker@evil.example Corp security portal account"
    assert message.message()["Bcc"] is None


def test_a_tenant_name_with_a_line_break_does_not_stop_the_report_mail(two_tenants):
    with rls_bypass("test fixture"):
        Contact.objects.create(tenant=two_tenants["a"], name="CISO", email="ciso@a.example")
    rename(two_tenants["a"], HOSTILE_NAME)
    report = generated_report(two_tenants["a"], two_tenants["a_admin"])
    assert reports.report_email(two_tenants["a"].pk, report.pk) == ["ciso@a.example"]
    (message,) = mail.outbox
    assert message.subject.startswith("Security report: Acme Bcc: attacker@evil.example Corp, ")
    assert "\n" not in message.subject and message.message()["Bcc"] is None


def test_a_report_contact_refused_for_good_does_not_stop_the_others(two_tenants, settings):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    with rls_bypass("test fixture"):
        for address in ("ciso@a.example", "nobody@a.example", "zed@a.example"):
            Contact.objects.create(tenant=two_tenants["a"], name=address, email=address)
    report = generated_report(two_tenants["a"], two_tenants["a_admin"])
    sent = reports.report_email(two_tenants["a"].pk, report.pk)
    assert sent == ["ciso@a.example", "zed@a.example"]
    assert sorted(m.to[0] for m in mail.outbox) == sent
    with rls_bypass("test"):
        report.refresh_from_db()
    assert report.emailed_at is not None  # done: a retry would meet the same refusal
    assert "nobody@a.example" in report.email_error and "550" in report.email_error
    assert report.emailed_to == sent
