"""Django settings for janserver; every environment variable is read here and only here."""

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dj_database_url
from corsheaders.defaults import default_headers as default_cors_headers
from django.core.exceptions import ImproperlyConfigured

from janserver.env import (
    cors_origin_rules,
    env_bool,
    env_file_load,
    env_float,
    env_int,
    env_list,
    env_str,
    oidc_apps,
)

BASE_DIR = Path(__file__).resolve().parent.parent
SETTINGS_LOADED_AT = datetime.now(tz=UTC)
# Local development: the checkout's .env that `make run` writes (DEBUG on, generated
# secrets), read only when it turns DEBUG on. Production reads an env file only when
# JANSERVER_ENV_FILE names one. Variables already in the environment win.
ENV_FILE = env_file_load(BASE_DIR / ".env")

DEBUG = env_bool("DJANGO_DEBUG", False)

# janserver's bypasses of Django's defaults, each with a decision record in docs/decisions/
# and switched off by naming it here (to measure it, or to rule it out when debugging).
BYPASSES = frozenset(
    {
        "handler",
        "fast_middleware",
        "pumped_response",
        "gc_freeze",
        "db_helpers",
        "hiredis_pack",
        "redis_pool",
    }
)
BYPASSES_OFF = frozenset(env_list("JANSERVER_BYPASSES_OFF"))
if BYPASSES_OFF - BYPASSES:
    raise ImproperlyConfigured(
        f"JANSERVER_BYPASSES_OFF names unknown bypasses: "
        f"{', '.join(sorted(BYPASSES_OFF - BYPASSES))} (known: {', '.join(sorted(BYPASSES))})"
    )

# Secrets: required in production; DEBUG alone allows fixed, clearly insecure dev values.
MIN_SECRET_LENGTH = 32


def env_secret(name: str, min_length: int = MIN_SECRET_LENGTH) -> str:
    value = env_str(name)
    if value:
        if not DEBUG and len(value) < min_length:
            raise ImproperlyConfigured(
                f"{name} is too short: use at least {min_length} random characters "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
        return value
    if DEBUG:
        return f"insecure-dev-only-{name.lower()}-do-not-use-in-production".ljust(
            64, "!"
        )
    raise ImproperlyConfigured(
        f"{name} is not set. Production (DJANGO_DEBUG unset or 0) refuses to start without it; "
        "set it to a long random value, or set DJANGO_DEBUG=1 for local development."
    )


SECRET_KEY = env_secret("DJANGO_SECRET_KEY")
# HS512 wants a key of at least 64 bytes (RFC 7518 §3.2).
JWT_SECRET = env_secret("JWT_SECRET", min_length=64)
APIKEY_SECRET = env_secret("APIKEY_SECRET")
MODEL_PROVIDER_SECRET = env_str("MODEL_PROVIDER_SECRET")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    # First, so that runserver serves ASGI: development only (production runs
    # gunicorn with uvicorn workers; daphne's Twisted costs every process 0.3 s).
    *(["daphne"] if DEBUG else []),
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "corsheaders",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.openid_connect",
    "janserver",
    "accounts",
    "orgs",
    "conversations",
    "inference",
    "limits",
    "usage",
    "tools",
]

