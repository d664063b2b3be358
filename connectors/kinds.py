"""What each kind of connector is: the registry every caller asks (pages, API, enrichment, the
`response` app). A Connector row says *which* tool of a tenant (its address, options, sealed
secrets); its kind's `KindSpec` says what that tool is for, what it needs, and how the portal
talks to it.

Interface (stable; the `response` app builds on it):

- `KindSpec`: one kind.
  - `kind`: a `Connector.Kind` value; `purpose`: `Purpose.RESPONSE` or `Purpose.ENRICHMENT`.
  - `options` / `secrets`: the `Field`s a form asks for (name, label, help, required). Options
    are stored in `Connector.options` (JSON, not secret); secrets are sealed into
    `Connector.sealed_secrets` and never shown again (only `secret_hint`).
  - `default_base_url`: the vendor's documented API address; "" when the tool is the
    customer's own (a FortiGate, a Wazuh manager, an Okta org): then `base_url` is required.
  - `test(client) -> str`: "test connection". Called with a `connectors.http.ConnectorClient`
    bound to the connector (`client.connector`, `client.secrets`, `client.request(...)`);
    answers a short human message on success ("Authenticated as soc@example"), raises
    `connectors.http.ConnectorError` (its `message` is shown) on failure. None: no test yet.
  - `enrich(client, observable_type, value) -> Finding`: enrichment kinds only; what the
    service says of one observable (`Finding`: verdict, score 0-100, summary, raw JSON).
    `observable_types` lists the types it looks up; `ttl` how long its answer is kept.
  - `actions`: response kinds only, owned by the `response` app: action name ->
    whatever callable that app defines (it is the only reader).
  - `rate_per_minute`: the default request budget per connector (a connector's
    `options["rate_per_minute"]` may lower or raise it), enforced by connectors.http.
- `register(spec)`: adds or replaces the kind's spec (call from an AppConfig.ready(); ready()
  may run twice, so registering the same kind again replaces it). To add a test hook or
  actions to a kind described here, `register(replace(spec("defender"), test=..., actions=...))`.
- `spec(kind)` (KeyError for an unknown kind), `specs(purpose=None)`, `is_known(kind)`.

The response kinds' fields are described here (pages ask for them before the `response` app
adds its hooks); the enrichment kinds' hooks are registered by connectors.enrichers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .http import ConnectorClient


class Purpose(StrEnum):
    RESPONSE = "response"  # acts on the customer's systems
    ENRICHMENT = "enrichment"  # tells what is known of an observable


class Verdict(StrEnum):
    MALICIOUS = "malicious"
    SUSPICIOUS = "suspicious"
    HARMLESS = "harmless"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Field:
    """One option or secret a kind reads: what the form shows and whether it must be given."""

    name: str
    label: str
    help: str = ""
    required: bool = True
    max_length: int = 500


@dataclass(frozen=True)
class Finding:
    """What one source says of one observable."""

    verdict: Verdict
    score: int | None = None  # 0 (harmless) .. 100 (certainly malicious); None: no score
    summary: str = ""
    raw: Any = None  # the service's answer (JSON), trimmed by whoever stores it


TestHook = Callable[["ConnectorClient"], str]
EnrichHook = Callable[["ConnectorClient", str, str], Finding]


@dataclass(frozen=True)
class KindSpec:
    kind: str
    purpose: Purpose
    label: str
    default_base_url: str = ""
    options: tuple[Field, ...] = ()
    secrets: tuple[Field, ...] = ()
    docs_url: str = ""
    test: TestHook | None = None
    # enrichment
    enrich: EnrichHook | None = None
    observable_types: frozenset[str] = frozenset()
    ttl: timedelta = timedelta(hours=24)
    # response (the `response` app's)
    actions: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    rate_per_minute: int = 60

    @property
    def needs_base_url(self) -> bool:
        return not self.default_base_url

    def option_names(self) -> set[str]:
        return {f.name for f in self.options}

    def secret_names(self) -> set[str]:
        return {f.name for f in self.secrets}


_registry: dict[str, KindSpec] = {}


def register(kind_spec: KindSpec) -> KindSpec:
    """Add or replace the spec of `kind_spec.kind` (idempotent: ready() may run twice)."""
    _registry[kind_spec.kind] = kind_spec
    return kind_spec


def spec(kind: str) -> KindSpec:
    """The spec of `kind`; KeyError when it is not a kind."""
    return _registry[kind]


def is_known(kind: str) -> bool:
    return kind in _registry


def specs(purpose: Purpose | None = None) -> list[KindSpec]:
    return [s for s in _registry.values() if purpose is None or s.purpose == purpose]


# --- the fields every Microsoft / OAuth kind shares ----------------------------------------------
_ENTRA_TENANT = Field(
    "tenant_id", "Directory (tenant) ID", "The customer's Microsoft Entra tenant ID (a GUID)."
)
_CLIENT_ID = Field("client_id", "Client ID", "The application (client) ID of the app registration.")
_CLIENT_SECRET = Field("client_secret", "Client secret", "A client secret of that application.")
_AUTHORITY = Field(
    "authority",
    "Sign-in address",
    "Only for a national cloud: the OAuth authority (https://login.microsoftonline.us).",
    required=False,
)
_RATE = Field(
    "rate_per_minute",
    "Requests per minute",
    "At most this many calls a minute to this connector (default: the service's documented limit).",
    required=False,
    max_length=6,
)
_CA = Field(
    "ca_certificate",
    "Trusted certificate (PEM)",
    "Only for a tool with a certificate of its own (a self-signed Wazuh manager or FortiGate): "
    "the CA or server certificate to trust for it, instead of the public authorities.",
    required=False,
    max_length=8000,
)
_API_KEY = Field("api_key", "API key")

# What every kind may carry besides its own options.
COMMON_OPTIONS = (_RATE, _CA)


def _base(*options: Field) -> tuple[Field, ...]:
    return (*options, *COMMON_OPTIONS)


# --- response kinds: fields here, hooks from the `response` app ----------------------------------
register(
    KindSpec(
        "defender",
        Purpose.RESPONSE,
        "Microsoft Defender for Endpoint",
        default_base_url="https://api.security.microsoft.com",
        options=_base(_ENTRA_TENANT, _CLIENT_ID, _AUTHORITY),
        secrets=(_CLIENT_SECRET,),
        docs_url="https://learn.microsoft.com/defender-endpoint/api/exposed-apis-create-app-webapp",
    )
)
register(
    KindSpec(
        "crowdstrike",
        Purpose.RESPONSE,
        "CrowdStrike Falcon",
        default_base_url="https://api.crowdstrike.com",
        options=_base(
            Field("client_id", "API client ID", "From Support and resources > API clients."),
            Field(
                "member_cid",
                "Member CID",
                "Only for a Flight Control child: the child's CID.",
                required=False,
            ),
        ),
        secrets=(Field("client_secret", "API client secret"),),
        docs_url="https://falcon.crowdstrike.com/documentation/page/a2a7fc0e/crowdstrike-oauth2-based-apis",
    )
)
register(
    KindSpec(
        "sentinelone",
        Purpose.RESPONSE,
        "SentinelOne",
        options=_base(
            Field("site_id", "Site ID", "Limits actions to one site.", required=False),
        ),
        secrets=(Field("api_token", "API token", "A service user's API token."),),
        docs_url="https://usea1.sentinelone.net/api-doc/overview",
    )
)
register(
    KindSpec(
        "wazuh",
        Purpose.RESPONSE,
        "Wazuh active response",
        options=_base(Field("username", "API user", "A Wazuh API user allowed active response.")),
        secrets=(Field("password", "API password"),),
        docs_url="https://documentation.wazuh.com/current/user-manual/api/reference.html",
    )
)
register(
    KindSpec(
        "entra",
        Purpose.RESPONSE,
        "Microsoft Entra ID",
        default_base_url="https://graph.microsoft.com",
        options=_base(_ENTRA_TENANT, _CLIENT_ID, _AUTHORITY),
        secrets=(_CLIENT_SECRET,),
        docs_url="https://learn.microsoft.com/graph/auth-v2-service",
    )
)
register(
    KindSpec(
        "okta",
        Purpose.RESPONSE,
        "Okta",
        options=_base(),
        secrets=(Field("api_token", "API token", "An Okta API token (sent as SSWS)."),),
        docs_url="https://developer.okta.com/docs/reference/core-okta-api/",
    )
)
register(
    KindSpec(
        "fortigate",
        Purpose.RESPONSE,
        "FortiGate",
        options=_base(
            Field("vdom", "VDOM", "The virtual domain (default: root).", required=False),
            Field(
                "address_group",
                "Block address group",
                "The address group the block policy denies.",
                required=False,
            ),
        ),
        secrets=(Field("api_key", "REST API key", "A REST API administrator's key."),),
        docs_url="https://docs.fortinet.com/document/fortigate/latest/administration-guide/940602/using-apis",
    )
)
register(
    KindSpec(
        "pfsense",
        Purpose.RESPONSE,
        "pfSense",
        options=_base(
            Field(
                "alias", "Block alias", "The firewall alias the block rule denies.", required=False
            )
        ),
        secrets=(Field("api_key", "REST API key", "A key of the pfSense REST API package."),),
        docs_url="https://pfrest.org/",
    )
)
register(
    KindSpec(
        "webhook",
        Purpose.RESPONSE,
        "Signed webhook",
        options=_base(),
        secrets=(Field("signing_secret", "Signing secret", "Signs each request (HMAC-SHA256)."),),
    )
)

# --- enrichment kinds: fields here, hooks from connectors.enrichers ------------------------------
IP = "ip"
DOMAIN = "domain"
URL = "url"
HASH = "hash"

register(
    KindSpec(
        "virustotal",
        Purpose.ENRICHMENT,
        "VirusTotal",
        default_base_url="https://www.virustotal.com/api/v3",
        options=_base(),
        secrets=(Field("api_key", "API key", "Your VirusTotal API key (x-apikey)."),),
        docs_url="https://docs.virustotal.com/reference/overview",
        observable_types=frozenset({IP, DOMAIN, URL, HASH}),
        rate_per_minute=4,  # the public API's quota
    )
)
register(
    KindSpec(
        "abuseipdb",
        Purpose.ENRICHMENT,
        "AbuseIPDB",
        default_base_url="https://api.abuseipdb.com/api/v2",
        options=_base(),
        secrets=(Field("api_key", "API key", "Your AbuseIPDB API v2 key (Key header)."),),
        docs_url="https://docs.abuseipdb.com/#check-endpoint",
        observable_types=frozenset({IP}),
        rate_per_minute=30,
    )
)
register(
    KindSpec(
        "shodan",
        Purpose.ENRICHMENT,
        "Shodan",
        default_base_url="https://api.shodan.io",
        options=_base(),
        secrets=(_API_KEY,),
        docs_url="https://developer.shodan.io/api",
        observable_types=frozenset({IP}),
        rate_per_minute=60,
    )
)
register(
    KindSpec(
        "greynoise",
        Purpose.ENRICHMENT,
        "GreyNoise",
        default_base_url="https://api.greynoise.io",
        options=_base(),
        secrets=(Field("api_key", "API key", "Your GreyNoise (Community) API key."),),
        docs_url="https://docs.greynoise.io/reference/get_v3-community-ip",
        observable_types=frozenset({IP}),
        rate_per_minute=10,
    )
)
register(
    KindSpec(
        "misp",
        Purpose.ENRICHMENT,
        "MISP",
        options=_base(),
        secrets=(Field("api_key", "Auth key", "A MISP user's automation key."),),
        docs_url="https://www.misp-project.org/openapi/#tag/Attributes/operation/restSearchAttributes",
        observable_types=frozenset({IP, DOMAIN, URL, HASH, "email", "hostname"}),
        ttl=timedelta(hours=6),
    )
)
register(
    KindSpec(
        "opencti",
        Purpose.ENRICHMENT,
        "OpenCTI",
        options=_base(),
        secrets=(Field("api_token", "API token", "An OpenCTI user's API token (Bearer)."),),
        docs_url="https://docs.opencti.io/latest/deployment/integrations/#graphql-api",
        observable_types=frozenset({IP, DOMAIN, URL, HASH, "email", "hostname"}),
        ttl=timedelta(hours=6),
    )
)
