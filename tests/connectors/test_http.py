"""connectors.http against local vendor receivers over real HTTP: retries and backoff on 5xx
and timeouts (never on 4xx), Retry-After honoured when short and reported when long, the
per-connector budget, the address rules, OAuth tokens cached, and every call on record with
nothing secret in it."""

from __future__ import annotations

import pytest

from connectors.http import (
    ConnectorAnswerError,
    ConnectorClient,
    ConnectorRateLimited,
    ConnectorRefused,
    ConnectorUnavailable,
    check_destination,
)
from connectors.models import ConnectorCall
from tenants.rls import tenant_scope

from .conftest import VT_KEY, make_connector
from .receivers import Receiver, Shodan

pytestmark = pytest.mark.django_db


def calls(tenant):
    with tenant_scope([tenant.pk]):
        return list(ConnectorCall.objects.for_tenant(tenant).order_by("at", "attempt"))


def vt_client(tenant, receiver, slept=None, name="VirusTotal", **options):
    connector = make_connector(
        tenant,
        "virustotal",
        f"{receiver.base}/api/v3",
        {"api_key": VT_KEY},
        name=name,
        options=options,
    )
    return ConnectorClient(
        connector, purpose="enrich", sleep=(slept.append if slept is not None else lambda s: None)
    )


def vt_get(client, ident="203.0.113.7", **kwargs):
    return client.get(f"ip_addresses/{ident}", headers={"x-apikey": VT_KEY}, **kwargs)


def test_a_5xx_is_retried_with_exponential_backoff_then_answers(make_tenant, loopback, virustotal):
    tenant = make_tenant()
    virustotal.known["203.0.113.7"] = {"malicious": 3}
    virustotal.mode, virustotal.fail_times = "500", 2
    slept: list[float] = []
    answer = vt_get(vt_client(tenant, virustotal, slept))
    assert answer.status == 200 and answer.json()["data"]["id"] == "203.0.113.7"
    assert slept == [0.5, 1.0]
    assert [c.status for c in calls(tenant)] == [500, 500, 200]
    assert [c.attempt for c in calls(tenant)] == [1, 2, 3]


def test_a_4xx_is_never_retried_and_says_why(make_tenant, loopback, virustotal):
    tenant = make_tenant()
    client = vt_client(tenant, virustotal)
    with pytest.raises(ConnectorAnswerError) as failed:
        client.get("ip_addresses/203.0.113.7", headers={"x-apikey": "wrong-key"})
    assert failed.value.status == 401 and "credentials" in failed.value.message
    assert len(virustotal.seen) == 1


def test_5xx_to_the_end_is_unavailable_and_a_post_is_not_retried(make_tenant, loopback, virustotal):
    tenant = make_tenant()
    virustotal.mode = "500"
    client = vt_client(tenant, virustotal)
    with pytest.raises(ConnectorUnavailable):
        vt_get(client)
    assert len(virustotal.seen) == 3
    with pytest.raises(ConnectorUnavailable):
        client.post("ip_addresses/203.0.113.7/comments", json={"data": {}})
    assert len(virustotal.seen) == 4  # an action is not sent twice


def test_a_short_retry_after_is_waited_and_a_long_one_reported(make_tenant, loopback, virustotal):
    tenant = make_tenant()
    virustotal.known["203.0.113.7"] = {"harmless": 60}
    virustotal.mode, virustotal.fail_times, virustotal.retry_after = "429", 1, "2"
    slept: list[float] = []
    assert vt_get(vt_client(tenant, virustotal, slept)).status == 200
    assert slept == [2]
    virustotal.fail_times, virustotal.failures, virustotal.retry_after = 0, 0, "3600"
    with pytest.raises(ConnectorRateLimited) as limited:
        vt_get(vt_client(tenant, virustotal, slept, name="second"))
    assert limited.value.retry_after == 3600 and slept == [2]


def test_a_receiver_that_hangs_times_out_on_each_attempt(make_tenant, loopback, settings):
    settings.CONNECTOR_TIMEOUT = 0.2
    settings.CONNECTOR_ATTEMPTS = 2
    tenant = make_tenant()
    with Receiver(mode="hang") as hanging:
        client = vt_client(tenant, hanging)
        with pytest.raises(ConnectorUnavailable) as failed:
            vt_get(client)
    assert "did not answer in time" in failed.value.message
    assert [c.error for c in calls(tenant)] == [failed.value.message] * 2


def test_a_garbage_answer_is_a_clean_failure(make_tenant, loopback):
    tenant = make_tenant()
    with Receiver(mode="garbage") as garbage:
        answer = vt_get(vt_client(tenant, garbage))
        with pytest.raises(ConnectorAnswerError):
            answer.json()


def test_the_connectors_budget_refuses_before_sending(make_tenant, loopback, virustotal):
    tenant = make_tenant()
    virustotal.known["203.0.113.7"] = {"harmless": 1}
    client = vt_client(tenant, virustotal, rate_per_minute=2)
    vt_get(client)
    vt_get(client)
    with pytest.raises(ConnectorRateLimited):
        vt_get(client)
    assert len(virustotal.seen) == 2