MIDDLEWARE = [
    "janserver.http.middleware.RequestContextMiddleware",
    "janserver.http.middleware.ErrorContractMiddleware",
    "janserver.http.fast_middleware.SecurityMiddleware",
    "janserver.http.fast_middleware.CorsMiddleware",
    "janserver.http.fast_middleware.SessionMiddleware",
    "janserver.http.fast_middleware.CommonMiddleware",
    "janserver.http.fast_middleware.CsrfViewMiddleware",
    "janserver.http.fast_middleware.AuthenticationMiddleware",
    "janserver.http.fast_middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "janserver.http.fast_middleware.XFrameOptionsMiddleware",
]
if "fast_middleware" in BYPASSES_OFF:  # Django's (and django-cors-headers') own
    MIDDLEWARE = [
        "janserver.http.middleware.RequestContextMiddleware",
        "janserver.http.middleware.ErrorContractMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "corsheaders.middleware.CorsMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "allauth.account.middleware.AccountMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ]

# Django's checks look for its own middleware paths; janserver.checks verifies the
# subclasses in janserver.http.fast_middleware instead.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]

ROOT_URLCONF = "janserver.urls"
ASGI_APPLICATION = "janserver.asgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite file by default, PostgreSQL (psycopg 3 with its pool) from DATABASE_URL.
# SQLite (also when named by a sqlite:// DATABASE_URL) runs in WAL mode: readers do not
# wait for the writer, and a commit does not fsync the whole journal. Temporary files
# stay in memory: a multi-row INSERT inside a transaction keeps a statement journal,
# which on disk cost a file created, written and deleted per batch of stored turns.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;"
    ),
}
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    _database = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
    if _database["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, with a pool that discards the connections the server closed
        # while they were pooled (a restart) before a request gets one: janserver.db.pool.
        _database["ENGINE"] = "janserver.db.postgresql"
        # An unreachable database answers 503 within seconds, not after ten: a new
        # connection gets DATABASE_CONNECT_TIMEOUT, a request waits at most
        # DATABASE_POOL_TIMEOUT for one from the pool.
        _database.setdefault("OPTIONS", {})["connect_timeout"] = env_int(
            "DATABASE_CONNECT_TIMEOUT", 2
        )
        _database["OPTIONS"]["pool"] = {
            "min_size": env_int("DATABASE_POOL_MIN_SIZE", 1),
            "max_size": env_int("DATABASE_POOL_MAX_SIZE", 20),
            "timeout": env_float("DATABASE_POOL_TIMEOUT", 3.0),
        }
    elif _database["ENGINE"] == "django.db.backends.sqlite3":
        _database["OPTIONS"] = {**SQLITE_OPTIONS, **_database.get("OPTIONS", {})}
else:
    _database = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(BASE_DIR / "db.sqlite3"),
        "OPTIONS": dict(SQLITE_OPTIONS),
    }
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis for the cache and channel layer when there is more than one process.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            # docs/decisions/0010: one connection pool per process, not per request.
            "BACKEND": "django.core.cache.backends.redis.RedisCache"
            if "redis_pool" in BYPASSES_OFF
            else "janserver.redis_cache.SharedPoolRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "janserver",
            # Redis down: a 503 within a second or two, not a hang.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "janserver"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Request bodies: one cap for every route, enforced before a view runs (413).
# Seconds a request's body may take to arrive (408 after): a body trickling in would
# hold a connection as long as its client likes.
REQUEST_BODY_TIMEOUT_SECONDS = env_float("REQUEST_BODY_TIMEOUT", 30.0)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int(
    "DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", 8 * 1024 * 1024
)

# The admin's one-time secrets travel in messages: keep them server-side, never in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Security: safe by default; `check --deploy` passes with production settings.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [
    r"^healthcheck$",
    r"^(v1/)?healthz$",
    r"^(v1/)?readyz$",
    r"^metrics$",
]
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = not DEBUG
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["janserver.auth.BearerAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["janserver.auth.IsAuthenticated"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["janserver.http.json_body.JSONParser"],
    "EXCEPTION_HANDLER": "janserver.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # REMOTE_ADDR is the client: the ASGI server resolves trusted proxies itself.
    "NUM_PROXIES": 0,
}
# Guest login, Google callback, token refresh and invite verification, per client IP.
AUTH_THROTTLE_RATE = env_str("AUTH_THROTTLE_RATE", "30/min")
# Failed credentials (unknown, expired or revoked keys and tokens) per client IP and
# worker process: past it, credentials the cache does not know are refused with 429
# before any database lookup.
AUTH_FAILURE_RATE = env_str("AUTH_FAILURE_RATE", "20/min")

