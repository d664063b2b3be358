from __future__ import annotations

import pytest

from connectors.models import Connector
from response.models import ActionPolicy, ResponseAction
from tenants.models import Team
from tenants.rls import rls_bypass, tenant_scope
from tenants.sealed import seal
from tests.factories import ingest_alerts

from .receivers import CLIENT_ID, CLIENT_SECRET, DIRECTORY, Defender

WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def loopback(settings):
    """Connectors may reach the local receivers (127.0.0.0/8) for this test only; one
    attempt, short timeouts, no waiting between retries: a hang fails in half a second."""
    settings.CONNECTOR_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    settings.CONNECTOR_ATTEMPTS = 1
    settings.CONNECTOR_BACKOFF = 0
    settings.CONNECTOR_TIMEOUT = 0.5
    settings.CONNECTOR_CONNECT_TIMEOUT = 0.5
    settings.CONNECTOR_DEADLINE = 1.0


@pytest.fixture
def defender():
    with Defender() as receiver:
        yield receiver


def make_connector(tenant, kind: str, base_url: str, secrets: dict[str, str], **fields):
    with tenant_scope([tenant.pk]):
        return Connector.objects.create(
            tenant=tenant,
            kind=kind,
            name=fields.pop("name", f"{kind} of {tenant.slug}"),
            base_url=base_url,
            sealed_secrets=seal(secrets),
            secret_hint="test",
            **fields,
        )


def microsoft(tenant, kind: str, receiver, **fields):
    return make_connector(
        tenant,
        kind,
        receiver.base,
        {"client_secret": CLIENT_SECRET},
        options={"tenant_id": DIRECTORY, "client_id": CLIENT_ID, "authority": receiver.base},
        **fields,
    )


def set_mode(tenant, action: str, mode: str, **fields) -> None:
    with tenant_scope([tenant.pk]):
        ActionPolicy.objects.update_or_create(
            tenant=tenant, action=action, defaults={"mode": mode, **fields}
        )


def rows(**filters) -> list[ResponseAction]:
    with rls_bypass("test assertion"):
        return list(
            ResponseAction.objects.dangerously_unscoped("test")
            .filter(**filters)
            .order_by("requested_at")
        )


@pytest.fixture
def world(two_tenants, loopback, defender):
    """Two hybrid tenants, each with an incident, an in-house team (admin, responder) and a
    webhook connector; A also has Defender (the local receiver)."""
    from alerts.models import Incident

    w = dict(two_tenants)
    w["defender"] = defender
    for name in ("a", "b"):
        ingest_alerts(w[f"{name}_source"], 1, title=f"{name.upper()}'s ransomware")
        with rls_bypass("test fixture"):
            w[f"{name}_incident"] = Incident.objects.dangerously_unscoped("t").get(tenant=w[name])
            team = Team.objects.create(tenant=w[name], name=f"{name} SOC", kind="in_house")
            team.members.add(w[f"{name}_admin"], w[f"{name}_responder"])
        w[f"{name}_webhook"] = make_connector(
            w[name],
            "webhook",
            "https://soar.example/hooks/act",
            {"signing_secret": WEBHOOK_SECRET},
            name=f"{name.upper()}'s SOAR",
        )
    w["a_defender"] = microsoft(w["a"], "defender", defender, name="Defender")
    return w
