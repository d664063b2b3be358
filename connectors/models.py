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