# CORS for browser clients such as Jan's web app.
CORS_ALLOWED_ORIGINS, CORS_ALLOWED_ORIGIN_REGEXES = cors_origin_rules(
    env_list("ALLOWED_CORS_HOSTS")
)
CORS_ALLOW_CREDENTIALS = True
CORS_ALLOW_HEADERS = (
    *default_cors_headers,
    "openai-organization",
    "openai-project",
    "x-provider-data",
    "idempotency-key",
    # An API key sent the way Jan's clients do (janserver.auth.API_KEY_HEADER).
    "x-api-key",
    # The MCP streamable HTTP transport (/v1/mcp).
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
)
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After", "Mcp-Session-Id"]

SPECTACULAR_SETTINGS = {
    "TITLE": "janserver API",
    "DESCRIPTION": "Self-hosted, multi-tenant, OpenAI-compatible LLM API.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The plain (async) Django views declare their own operations.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "janserver.api.openapi.add_documented_views",
    ],
    "OAS_VERSION": "3.1.0",
}

# Email (invites): SMTP when SMTP_HOST is set, otherwise printed to stdout.
SMTP_HOST = env_str("SMTP_HOST")
if SMTP_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = SMTP_HOST
    EMAIL_PORT = env_int("SMTP_PORT", 587)
    EMAIL_HOST_USER = env_str("SMTP_USERNAME")
    EMAIL_HOST_PASSWORD = env_str("SMTP_PASSWORD")
    EMAIL_USE_SSL = EMAIL_PORT == 465
    EMAIL_USE_TLS = EMAIL_PORT == 587
    EMAIL_TIMEOUT = 10
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("SMTP_SENDER_EMAIL", "janserver@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Identity: login JWTs are HS512-signed with JWT_SECRET (never SECRET_KEY).
ACCESS_TOKEN_LIFETIME = timedelta(minutes=15)
REFRESH_TOKEN_LIFETIME = timedelta(days=7)
REFRESH_COOKIE_NAME = "jan_refresh_token"
SIMPLE_JWT = {
    "ALGORITHM": "HS512",
    "SIGNING_KEY": JWT_SECRET,
    "VERIFYING_KEY": JWT_SECRET,
    "ISSUER": "janserver",
    "AUDIENCE": "janserver-api",
    "ACCESS_TOKEN_LIFETIME": ACCESS_TOKEN_LIFETIME,
    "REFRESH_TOKEN_LIFETIME": REFRESH_TOKEN_LIFETIME,
    "USER_ID_FIELD": "public_id",
    "USER_ID_CLAIM": "sub",
    "TOKEN_TYPE_CLAIM": "token_type",
    "JTI_CLAIM": "jti",
    "UPDATE_LAST_LOGIN": False,
}
# Google login through django-allauth's Google provider (OAuth2 + OpenID Connect, PKCE).
OAUTH2_GOOGLE_CLIENT_ID = env_str("OAUTH2_GOOGLE_CLIENT_ID")
OAUTH2_GOOGLE_CLIENT_SECRET = env_str("OAUTH2_GOOGLE_CLIENT_SECRET")
OAUTH2_GOOGLE_REDIRECT_URL = env_str("OAUTH2_GOOGLE_REDIRECT_URL")
# Email and password accounts through django-allauth's account forms and flows
# (accounts/passwords.py): SIGNUP_MODE open, invite (an organization invite's code) or
# closed; EMAIL_VERIFICATION mandatory, optional or none. Links in the mails are the
# front end's pages with `?key=<key>` (just the key when unset).
SIGNUP_MODES = ("open", "invite", "closed")
SIGNUP_MODE = env_str("SIGNUP_MODE", "closed").lower()
if SIGNUP_MODE not in SIGNUP_MODES:
    raise ImproperlyConfigured(f"SIGNUP_MODE must be one of {', '.join(SIGNUP_MODES)}.")
EMAIL_VERIFICATION_URL = env_str("EMAIL_VERIFICATION_URL")
PASSWORD_RESET_URL = env_str("PASSWORD_RESET_URL")
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = env_str("EMAIL_VERIFICATION", "mandatory").lower()
if ACCOUNT_EMAIL_VERIFICATION not in ("mandatory", "optional", "none"):
    raise ImproperlyConfigured(
        "EMAIL_VERIFICATION must be mandatory, optional or none."
    )
ACCOUNT_PREVENT_ENUMERATION = True
# A password reset asked for an unknown address sends nothing (the answer is the same).
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[janserver] "
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 3
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24  # reset links work for a day
# allauth's throttles, in the shared cache: failed logins per IP and per account
# (email), signups per IP, reset requests per IP and per email, reset confirmations per
# IP, verification mails per address.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": env_str("LOGIN_FAILED_RATE_LIMIT", "10/m/ip,5/5m/key"),
    "signup": env_str("SIGNUP_RATE_LIMIT", "20/m/ip"),
    "reset_password": env_str("PASSWORD_RESET_RATE_LIMIT", "20/m/ip,5/m/key"),
    "reset_password_from_key": "20/m/ip",
    "confirm_email": "1/3m/key",
}
SOCIALACCOUNT_PROVIDERS = {
    "google": {
        "APPS": [
            {
                "client_id": OAUTH2_GOOGLE_CLIENT_ID,
                "secret": OAUTH2_GOOGLE_CLIENT_SECRET,
                "key": "",
            }
        ]
        if OAUTH2_GOOGLE_CLIENT_ID
        else [],
        "SCOPE": ["openid", "email", "profile"],
        "AUTH_PARAMS": {"access_type": "online"},
        "OAUTH_PKCE_ENABLED": True,
        "FETCH_USERINFO": False,
    },
    # Single sign-on with any OpenID Connect provider (Keycloak, Microsoft Entra ID,
    # Okta, ...): apps from OIDC_PROVIDERS here, and SocialApp rows (provider
    # "openid_connect") added in the admin. See README, "Single sign-on".
    "openid_connect": {
        "APPS": oidc_apps("OIDC_PROVIDERS"),
        "OAUTH_PKCE_ENABLED": True,
    },
}