def test_private_and_plain_http_public_addresses_are_refused_by_default(settings):
    settings.CONNECTOR_PRIVATE_NETWORKS = []
    for url in (
        "http://127.0.0.1:8000/",
        "https://10.1.2.3/api",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/",
        "http://93.184.216.34/",  # public, but not over TLS
        "ftp://93.184.216.34/",
        "https://user:pw@93.184.216.34/",
    ):
        with pytest.raises(ConnectorRefused):
            check_destination(url)
    settings.CONNECTOR_PRIVATE_NETWORKS = ["10.20.0.0/16"]
    assert check_destination("http://10.20.1.5:55000/").addresses == ("10.20.1.5",)
    with pytest.raises(ConnectorRefused):
        check_destination("https://10.21.0.1/")  # not in the allowed network
    with pytest.raises(ConnectorRefused):
        check_destination("https://224.0.0.1/")  # multicast never


def test_no_secret_reaches_a_calls_record(make_tenant, loopback):
    tenant = make_tenant()
    shodan_key = "shodan-key-5555-secret-value"
    with Shodan(keys={shodan_key}, clients={"app-id": "client-secret-xyz"}) as shodan:
        shodan.hosts["203.0.113.7"] = {"ports": [22], "api_key": shodan_key}
        connector = make_connector(tenant, "shodan", shodan.base, {"api_key": shodan_key})
        client = ConnectorClient(connector, purpose="enrich", sleep=lambda s: None)
        client.get("shodan/host/203.0.113.7", params={"key": shodan_key})
        token = client.oauth_token(
            f"{shodan.base}/tenant/oauth2/v2.0/token",
            client_id="app-id",
            client_secret="client-secret-xyz",
            scope="https://api.securitycenter.microsoft.com/.default",
        )
        client.get(
            "api-info", params={"key": shodan_key}, headers={"Authorization": f"Bearer {token}"}
        )
    recorded = calls(tenant)
    assert len(recorded) == 3
    text = " ".join(f"{c.url} {c.request_excerpt} {c.response_excerpt} {c.error}" for c in recorded)
    for secret in (shodan_key, "client-secret-xyz", token):
        assert secret not in text
    assert "[redacted]" in text and "203.0.113.7" in text


def test_an_oauth_token_is_fetched_once_and_refreshed_on_demand(make_tenant, loopback):
    tenant = make_tenant()
    with Receiver(clients={"app-id": "s3cret-client-value"}) as idp:
        connector = make_connector(
            tenant, "entra", idp.base, {"client_secret": "s3cret-client-value"}
        )
        client = ConnectorClient(connector, purpose="test")

        def token(**kwargs):
            return client.oauth_token(
                f"{idp.base}/contoso/oauth2/v2.0/token",
                client_id="app-id",
                client_secret="s3cret-client-value",
                **kwargs,
            )

        first = token()
        assert token() == first and len(idp.seen) == 1
        assert token(refresh=True) != first and len(idp.seen) == 2
        wrong = ConnectorClient(connector, purpose="test")
        with pytest.raises(ConnectorAnswerError):
            wrong.oauth_token(
                f"{idp.base}/contoso/oauth2/v2.0/token", client_id="app-id", client_secret="no"
            )


def test_a_disabled_connector_sends_nothing_but_a_connection_test(
    make_tenant, loopback, virustotal
):
    tenant = make_tenant()
    virustotal.known["8.8.8.8"] = {"harmless": 60}
    connector = make_connector(
        tenant, "virustotal", f"{virustotal.base}/api/v3", {"api_key": VT_KEY}, is_enabled=False
    )
    with pytest.raises(ConnectorRefused):
        ConnectorClient(connector, purpose="enrich").get("ip_addresses/8.8.8.8")
    assert virustotal.seen == []
    ConnectorClient(connector, purpose="test").get(
        "ip_addresses/8.8.8.8", headers={"x-apikey": VT_KEY}
    )
    assert len(virustotal.seen) == 1


def test_old_calls_are_swept_by_the_periodic_task(make_tenant, settings):
    from datetime import timedelta

    from django.utils import timezone

    from mssp.celery import app

    tenant = make_tenant()
    entry = settings.CELERY_BEAT_SCHEDULE["connector-calls"]
    with tenant_scope([tenant.pk]):
        for days in (1, settings.CONNECTOR_CALL_RETENTION_DAYS + 1):
            ConnectorCall.objects.create(
                tenant=tenant, method="GET", url="https://x", at=timezone.now() - timedelta(days)
            )
    app.loader.import_default_modules()  # the apps' tasks modules, as run_periodic does
    assert app.tasks[entry["task"]].apply().get() == 1
    assert len(calls(tenant)) == 1


def test_a_tool_with_a_certificate_of_its_own_is_trusted_only_when_given(
    make_tenant, loopback, tmp_path
):
    from .receivers import VirusTotal, self_signed

    tenant = make_tenant()
    cert_file, key_file, pem = self_signed(tmp_path)
    with VirusTotal(keys={VT_KEY}, tls=(cert_file, key_file)) as tool:
        tool.known["8.8.8.8"] = {"harmless": 60}
        untrusted = vt_client(tenant, tool)
        with pytest.raises(ConnectorUnavailable):
            vt_get(untrusted, "8.8.8.8")
        trusted = vt_client(tenant, tool, name="pinned", ca_certificate=pem)
        assert vt_get(trusted, "8.8.8.8").status == 200
