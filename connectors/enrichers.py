"""The enrichment services' clients: each vendor's documented request for one observable, and
what its answer means as a `kinds.Finding`, plus each one's "test connection". Registered on
the enrichment kinds (connectors.kinds) by ConnectorsConfig.ready().

Every call goes through connectors.http.ConnectorClient; an answer that is not the documented
shape is a ConnectorAnswerError (a clean failure, never a crash)."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from . import kinds
from .http import ConnectorAnswerError, ConnectorClient
from .kinds import DOMAIN, HASH, IP, URL, Finding, Verdict


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConnectorAnswerError(f"The service's answer has no {what}.")
    return value


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


# --- VirusTotal v3 -------------------------------------------------------------------------------
VT_COLLECTIONS = {IP: "ip_addresses", DOMAIN: "domains", HASH: "files", URL: "urls"}


def _vt_id(kind: str, value: str) -> str:
    if kind == URL:  # the URL identifier: unpadded URL-safe base64 of the URL
        return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
    return quote(value, safe="")


def virustotal_enrich(client: ConnectorClient, kind: str, value: str) -> Finding:
    """GET /{ip_addresses|domains|files|urls}/{id} with x-apikey; last_analysis_stats says how
    many engines call it malicious or suspicious (https://docs.virustotal.com/reference/ip-info)."""
    path = f"{VT_COLLECTIONS[kind]}/{_vt_id(kind, value)}"
    answer = client.get(path, headers={"x-apikey": client.secret("api_key")}, accept=(404,))
    if answer.status == 404:
        return Finding(Verdict.UNKNOWN, None, "Not known to VirusTotal.", {})
    body = _dict(answer.json(), "data")
    data = _dict(body.get("data"), "data")
    attributes = _dict(data.get("attributes"), "attributes")
    stats = _dict(attributes.get("last_analysis_stats", {}), "analysis")
    malicious, suspicious = _int(stats.get("malicious")), _int(stats.get("suspicious"))
    engines = sum(_int(v) for v in stats.values()) or 1
    if malicious >= 3:
        verdict = Verdict.MALICIOUS
    elif malicious or suspicious:
        verdict = Verdict.SUSPICIOUS
    elif _int(stats.get("harmless")):
        verdict = Verdict.HARMLESS
    else:
        verdict = Verdict.UNKNOWN
    score = min(100, round(100 * (malicious + suspicious / 2) / engines))
    summary = f"{malicious} of {engines} engines malicious, {suspicious} suspicious."
    raw = {"last_analysis_stats": stats, "reputation": attributes.get("reputation")}
    return Finding(verdict, score, summary, raw)


def virustotal_test(client: ConnectorClient) -> str:
    virustotal_enrich(client, IP, "8.8.8.8")
    return "VirusTotal accepted the API key."


# --- AbuseIPDB v2 --------------------------------------------------------------------------------
def abuseipdb_enrich(client: ConnectorClient, kind: str, value: str) -> Finding:
    """GET /check?ipAddress=&maxAgeInDays=90 with the Key header; abuseConfidenceScore 0-100
    (https://docs.abuseipdb.com/#check-endpoint)."""
    answer = client.get(
        "check",
        params={"ipAddress": value, "maxAgeInDays": "90"},
        headers={"Key": client.secret("api_key")},
    )
    data = _dict(_dict(answer.json(), "data").get("data"), "data")
    score = max(0, min(100, _int(data.get("abuseConfidenceScore"))))
    reports = _int(data.get("totalReports"))
    if data.get("isWhitelisted"):
        verdict = Verdict.HARMLESS
    elif score >= 75:
        verdict = Verdict.MALICIOUS
    elif score >= 25:
        verdict = Verdict.SUSPICIOUS
    elif reports == 0:
        verdict = Verdict.UNKNOWN
    else:
        verdict = Verdict.HARMLESS
    summary = f"Abuse confidence {score}%, {reports} reports"
    if data.get("isp"):
        summary += f" ({str(data['isp'])[:80]}, {str(data.get('countryCode') or '?')[:2]})"
    keep = (
        "abuseConfidenceScore",
        "totalReports",
        "countryCode",
        "isp",
        "usageType",
        "isWhitelisted",
        "lastReportedAt",
    )
    return Finding(verdict, score, summary + ".", {k: data.get(k) for k in keep})


def abuseipdb_test(client: ConnectorClient) -> str:
    abuseipdb_enrich(client, IP, "127.0.0.1")
    return "AbuseIPDB accepted the API key."


# --- Shodan --------------------------------------------------------------------------------------
def shodan_enrich(client: ConnectorClient, kind: str, value: str) -> Finding:
    """GET /shodan/host/{ip}?key= (https://developer.shodan.io/api): what the internet sees of
    the address; context, not a reputation."""
    answer = client.get(
        f"shodan/host/{quote(value, safe='')}",
        params={"key": client.secret("api_key")},
        accept=(404,),
    )
    if answer.status == 404:
        return Finding(Verdict.UNKNOWN, None, "Not seen by Shodan.", {})
    body = _dict(answer.json(), "host")
    ports = [p for p in body.get("ports", []) if isinstance(p, int)][:50]
    vulns = body.get("vulns") or []
    vulns = sorted(str(v) for v in (vulns if isinstance(vulns, list | dict) else []))[:20]
    tags = [str(t) for t in (body.get("tags") or []) if isinstance(t, str)][:10]
    verdict = Verdict.SUSPICIOUS if "malware" in tags or "c2" in tags else Verdict.UNKNOWN
    org = str(body.get("org") or "")[:80]
    summary = f"Open ports {', '.join(map(str, ports[:10])) or 'none'}"
    summary += f"; {org}" if org else ""
    summary += f"; {len(vulns)} known vulnerabilities" if vulns else ""
    raw = {"ports": ports, "vulns": vulns, "tags": tags, "org": org, "os": body.get("os")}
    return Finding(verdict, None, summary + ".", raw)


def shodan_test(client: ConnectorClient) -> str:
    answer = client.get("api-info", params={"key": client.secret("api_key")})
    body = _dict(answer.json(), "plan")
    return f"Shodan accepted the API key (plan {str(body.get('plan', '?'))[:20]})."


# --- GreyNoise Community v3 ----------------------------------------------------------------------
def greynoise_enrich(client: ConnectorClient, kind: str, value: str) -> Finding:
    """GET /v3/community/{ip} with the key header: whether the address scans the internet
    (noise) or is a known benign service (RIOT), and its classification."""
    answer = client.get(
        f"v3/community/{quote(value, safe='')}",
        headers={"key": client.secret("api_key")},
        accept=(404,),
    )
    body = _dict(answer.json(), "classification")
    if answer.status == 404:
        return Finding(Verdict.UNKNOWN, None, "Not observed by GreyNoise.", {})
    classification = str(body.get("classification") or "unknown")
    verdict = {
        "malicious": Verdict.MALICIOUS,
        "benign": Verdict.HARMLESS,
        "suspicious": Verdict.SUSPICIOUS,
    }.get(classification, Verdict.UNKNOWN)
    name = str(body.get("name") or "")[:80]
    summary = f"GreyNoise: {classification}"
    summary += f" ({name})" if name and name != "unknown" else ""
    summary += "; scanning the internet" if body.get("noise") else ""
    summary += "; a known business service" if body.get("riot") else ""
    keep = ("noise", "riot", "classification", "name", "link", "last_seen")
    return Finding(verdict, None, summary + ".", {k: body.get(k) for k in keep})


def greynoise_test(client: ConnectorClient) -> str:
    client.get("ping", headers={"key": client.secret("api_key")})
    return "GreyNoise accepted the API key."


# --- MISP ----------------------------------------------------------------------------------------
def misp_enrich(client: ConnectorClient, kind: str, value: str) -> Finding:
    """POST /attributes/restSearch {"returnFormat": "json", "value": ...} with the
    Authorization key: the MSSP's own events naming it."""
    answer = client.post(
        "attributes/restSearch",
        json={"returnFormat": "json", "value": value, "limit": 50},
        headers={"Authorization": client.secret("api_key")},
        idempotent=True,
    )
    response = _dict(_dict(answer.json(), "response").get("response"), "response")
    attributes = response.get("Attribute") or []
    if not isinstance(attributes, list):
        raise ConnectorAnswerError("MISP answered without a list of attributes.")
    attributes = [a for a in attributes if isinstance(a, dict)]
    if not attributes:
        return Finding(Verdict.UNKNOWN, None, "Not in MISP.", {"events": []})
    for_ids = any(a.get("to_ids") in (True, "1", 1) for a in attributes)
    events = sorted({str(a.get("event_id")) for a in attributes if a.get("event_id")})[:20]
    infos = [
        str(_dict(a.get("Event", {}), "event").get("info", ""))[:80]
        for a in attributes
        if isinstance(a.get("Event"), dict)
    ][:5]
    verdict = Verdict.MALICIOUS if for_ids else Verdict.SUSPICIOUS
    summary = f"In {len(events)} MISP event(s)"
    summary += f": {'; '.join(i for i in infos if i)}" if any(infos) else ""
    return Finding(verdict, 90 if for_ids else 50, summary[:480] + ".", {"events": events})


def misp_test(client: ConnectorClient) -> str:
    answer = client.get("servers/getVersion", headers={"Authorization": client.secret("api_key")})
    version = _dict(answer.json(), "version").get("version", "?")
    return f"MISP {str(version)[:20]} accepted the key."


# --- OpenCTI GraphQL -----------------------------------------------------------------------------
OPENCTI_QUERY = """
query Enrich($value: Any!) {
  stixCyberObservables(first: 5, filters: {mode: and, filterGroups: [],
    filters: [{key: "value", values: [$value]}]}) {
    edges { node { id entity_type observable_value x_opencti_score
      indicators { edges { node { name pattern x_opencti_score } } } } }
  }
}
"""


def _graphql(client: ConnectorClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(
        "graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {client.secret('api_token')}"},
        idempotent=True,
    )
    body = _dict(answer.json(), "data")
    if body.get("errors"):
        first = body["errors"][0] if isinstance(body["errors"], list) else {}
        message = str(first.get("message", "an error") if isinstance(first, dict) else first)
        raise ConnectorAnswerError(f"OpenCTI: {message[:200]}")
    return _dict(body.get("data"), "data")


def opencti_enrich(client: ConnectorClient, kind: str, value: str) -> Finding:
    data = _graphql(client, OPENCTI_QUERY, {"value": value})
    found = _dict(data.get("stixCyberObservables"), "observables").get("edges") or []
    nodes = [e["node"] for e in found if isinstance(e, dict) and isinstance(e.get("node"), dict)]
    if not nodes:
        return Finding(Verdict.UNKNOWN, None, "Not in OpenCTI.", {})
    node = nodes[0]
    score = max(0, min(100, _int(node.get("x_opencti_score"))))
    indicators = [
        e["node"]
        for e in (_dict(node.get("indicators") or {}, "indicators").get("edges") or [])
        if isinstance(e, dict) and isinstance(e.get("node"), dict)
    ]
    if indicators or score >= 75:
        verdict = Verdict.MALICIOUS if score >= 75 else Verdict.SUSPICIOUS
    else:
        verdict = Verdict.SUSPICIOUS if score >= 40 else Verdict.UNKNOWN
    names = [str(i.get("name", ""))[:80] for i in indicators][:5]
    summary = f"OpenCTI score {score}"
    summary += f"; indicators: {', '.join(names)}" if names else ""
    return Finding(verdict, score, summary[:480] + ".", {"id": node.get("id"), "indicators": names})


def opencti_test(client: ConnectorClient) -> str:
    data = _graphql(client, "query { about { version } }", {})
    version = _dict(data.get("about"), "about").get("version", "?")
    return f"OpenCTI {str(version)[:20]} accepted the token."


HOOKS = {
    "virustotal": (virustotal_test, virustotal_enrich),
    "abuseipdb": (abuseipdb_test, abuseipdb_enrich),
    "shodan": (shodan_test, shodan_enrich),
    "greynoise": (greynoise_test, greynoise_enrich),
    "misp": (misp_test, misp_enrich),
    "opencti": (opencti_test, opencti_enrich),
}


def register_all() -> None:
    for kind, (test, enrich) in HOOKS.items():
        kinds.register(replace(kinds.spec(kind), test=test, enrich=enrich))