# Who a credential is stays cached in each process; changes are broadcast on the channel
# layer (Redis), and the TTL bounds staleness where there is no broadcast (no Redis).
AUTH_CACHE_TTL_SECONDS = env_int("AUTH_CACHE_TTL_SECONDS", 60 if REDIS_URL else 2)
# How long cached credentials live while Redis (and so the broadcast of revocations)
# cannot be reached: as long as without Redis.
AUTH_CACHE_FALLBACK_TTL_SECONDS = 2
AUTH_CACHE_MAX_ENTRIES = 50_000
API_KEY_LAST_USED_FLUSH_SECONDS = 60

# The outbound address policy (inference/egress.py): address ranges (CIDR) that URLs an
# organization registers may reach besides public ones, e.g. "10.20.0.0/16" for a
# cluster's model servers. Link-local and metadata addresses stay out of reach.
EGRESS_ALLOWED_RANGES = env_list("EGRESS_ALLOWED_RANGES")
try:
    for _range in EGRESS_ALLOWED_RANGES:
        ipaddress.ip_network(_range, strict=False)
except ValueError as _error:
    raise ImproperlyConfigured(f"EGRESS_ALLOWED_RANGES: {_error}") from None

# Inference: the upstream (vLLM) client. Timeouts in seconds.
JAN_INFERENCE_SETUP = env_bool("JAN_INFERENCE_SETUP", False)
JAN_INFERENCE_MODEL_URL = env_str("JAN_INFERENCE_MODEL_URL")
# What serves it: vllm, llama.cpp (the gateway then sends no X-Request-Id, which
# llama.cpp refuses) or openai.
JAN_INFERENCE_VENDOR = env_str("JAN_INFERENCE_VENDOR", "vllm")
UPSTREAM_CONNECT_TIMEOUT_SECONDS = env_float("UPSTREAM_CONNECT_TIMEOUT", 5.0)
UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS = env_float("UPSTREAM_FIRST_BYTE_TIMEOUT", 120.0)
UPSTREAM_IDLE_TIMEOUT_SECONDS = env_float("UPSTREAM_IDLE_TIMEOUT", 120.0)
UPSTREAM_MAX_CONNECTIONS = env_int("UPSTREAM_MAX_CONNECTIONS", 10_000)
UPSTREAM_KEEPALIVE_SECONDS = 30.0
# A comment line on a stream that has been silent this long keeps proxies from closing it.
SSE_HEARTBEAT_SECONDS = env_float("SSE_HEARTBEAT_SECONDS", 15.0)
# Request limits checked before anything reaches the upstream.
INFERENCE_MAX_N = env_int("INFERENCE_MAX_N", 8)
# How often each process reloads the provider/model catalog (changes also broadcast).
CATALOG_REFRESH_SECONDS = env_float("CATALOG_REFRESH_SECONDS", 30.0)

