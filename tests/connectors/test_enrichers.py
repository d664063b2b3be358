"""Each enrichment service's client against its local receiver, speaking the vendor's
documented shapes (tests/connectors/receivers.py): what its answer means as a verdict, its
"not known" answer, its connection test; and the built-in sources (the portal's intel, DNS)."""

from __future__ import annotations

import pytest

from alerts.intake.base import Observable
from alerts.models import Incident
from alerts.observables import observable_add
from connectors import kinds
from connectors.enrichment import dns_finding, intel_finding
from connectors.http import ConnectorClient
from tenants.rls import tenant_scope
from tests.factories import ingest_alerts

from .conftest import make_connector
from .receivers import GreyNoise, Misp, OpenCti, Shodan

pytestmark = pytest.mark.django_db

IP = "185.220.101.9"


def ask(connector, kind: str, value: str) -> kinds.Finding:
    spec = kinds.spec(connector.kind)
    assert spec.enrich is not None and spec.test is not None
    client = ConnectorClient(connector, purpose="enrich", sleep=lambda s: None)
    spec.test(client)
    return spec.enrich(client, kind, value)


def test_shodan_and_greynoise(make_tenant, loopback):
    tenant = make_tenant()
    with Shodan(keys={"shodan-key-1234"}) as shodan, GreyNoise(keys={"gn-key-1234"}) as noise:
        shodan.hosts[IP] = {"ports": [22, 443], "org": "Example Hosting", "tags": ["c2"]}
        noise.classified[IP] = "malicious"
        s = make_connector(tenant, "shodan", shodan.base, {"api_key": "shodan-key-1234"})
        g = make_connector(tenant, "greynoise", noise.base, {"api_key": "gn-key-1234"})
        found = ask(s, "ip", IP)
        assert found.verdict == "suspicious" and "22, 443" in found.summary
        assert ask(s, "ip", "185.220.101.10").summary == "Not seen by Shodan."
        assert ask(g, "ip", IP).verdict == "malicious"
        assert ask(g, "ip", "185.220.101.10").verdict == "unknown"


def test_misp_and_opencti(make_tenant, loopback):
    tenant = make_tenant()
    with Misp(keys={"misp-key-1234"}) as misp, OpenCti(keys={"octi-token-1234"}) as octi:
        misp.attributes["evil.example"] = [
            {"event_id": "42", "to_ids": True, "Event": {"info": "Emotet C2"}}
        ]
        octi.observables["evil.example"] = {
            "id": "x",
            "x_opencti_score": 90,
            "indicators": {"edges": [{"node": {"name": "Emotet C2 domain"}}]},
        }
        m = make_connector(tenant, "misp", misp.base, {"api_key": "misp-key-1234"})
        o = make_connector(tenant, "opencti", octi.base, {"api_token": "octi-token-1234"})
        found = ask(m, "domain", "evil.example")
        assert found.verdict == "malicious" and "Emotet C2" in found.summary
        assert misp.seen[-1].json() == {
            "returnFormat": "json",
            "value": "evil.example",
            "limit": 50,
        }
        assert ask(m, "domain", "fine.example").verdict == "unknown"
        found = ask(o, "domain", "evil.example")
        assert found.verdict == "malicious" and found.score == 90
        assert ask(o, "domain", "fine.example").verdict == "unknown"


def test_the_portals_intel_and_dns(two_tenants, settings):
    from intel.services import indicator_create

    a = two_tenants["a"]
    ingest_alerts(two_tenants["a_source"], 1)
    with tenant_scope([a.pk]):
        incident = Incident.objects.for_tenant(a).first()
        named = observable_add(
            incident,
            actor=two_tenants["analyst_a"],
            observable=Observable("domain", "c2.evil.example"),
            source="analyst",
            visibility="shared",
        )
        host = observable_add(
            incident,
            actor=two_tenants["analyst_a"],
            observable=Observable("hostname", "localhost"),
            source="analyst",
            visibility="shared",
        )
        indicator_create(
            a.pk,
            "domain",
            "c2.evil.example",
            {"source": "feed", "confidence": 90},
            actor=two_tenants["mssp_admin"],
            hunt=False,
        )
        found = intel_finding(named)
    assert found.verdict == "malicious" and found.raw["indicators"][0]["confidence"] == 90
    assert "127.0.0.1" in dns_finding(host).summary  # /etc/hosts: no network needed
