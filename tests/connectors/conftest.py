from __future__ import annotations

import pytest

from connectors.models import Connector
from tenants.rls import tenant_scope
from tenants.sealed import seal

from .receivers import AbuseIpDb, VirusTotal

VT_KEY = "vt-key-0123456789abcdef-secret"
ABUSE_KEY = "abuse-key-9876543210fedcba-secret"


@pytest.fixture
def loopback(settings):
    """Connectors may reach the local receivers (127.0.0.0/8), for this test only; no
    waiting between retries (the sleeps are recorded by the clients' `sleep`)."""
    settings.CONNECTOR_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    settings.CONNECTOR_BACKOFF = 0.5
    settings.CONNECTOR_ATTEMPTS = 3
    settings.CONNECTOR_TIMEOUT = 0.5
    settings.CONNECTOR_CONNECT_TIMEOUT = 0.5
    settings.CONNECTOR_DEADLINE = 2.0


@pytest.fixture
def virustotal():
    with VirusTotal(keys={VT_KEY}) as receiver:
        yield receiver


@pytest.fixture
def abuseipdb():
    with AbuseIpDb(keys={ABUSE_KEY}) as receiver:
        yield receiver


def make_connector(tenant, kind: str, base_url: str, secrets: dict[str, str], **fields):
    with tenant_scope([tenant.pk]):
        return Connector.objects.create(
            tenant=tenant,
            kind=kind,
            name=fields.pop("name", f"{kind} of {tenant.slug}"),
            base_url=base_url,
            sealed_secrets=seal(secrets),
            secret_hint="…" + next(iter(secrets.values()), "")[-4:],
            **fields,
        )