# Rate limits (limits/): the rows are reloaded on change and at least this often.
RATE_LIMIT_REFRESH_SECONDS = env_float("RATE_LIMIT_REFRESH_SECONDS", 30.0)
# Redis unreachable: admit requests without checking their limits (fail open), or
# answer 503 (fail closed, the default: a tenant's limits are a promise to the others).
RATE_LIMIT_FAIL_OPEN = env_bool("RATE_LIMIT_FAIL_OPEN", False)
# A concurrency slot is held at most this long: a process killed mid-request frees
# its slots after it (a request running longer stops counting then).
RATE_LIMIT_SLOT_LEASE_SECONDS = env_int("RATE_LIMIT_SLOT_LEASE_SECONDS", 900)
# The completion tokens reserved for a request without max_tokens (settled with the
# real count once it ends).
RATE_LIMIT_DEFAULT_COMPLETION_TOKENS = env_int(
    "RATE_LIMIT_DEFAULT_COMPLETION_TOKENS", 1024
)
# Budgets: how often a process re-reads a scope's spend from the usage ledger (it seeds
# a month's counter when Redis holds none: a new month, a restarted Redis).
BUDGET_LEDGER_REFRESH_SECONDS = env_float("BUDGET_LEDGER_REFRESH_SECONDS", 30.0)
# The prefix of the counters' keys in Redis (gateways sharing a Redis share limits).
RATE_LIMIT_KEY_PREFIX = env_str("RATE_LIMIT_KEY_PREFIX", "janserver:rl:")

# Usage ledger: rows queued in memory, written in batches off the request path.
USAGE_FLUSH_SECONDS = env_float("USAGE_FLUSH_SECONDS", 1.0)
USAGE_FLUSH_BATCH = env_int("USAGE_FLUSH_BATCH", 500)
USAGE_MAX_PENDING = env_int("USAGE_MAX_PENDING", 100_000)
# Days the ledger's raw rows (and the minute rollups) are kept by `manage.py
# prune_usage`; 0 keeps them forever. Hour and day rollups are always kept.
USAGE_RETENTION_DAYS = env_int("USAGE_RETENTION_DAYS", 90)
# Prometheus /metrics: with METRICS_TOKEN, scrapers send "Authorization: Bearer <token>";
# without it only loopback clients may scrape (everyone else gets 404).
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
METRICS_TOKEN = env_str("METRICS_TOKEN")

