"""Settings, read from the environment in one place.

No configuration at all gives the embedded mode: SQLite, the in-memory channel layer and
Celery tasks run in-process. `DATABASE_URL` (PostgreSQL) and `REDIS_URL` switch to the
scaled-out mode: PostgreSQL with row-level security, channels-redis and a real Celery broker.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


# --- Debug and the secret key -----------------------------------------------------------------
# DEBUG shows tracebacks, settings and URL lists to whoever gets an error: on by default only
# for the embedded demo on this machine (`make run` from a fresh clone). Anything that looks
# like a deployment (a server database, a broker, a host beyond loopback) defaults to off, and
# then needs a SECRET_KEY of its own. DEBUG=1 set on purpose (a developer on PostgreSQL) wins.
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]", "testserver"}


def _is_loopback(host: str) -> bool:
    host = host.strip().lower()
    return host in _LOOPBACK or host.endswith(".localhost") or host.startswith("127.")


def deployment_signs() -> list[str]:
    """What in the environment says this is not the embedded demo on this machine."""
    signs = [
        name
        for name in ("REDIS_URL", "CELERY_BROKER_URL")
        if env_str(name) and not env_str(name).startswith("memory://")
    ]
    database_url = env_str("DATABASE_URL")
    if database_url and not database_url.startswith("sqlite:"):
        signs.append("DATABASE_URL")
    hosts = env_list("ALLOWED_HOSTS", "")
    if any(not _is_loopback(host) for host in hosts):
        signs.append("ALLOWED_HOSTS")
    if env_str("HOST") and not _is_loopback(env_str("HOST")):
        signs.append("HOST")
    return signs


DEPLOYMENT_SIGNS = deployment_signs()
DEBUG = env_bool("DEBUG", not DEPLOYMENT_SIGNS)

# A fixed key is only acceptable for the local demo; anything else must set its own.
_DEV_SECRET_KEY = "django-insecure-local-development-only-never-in-production-2b7f9e1c4d"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY") or (_DEV_SECRET_KEY if DEBUG else "")
if not DEBUG and SECRET_KEY in ("", _DEV_SECRET_KEY):
    why = f"{', '.join(DEPLOYMENT_SIGNS)} set" if DEPLOYMENT_SIGNS else "DEBUG=0"
    raise ImproperlyConfigured(
        f"SECRET_KEY must be set to a secret of this deployment: DEBUG is off ({why}). "
        "For a development machine set DEBUG=1 instead (never where others can reach it)."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "mssp.admin.MsspAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "axes",
    "channels",
    "django_htmx",
    # Sign-in (allauth.account: /login/) and the second factor (allauth.mfa: TOTP, recovery
    # codes); single sign-on joins through allauth.socialaccount.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    # single sign-on: each tenant's OpenID Connect provider (provisioning.sso)
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "tenants",
    "alerts",
    "sla",
    # after sla: a new incident's clocks start before its case template's tasks are added
    "cases",
    "reports",
    "intel",
    "findings",
    "oncall",
    "notifications",
    "provisioning",  # SCIM 2.0 provisioning per tenant (/scim/v2/)
    "connectors",  # the customers' own tools (response) and enrichment services
    "response",  # response actions on those tools, under approvals by contract
    "mssp",  # the project's own commands (seed_demo: demo data across every app)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The security headers of the portal's own (see the security section below).
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "mssp.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # allauth's login stages and reauthentication (a step-up redirects through it and back).
    "allauth.account.middleware.AccountMiddleware",
    # A signed-in request's session: ended, timed out (signed out here) or seen (tenants.sessions).
    "tenants.middleware.SessionActivityMiddleware",
    # An account that must have a second factor and whose session has not given one reaches
    # enrolment (or the second-factor check) and nothing else (tenants.mfa).
    "tenants.middleware.SecondFactorMiddleware",
    # Last, so that it sees the authenticated user and answers lockouts itself.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mssp.urls"
ASGI_APPLICATION = "mssp.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mssp.context_processors.portal",
                "mssp.context_processors.csp_nonce",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# DATABASE_URL is the application's own connection: on PostgreSQL a role that is not superuser,
# has no BYPASSRLS and owns no table. DATABASE_OWNER_URL is the role that owns the schema and
# runs migrations (defaults to DATABASE_URL, which is only right for development).
DATABASE_URL = env_str("DATABASE_URL")
DATABASE_OWNER_URL = env_str("DATABASE_OWNER_URL") or DATABASE_URL
DB_POOL = env_bool("DB_POOL", True)

if DATABASE_URL:
    _default = dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=False)
else:
    (BASE_DIR / "var").mkdir(exist_ok=True)
    _default = {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "var" / "db.sqlite3"}

# Every request, consumer call and task runs in a transaction: the tenant context is set per
# transaction with set_config(..., true), so it cannot outlive the work it was set for.
_default["ATOMIC_REQUESTS"] = True
if _default["ENGINE"] == "django.db.backends.postgresql":
    if DB_POOL:
        _default.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DB_POOL_MIN", 2),
            "max_size": env_int("DB_POOL_MAX", 20),
            "timeout": 10,
        }
elif _default["ENGINE"] == "django.db.backends.sqlite3":
    _default.setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DATABASES = {"default": _default}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The PostgreSQL role the application connects as; migrations grant it what it needs.
DATABASE_APP_ROLE = _default.get("USER") or ""

# --- Redis, channels, Celery -----------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CHANNELS_REDIS_PREFIX = env_str("CHANNELS_REDIS_PREFIX", "mssp")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": CHANNELS_REDIS_PREFIX, "capacity": 1000},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The cache: replay protection of signed intake requests, rate limits. Shared through Redis
# when there is one, so that every daphne process sees the same state.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CHANNELS_REDIS_PREFIX,
        }
    }
else:
    # Files, not process memory: the embedded mode runs daphne and the in-process scheduler as
    # two processes, and /healthz in one reads the scheduler's heartbeat written by the other.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(BASE_DIR / "var" / "cache"),
        }
    }

# --- Intake -----------------------------------------------------------------------------------
INTAKE_MAX_BATCH = env_int("INTAKE_MAX_BATCH", 5000)
INTAKE_QUOTA_PER_MINUTE = env_int("INTAKE_QUOTA_PER_MINUTE", 120_000)
INTAKE_SIGNATURE_MAX_AGE = env_int("INTAKE_SIGNATURE_MAX_AGE", 300)
# "log": a request's alerts are appended to the durable intake log and answered 202 at once;
# drain workers (manage.py drain_intake; a thread of the server in the embedded mode) run the
# pipeline on them in batches (alerts.intake.log). "direct": the pipeline runs inside the
# request. Default: log on PostgreSQL, direct on SQLite (one writer: there the log only adds
# a write and a hop; docs/PERFORMANCE.md, "Durable intake log").
INTAKE_MODE = env_str(
    "INTAKE_MODE", "direct" if _default["ENGINE"] == "django.db.backends.sqlite3" else "log"
)
INTAKE_DRAIN_BATCH = env_int("INTAKE_DRAIN_BATCH", 200)  # log rows (requests) a drain takes
INTAKE_LOG_DEGRADED_SECONDS = env_int("INTAKE_LOG_DEGRADED_SECONDS", 60)  # /healthz: degraded
# Seconds a drain waits between running the pipeline and committing: a test's hook to kill it
# mid-batch (tests/intake/test_intake_log_processes.py). 0 everywhere else.
INTAKE_DRAIN_PAUSE_SECONDS = float(env_str("INTAKE_DRAIN_PAUSE_SECONDS", "0") or 0)
# Customer webhooks may not target private or loopback addresses (SSRF) unless this is set
# (a lab, or the test suite's local receiver).
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
# Connectors (connectors.http) reach public addresses over https only; a customer's tool on a
# private network (a FortiGate or Wazuh manager behind the MSSP's VPN) is reachable only when
# its network is listed here (CIDRs, comma-separated: "10.20.0.0/16,192.168.50.0/24"; http
# allowed there too). Loopback for the test suite is set per test, never by default.
CONNECTOR_PRIVATE_NETWORKS = env_list("CONNECTOR_PRIVATE_NETWORKS", "")
CONNECTOR_CONNECT_TIMEOUT = float(env_str("CONNECTOR_CONNECT_TIMEOUT", "5") or 5)  # seconds
CONNECTOR_TIMEOUT = float(env_str("CONNECTOR_TIMEOUT", "10") or 10)  # each read or write
CONNECTOR_DEADLINE = float(env_str("CONNECTOR_DEADLINE", "30") or 30)  # one whole attempt
CONNECTOR_ATTEMPTS = env_int("CONNECTOR_ATTEMPTS", 3)  # 5xx / timeouts, idempotent requests
CONNECTOR_BACKOFF = float(env_str("CONNECTOR_BACKOFF", "0.5") or 0.5)  # seconds, doubling
CONNECTOR_RETRY_AFTER_MAX = env_int("CONNECTOR_RETRY_AFTER_MAX", 30)  # longer 429s: reported
CONNECTOR_MAX_ANSWER_BYTES = env_int("CONNECTOR_MAX_ANSWER_BYTES", 2 * 1024 * 1024)
CONNECTOR_CALL_RETENTION_DAYS = env_int("CONNECTOR_CALL_RETENTION_DAYS", 90)  # the call log
# The resolvers asked for the TXT record that proves a tenant owns an e-mail domain it claims
# for single sign-on (`host` or `host:port`, comma-separated); empty: the system's.
SSO_DNS_NAMESERVERS = os.environ.get("SSO_DNS_NAMESERVERS", "")
# Where notification channels reach the paging and SMS vendors (notifications.senders): their
# public APIs, or another region (Opsgenie's EU accounts: https://api.eu.opsgenie.com) or a
# lab. The SSRF guard above applies to them as well.
PAGERDUTY_EVENTS_URL = env_str("PAGERDUTY_EVENTS_URL", "https://events.pagerduty.com/v2/enqueue")
OPSGENIE_API_URL = env_str("OPSGENIE_API_URL", "https://api.opsgenie.com")
# Slack app channels: the Web API (chat.postMessage), and the hosts an interaction's
# response_url may name (the portal posts its reply there: Slack's own, unless a lab says).
SLACK_API_URL = env_str("SLACK_API_URL", "https://slack.com/api")
SLACK_RESPONSE_URL_HOSTS = env_list("SLACK_RESPONSE_URL_HOSTS", "hooks.slack.com")
# How old a Slack request's X-Slack-Request-Timestamp may be, in seconds (Slack's advice: 5 min).
SLACK_SIGNATURE_MAX_AGE = env_int("SLACK_SIGNATURE_MAX_AGE", 300)
# SMS and voice channels go through the portal's own Twilio (or Twilio-compatible) account;
# while these are empty, such channels fail at once, saying that they are not configured.
TWILIO_API_URL = env_str("TWILIO_API_URL", "https://api.twilio.com")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER")  # E.164: +15550100
# Fernet keys (newest first) that seal the secrets tenants give the portal: channel webhook
# URLs and API keys (tenants.sealed). Unset: derived from SECRET_KEY, fine for the demo only.
SECRETS_ENCRYPTION_KEYS = env_list("SECRETS_ENCRYPTION_KEYS", "")
# How long a message's one-click answer (acknowledge, accept, decline) stays valid, in seconds.
NOTIFICATION_LINK_MAX_AGE = env_int("NOTIFICATION_LINK_MAX_AGE", 24 * 3600)
# The NOC's own acknowledge target for availability incidents (covered minutes, 24x7).
NOC_ACKNOWLEDGE_MINUTES = env_int("NOC_ACKNOWLEDGE_MINUTES", 15)
# limits' storage URI: Redis in the scaled-out mode, process memory in the embedded one.
RATE_LIMIT_STORAGE = REDIS_URL.replace("redis://", "redis://", 1) if REDIS_URL else "memory://"

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL) or "memory://"
# Embedded mode: no broker, so tasks run in-process right after the commit that enqueued them.
CELERY_TASK_ALWAYS_EAGER = not (REDIS_URL or env_str("CELERY_BROKER_URL"))
CELERY_TASK_EAGER_PROPAGATES = True
# Embedded mode only (`make run` sets it for daphne): a requested report is generated in a
# thread beside the server, so its page shows the progress instead of waiting for it.
REPORTS_BACKGROUND_THREAD = env_bool("REPORTS_BACKGROUND_THREAD", False)
# Where the PDFs' fonts are looked for (reports.fonts): Debian's fonts-dejavu-core,
# fonts-noto-core and fonts-droid-fallback install them under the first.
REPORT_FONT_DIRS = env_list("REPORT_FONT_DIRS", "/usr/share/fonts/truetype")
# Embedded mode: notifications (mail, webhooks) are sent on a delivery thread of their own, so
# that a slow receiver never holds up the SLA sweep that fired them (sla.delivery_thread).
NOTIFICATIONS_BACKGROUND_THREAD = env_bool("NOTIFICATIONS_BACKGROUND_THREAD", True)
# Channel deliveries (notifications.delivery) one worker process sends at once, each on a
# thread of its own, tenants taking turns (tenants.outbox): receivers answer in 50 ms to 10 s,
# so one at a time is about 8 a second. 1: one at a time. (SLA notices go one at a time.)
NOTIFICATIONS_CONCURRENCY = env_int("NOTIFICATIONS_CONCURRENCY", 64)
# Channel messages one tenant is sent a minute, by every worker together (tenants.ratelimit);
# the rest wait for the next minute, never dropped. Pages to people are not counted. 0: none.
NOTIFICATIONS_TENANT_RATE_PER_MINUTE = env_int("NOTIFICATIONS_TENANT_RATE_PER_MINUTE", 600)
# A task is acknowledged only once it has run; a worker that dies hands it back to the broker.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = "UTC"
# Three queues, so that a breach storm's sweep never waits behind a backlog of deliveries
# (about 5 ms each) or reports. A worker started without -Q consumes all three (make run's
# does); to scale out, give each its own workers: `celery -A mssp worker -Q sla`, `-Q
# notifications`, `-Q celery`.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = {"celery": {}, "sla": {}, "notifications": {}}
CELERY_TASK_ROUTES = {
    "sla.tasks.sweep_clocks": {"queue": "sla"},
    "sla.tasks.deliver_notifications": {"queue": "notifications"},
    "notifications.tasks.deliver_deliveries": {"queue": "notifications"},
    # Pages are on the clock like the sweep: never behind a backlog of deliveries.
    "notifications.tasks.sweep_pages": {"queue": "sla"},
}
# Periodic work: Celery beat in the scaled-out mode; `manage.py run_periodic` (started by
# `make run`) runs the same schedule in-process in the embedded mode.
CELERY_BEAT_SCHEDULE: dict = {
    "silent-intake-sources": {"task": "alerts.tasks.check_silent_sources", "schedule": 60.0},
    "scheduled-hunts": {"task": "alerts.tasks.run_scheduled_hunts", "schedule": 60.0},
    "sla-sweep": {"task": "sla.tasks.sweep_clocks", "schedule": 1.0},
    "sla-notifications": {"task": "sla.tasks.deliver_notifications", "schedule": 10.0},
    # Channel deliveries due for a retry, and any whose task was lost.
    "channel-deliveries": {"task": "notifications.tasks.deliver_deliveries", "schedule": 10.0},
    # Pages whose next notification rule is due (an unanswered page moves to the next one).
    "pages": {"task": "notifications.tasks.sweep_pages", "schedule": 5.0},
    # Idempotent: creates each tenant's due scheduled report once (the 1st of the month in
    # the tenant's time zone, or later if the scheduler was down then).
    "scheduled-reports": {"task": "reports.tasks.schedule_reports", "schedule": 900.0},
    # Reports whose task was lost or whose worker died are taken up again.
    "stalled-reports": {"task": "reports.tasks.resume_stalled_reports", "schedule": 60.0},
    # Scanner imports whose task was lost go on from their last committed chunk.
    "stalled-finding-imports": {"task": "findings.tasks.resume_stalled_imports", "schedule": 60.0},
    # Indicators whose validity ended are marked expired (matching ignores them already).
    "expire-indicators": {"task": "intel.tasks.expire_indicators", "schedule": 60.0},
    # Sessions past their limits are ended (audited, sockets closed) even if they never
    # come back; Django's expired session rows and old session records are deleted.
    "sessions": {"task": "tenants.tasks.sweep_sessions", "schedule": 60.0},
    # Indicator imports and retro-hunts whose task was lost go on (from their stored cursor).
    "stalled-intel": {"task": "intel.tasks.resume_stalled_jobs", "schedule": 60.0},
    # E-mail domains claimed for single sign-on whose DNS record may have appeared.
    "sso-domain-dns": {"task": "provisioning.tasks.recheck_pending_domains", "schedule": 900.0},
    # Connector calls past CONNECTOR_CALL_RETENTION_DAYS are deleted.
    "connector-calls": {"task": "connectors.tasks.sweep_connector_calls", "schedule": 3600.0},
}

# --- Threat intelligence ----------------------------------------------------------------------
# How far back a new indicator (or import) searches earlier alerts, and how far back the
# incident page looks for the same observable at other customers (MSSP staff only).
INTEL_RETRO_HUNT_DAYS = env_int("INTEL_RETRO_HUNT_DAYS", 30)
INTEL_SIGHTING_DAYS = env_int("INTEL_SIGHTING_DAYS", 30)
# An uploaded indicator list: larger files are answered 413, more records 400.
INTEL_IMPORT_MAX_BYTES = env_int("INTEL_IMPORT_MAX_BYTES", 4 * 1024 * 1024)
INTEL_IMPORT_MAX_RECORDS = env_int("INTEL_IMPORT_MAX_RECORDS", 100_000)

# --- Authentication ----------------------------------------------------------------------------
AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # a right password of a tenant that signs in by single sign-on only: refused, saying why
    "provisioning.sso.SsoOnlyPasswordBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
# django-allauth: the login page (username and password), then the second factor when the
# account has one. No self sign-up: accounts are made by admins (and by SSO and SCIM).
ACCOUNT_ADAPTER = "tenants.identity.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = True  # the session lasts SESSION_COOKIE_AGE, as before allauth
ACCOUNT_FORMS = {"login": "tenants.identity.LoginForm"}
# Wrong passwords are axes' to count (the lockout below); allauth's own limit catches wrong
# second-factor codes (5 per account in 5 minutes), which axes counts as failures too.
ACCOUNT_RATE_LIMITS = {"login_failed": "30/m/ip,5/5m/key"}
# Step-up: a dangerous action (minting tokens, rotating intake keys, members, channels,
# exports) needs the second factor (or, without one, the password) given this recently.
STEP_UP_MINUTES = env_int("STEP_UP_MINUTES", 10)
ACCOUNT_REAUTHENTICATION_TIMEOUT = STEP_UP_MINUTES * 60
ACCOUNT_REAUTHENTICATION_METHODS = ("password", "mfa")  # no e-mailed codes
MFA_ADAPTER = "tenants.identity.MFAAdapter"  # TOTP secrets sealed at rest (tenants.sealed)
# WebAuthn: security keys and passkeys (the fido2 package) as a second factor after the
# password. The relying party is the host the browser asked for; browsers and fido2 accept
# https, and http only on localhost, never an IP address. MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN
# stays off: it would skip fido2's origin check altogether, and localhost needs no exception.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_FORMS = {  # both mark the session as having given its second factor
    "activate_totp": "tenants.identity.ActivateTOTPForm",
    "add_webauthn": "tenants.identity.AddWebAuthnForm",
    # the login's page offers a key only to accounts that have one; these two and the one
    # above refuse a malformed key answer as a wrong one (a 200 with the error, never a 500)
    "authenticate_webauthn": "tenants.identity.AuthenticateWebAuthnForm",
    "reauthenticate_webauthn": "tenants.identity.ReauthenticateWebAuthnForm",
}
MFA_TOTP_ISSUER = env_str("MFA_TOTP_ISSUER", "MSSP portal")
MFA_TOTP_TOLERANCE = 1  # one 30-second step either side: clocks of phones drift
MFA_TOTP_PERIOD = 30
# No passwordless passkey login: a key is the second factor after the password. A passkey
# login would skip the login form, and with it the password checks (lockout, SSO-only tenants
# that refuse password logins) that apply to every sign-in.
MFA_PASSKEY_LOGIN_ENABLED = False
# Single sign-on (provisioning.sso): each tenant's provider is an app the adapter builds from
# the tenant's configuration; a login never attaches to an account by its e-mail address, and
# the provider's tokens are not kept.
SOCIALACCOUNT_ADAPTER = "provisioning.sso.SocialAccountAdapter"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = 10
GUARDIAN_USER_OBJ_PERMS_MODEL = "tenants.TenantUserObjectPermission"
GUARDIAN_GROUP_OBJ_PERMS_MODEL = "tenants.TenantGroupObjectPermission"
ANONYMOUS_USER_NAME = None  # no guardian anonymous user: anonymous callers get nothing

# Lockout: after AXES_FAILURE_LIMIT failures for one username from one address, refuse logins
# for AXES_COOLOFF_TIME. Applies to the login page and to POST /api/v1/auth/token/.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
# Username and address together: a lockout keyed on the username alone would let anyone lock
# any account out. The address is the client's by tenants.network's rule (below).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "tenants.network.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "tenants.auth.lockout_response"
AXES_VERBOSE = False

# How many reverse proxies in front of the portal append to X-Forwarded-For (0: none, the
# client is REMOTE_ADDR). The login throttle, the lockout and the audit log believe exactly
# that many entries of the header, counted from the right; set it to your proxy count, or
# everyone behind the proxy shares one address (and one lockout).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

API_TOKEN_DEFAULT_TTL = timedelta(days=env_int("API_TOKEN_TTL_DAYS", 30))
API_TOKEN_MAX_TTL = timedelta(days=365)

# --- REST framework ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.auth.BearerTokenAuthentication",
        "tenants.auth.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.HasTokenScope"],
    "DEFAULT_PAGINATION_CLASS": "tenants.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "tenants.api.schema.ScopedAutoSchema",  # + each token scope
    "EXCEPTION_HANDLER": "tenants.api.errors.exception_handler",
    "DEFAULT_PARSER_CLASSES": ["tenants.api.parsers.SafeJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # DRF's own throttles' address rule, the same as tenants.network's
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MSSP portal API",
    "DESCRIPTION": "Alert intake, incidents, SLA and escalation for a managed security service "
    "provider and its customers. Authenticate with `Authorization: Bearer <token>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The schema and its docs are for signed-in callers (session or API token): README.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SERVE_AUTHENTICATION": None,  # the API's own: Bearer token, then session
    # Swagger UI from the installed package, not a CDN: the docs work offline and behind
    # a strict content security policy.
    "ENUM_NAME_OVERRIDES": {
        "TenantStatusEnum": "tenants.models.Tenant.Status",
        "ResponseActionKindEnum": "response.models.ActionKind",
        "IntakeSourceStatusEnum": "alerts.models.IntakeSource.Status",
        "AlertStatusEnum": "alerts.models.Alert.Status",
        "IncidentStatusEnum": "alerts.models.IncidentStatus",
        "VisibilityEnum": "alerts.models.Visibility",
        "ReportStatusEnum": "reports.models.Report.Status",
        "ReportKindEnum": "reports.models.Report.Kind",
        "SourceKindEnum": "alerts.models.SourceKind",
        "FindingStatusEnum": "findings.models.FindingStatus",
        "EngagementKindEnum": "findings.models.Engagement.Kind",
        "ScannerEnum": "findings.models.Scanner",
        "IndicatorTypeEnum": "intel.models.IndicatorType",
        "IndicatorStatusEnum": "intel.models.Indicator.Status",
        "IntelJobStatusEnum": "intel.models.IndicatorImport.Status",
        "TlpEnum": "intel.models.Tlp",
        "IndicatorListFormatEnum": "intel.models.IndicatorImport.Format",
        "SeverityEnum": "alerts.models.Severity",
        "ChannelKindEnum": "notifications.models.Kind",
        "TaskStatusEnum": "cases.models.TaskStatus",
        "IdentityProviderKindEnum": "provisioning.models.IdentityProvider.Kind",
        "RoleEnum": "tenants.models.Membership.Role",
        "StaffRoleEnum": "tenants.models.StaffRole",
        "ObservableTypeEnum": "alerts.intake.base.OBSERVABLE_TYPES",
        "ConnectorKindEnum": "connectors.models.Connector.Kind",
        "EnrichmentSourceEnum": "connectors.models.Enrichment.Source",
        "CustomFieldTypeEnum": "cases.models.FieldType",
    },
    # The enum hook is drf-spectacular's default; ours documents the JSON error of every 4xx.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mssp.openapi.document_errors",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Request bodies: the API refuses larger ones with 413 rather than buffering them.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 5 * 1024 * 1024)
# Scanner files (Nessus, OpenVAS, Nuclei, CSV) uploaded for import: larger ones get 413.
FINDINGS_IMPORT_MAX_BYTES = env_int("FINDINGS_IMPORT_MAX_BYTES", 50 * 1024 * 1024)

# The incident export (alerts.exports, CSV and JSON): an export that would hold more incidents
# than this is refused (400 naming the count) rather than cut short; rows are read and sent
# INCIDENT_EXPORT_CHUNK at a time, so memory does not grow with the export.
INCIDENT_EXPORT_MAX_ROWS = env_int("INCIDENT_EXPORT_MAX_ROWS", 50_000)
INCIDENT_EXPORT_CHUNK = env_int("INCIDENT_EXPORT_CHUNK", 500)

# Evidence files on incidents (cases.evidence): at most EVIDENCE_MAX_BYTES each (a tenant may
# have a stricter limit, never a looser one; the proxy allows this much on the upload routes),
# EVIDENCE_MAX_PER_INCIDENT per incident. Stored under MEDIA_ROOT, which no URL serves (only
# the download views, after the incident's permission check), or in an S3-compatible bucket.
EVIDENCE_MAX_BYTES = env_int("EVIDENCE_MAX_BYTES", 100 * 1024 * 1024)
EVIDENCE_MAX_PER_INCIDENT = env_int("EVIDENCE_MAX_PER_INCIDENT", 200)
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or BASE_DIR / "var" / "media")
EVIDENCE_S3_BUCKET = env_str("EVIDENCE_S3_BUCKET")
EVIDENCE_STORAGE = (
    {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": EVIDENCE_S3_BUCKET,
            "endpoint_url": env_str("EVIDENCE_S3_ENDPOINT_URL") or None,
            "region_name": env_str("EVIDENCE_S3_REGION") or None,
            "access_key": env_str("EVIDENCE_S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("EVIDENCE_S3_SECRET_ACCESS_KEY") or None,
            "default_acl": "private",
            "file_overwrite": False,
            "querystring_auth": True,
            # Never served from the bucket; should anyone fetch an object, it is a download.
            "object_parameters": {
                "ContentType": "application/octet-stream",
                "ContentDisposition": "attachment",
            },
        },
    }
    if EVIDENCE_S3_BUCKET
    else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
)

# --- Email -----------------------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if env_str("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# Seconds for each exchange with the mail server: an unanswering one cannot hold a delivery.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH") or None
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "soc@mssp.example")
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://127.0.0.1:8000")

# --- Locale, static --------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
# collectstatic writes here; the production layout's nginx serves /static/ from it (deploy/).
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "var" / "static")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "evidence": EVIDENCE_STORAGE,
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security (production: DEBUG=0) ------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)
# The MSSP's session limits (tenants.sessions): signed out after this long without a request,
# and this long after signing in whatever happens. A customer admin may set stricter ones for
# their tenant, never looser.
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 60)
SESSION_ABSOLUTE_MINUTES = env_int("SESSION_ABSOLUTE_MINUTES", SESSION_COOKIE_AGE // 60)
# How long the records of ended sessions stay on the sessions pages (the audit log keeps the
# sign-ins and ends for as long as it keeps anything).
SESSION_HISTORY_DAYS = env_int("SESSION_HISTORY_DAYS", 90)
# The long-lived cookie that recognises a browser a user signed in from before.
DEVICE_COOKIE_NAME = "mssp_device"
DEVICE_COOKIE_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # /healthz is probed over plain HTTP by load balancers inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content-Security-Policy (django-csp) on every response: scripts and styles only from the
# portal's own static files or carrying the response's nonce (the API docs' inline init), no
# inline event handlers or style attributes, nothing from other origins. connect-src 'self'
# covers the live stream's ws(s):// on the same host. Templates add the nonce with
# {{ csp_nonce }} (mssp.context_processors.csp_nonce); tests/mssp/test_security_headers.py and
# tests/browser/test_csp.py hold every page to it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "manifest-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
# No page needs a device, a sensor or payment: refuse them to the portal and anything in it.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "bluetooth",
        "browsing-topics",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}
# Security keys (WebAuthn): the portal's own pages may create and ask for credentials, no frame.
PERMISSIONS_POLICY |= {
    "publickey-credentials-create": ["self"],
    "publickey-credentials-get": ["self"],
}
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Every task run ("Task ... succeeded"): in the embedded mode, tasks run inside daphne
        # and the scheduler, and the SLA sweep alone runs every second. Failures still show.
        "celery.app.trace": {"level": env_str("CELERY_LOG_LEVEL", "WARNING")},
    },
}
