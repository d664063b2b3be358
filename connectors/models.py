"""A tenant's connectors: the tools of the customer's own that the portal acts through
(isolating a host, disabling a user, blocking an address) and the services that tell what is
known of an observable (reputation, context). One row per configured tool; what it can do is
its kind's (connectors.kinds), never the row's.

Credentials are sealed (tenants.sealed) and shown once, when given; pages and the API show
`secret_hint` only. A connector belongs to exactly one tenant and is row-level secured like
every tenant's row: one tenant's connector is never used for, nor visible to, another."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.models import Tenant, TenantOwnedModel, new_public_id


class Connector(TenantOwnedModel):
    class Kind(models.TextChoices):
        # Response: act on the customer's systems.
        DEFENDER = "defender", "Microsoft Defender for Endpoint"
        CROWDSTRIKE = "crowdstrike", "CrowdStrike Falcon"
        SENTINELONE = "sentinelone", "SentinelOne"
        WAZUH = "wazuh", "Wazuh active response"
        ENTRA = "entra", "Microsoft Entra ID"
        OKTA = "okta", "Okta"
        FORTIGATE = "fortigate", "FortiGate"
        PFSENSE = "pfsense", "pfSense"
        WEBHOOK = "webhook", "Signed webhook"
        # Enrichment: what is known of an observable.
        VIRUSTOTAL = "virustotal", "VirusTotal"
        ABUSEIPDB = "abuseipdb", "AbuseIPDB"
        SHODAN = "shodan", "Shodan"
        GREYNOISE = "greynoise", "GreyNoise"
        MISP = "misp", "MISP"
        OPENCTI = "opencti", "OpenCTI"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="connectors")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=100)
    # The tool's API address; blank for a cloud service's documented default (its kind's).
    base_url = models.URLField(max_length=500, blank=True)
    # What is not secret (an Entra tenant id, a client id, a FortiGate VDOM ...): its kind
    # says which keys it reads.
    options = models.JSONField(default=dict, blank=True)
    sealed_secrets = models.TextField(blank=True, editable=False)
    secret_hint = models.CharField(max_length=8, blank=True, editable=False)
    is_enabled = models.BooleanField(default=True)
    # The last "test connection": when, whether it answered as documented, and what it said.
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_message = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="connector_name_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class ConnectorCall(TenantOwnedModel):
    """One request the portal sent to a connector and what came back (connectors.http writes
    one per attempt): redacted of every secret, bounded in size. The incident's timeline and
    the audit log show them; nobody edits them."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # Kept when the connector is deleted (what was sent stays on record), with its name.
    connector = models.ForeignKey(
        Connector, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls"
    )
    connector_name = models.CharField(max_length=100, blank=True)
    incident = models.ForeignKey(
        "alerts.Incident", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # What the call was for: "test", "enrich", "token", a response action's name ...
    purpose = models.CharField(max_length=40, blank=True)
    method = models.CharField(max_length=10)
    url = models.CharField(max_length=2000)
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.PositiveSmallIntegerField(null=True, blank=True)  # None: no answer
    duration_ms = models.PositiveIntegerField(default=0)
    request_excerpt = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "id"]
        indexes = [
            models.Index(fields=["connector", "at"], name="connector_call_by_connector"),
            models.Index(fields=["incident", "at"], name="connector_call_by_incident"),
        ]

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.error


class Enrichment(TenantOwnedModel):
    """What one source says of one observable of an incident: a connector of the tenant (an
    enrichment service) or a built-in source (the portal's own intel, DNS). Kept until
    `expires_at` (its source's TTL); asking again before then answers this row."""

    class Verdict(models.TextChoices):
        MALICIOUS = "malicious", "Malicious"
        SUSPICIOUS = "suspicious", "Suspicious"
        HARMLESS = "harmless", "Harmless"
        UNKNOWN = "unknown", "Unknown"

    class Source(models.TextChoices):
        CONNECTOR = "connector", "A connector"
        INTEL = "intel", "The portal's intel"
        DNS = "dns", "DNS"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    observable = models.ForeignKey(
        "alerts.IncidentObservable", on_delete=models.CASCADE, related_name="enrichments"
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, null=True, blank=True, related_name="enrichments"
    )
    source_name = models.CharField(max_length=100)  # shown: "VirusTotal (Acme VT)", "DNS"
    verdict = models.CharField(max_length=12, choices=Verdict.choices, default=Verdict.UNKNOWN)
    score = models.PositiveSmallIntegerField(null=True, blank=True)  # 0..100
    summary = models.CharField(max_length=500, blank=True)
    raw = models.JSONField(default=dict, blank=True)  # bounded (connectors.enrichment)
    # A lookup that failed is kept briefly too (so a click does not hammer a failing service).
    error = models.CharField(max_length=500, blank=True)
    fetched_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["source", "source_name", "-fetched_at"]
        indexes = [
            models.Index(fields=["observable", "source", "expires_at"], name="enrichment_fresh"),
        ]