# Tools (the tools app): google_search and scrape on Serper, the MCP endpoint /v1/mcp and
# the gateway to organizations' own MCP servers. Timeouts in seconds.
SERPER_API_KEY = env_str("SERPER_API_KEY")
SERPER_SEARCH_URL = env_str("SERPER_SEARCH_URL", "https://google.serper.dev/search")
SERPER_SCRAPE_URL = env_str("SERPER_SCRAPE_URL", "https://scrape.serper.dev")
TOOL_CONNECT_TIMEOUT_SECONDS = env_float("TOOL_CONNECT_TIMEOUT", 5.0)
# The longest one tool call may take (Jan's response-api: 45 s), and the most bytes of
# what a tool's server answers (a larger answer fails the call).
TOOL_CALL_TIMEOUT_SECONDS = env_float("TOOL_CALL_TIMEOUT", 45.0)
TOOL_RESULT_MAX_BYTES = env_int("TOOL_RESULT_MAX_BYTES", 512 * 1024)
# How long the tool list of a registered MCP server is reused before it is asked again.
MCP_SERVER_TOOLS_TTL_SECONDS = env_float("MCP_SERVER_TOOLS_TTL", 60.0)
# MCP sessions (Mcp-Session-Id) live in the worker process that opened them: idle ones
# end after MCP_SESSION_IDLE_TIMEOUT. MCP_STATELESS=1 serves every request on its own
# (no session id), for servers whose requests may reach another worker process.
MCP_SESSION_IDLE_TIMEOUT_SECONDS = env_float("MCP_SESSION_IDLE_TIMEOUT", 1800.0)
MCP_MAX_SESSIONS = env_int("MCP_MAX_SESSIONS", 10_000)
MCP_STATELESS = env_bool("MCP_STATELESS", False)

# Conversations: the longest text accepted in one item or workspace instruction.
CONVERSATION_TEXT_MAX_CHARS = env_int("CONVERSATION_TEXT_MAX_CHARS", 100_000)

# Responses API: how long a background response's events stay resumable, the most
# input items one request may carry and context items (conversation or
# previous_response_id history) sent to the model, and how long a resumed stream
# waits for the next event of a runner before giving up.
RESPONSES_EVENT_TTL_SECONDS = 600
RESPONSES_MAX_INPUT_ITEMS = 1000
RESPONSES_MAX_CONTEXT_ITEMS = 1000
RESPONSES_REPLAY_IDLE_SECONDS = UPSTREAM_IDLE_TIMEOUT_SECONDS + 60.0
# A runner touches its unfinished response this often; one untouched for
# RESPONSES_ORPHANED_SECONDS lost its process and is failed when next read (and by
# `manage.py fail_orphaned_responses`).
RESPONSES_HEARTBEAT_SECONDS = 30.0
RESPONSES_ORPHANED_SECONDS = 180.0
# Server-side tools in a response (web_search, mcp, Jan's google_search function):
# at most RESPONSES_MAX_TOOL_STEPS rounds of tool calls (then the response ends
# incomplete), each tool call within RESPONSES_TOOL_TIMEOUT_SECONDS (Jan: 8, 45 s).
RESPONSES_MAX_TOOL_STEPS = env_int("RESPONSES_MAX_TOOL_STEPS", 8)
RESPONSES_TOOL_TIMEOUT_SECONDS = env_float("RESPONSES_TOOL_TIMEOUT_SECONDS", 45.0)

# Tenancy.
INVITE_REDIRECT_URL = env_str("INVITE_REDIRECT_URL", "http://localhost:3000/invite")
ORGANIZATION_ADMIN_EMAILS = [e.lower() for e in env_list("ORGANIZATION_ADMIN_EMAILS")]
DEFAULT_ORGANIZATION_NAME = "Default"
DEFAULT_PROJECT_NAME = "Default Project"

# Logging: one JSON object per line on stdout, with the request id.
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "janserver.log.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        }
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {
            "handlers": ["stdout"],
            "level": LOG_LEVEL,
            "propagate": False,
        },
    },
}
