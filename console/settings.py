"""Gatehouse settings: every knob comes from the environment, with local defaults."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)

if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="django-insecure-local-development-only")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
else:
    # Production refuses to start on defaults: these have no safe fallback.
    missing = [name for name in ("SECRET_KEY", "ALLOWED_HOSTS") if not env.str(name, default="")]
    if missing:
        raise ImproperlyConfigured(
            f"DEBUG is off, so {' and '.join(missing)} must be set in the environment."
        )
    SECRET_KEY = env("SECRET_KEY")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "mozilla_django_oidc",
    "console",
    "reviews",
    "metrics",
    "gates",
    "experiments",
]

MIDDLEWARE = [
    "console.middleware.DebugPageRedactionMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files are served by the app itself, under gunicorn in `make run` as in production.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "console.middleware.RequestIdMiddleware",
    "console.middleware.HostileUrlMiddleware",
    "console.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "console.middleware.JoinPromptMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"
ASGI_APPLICATION = "console.asgi.application"

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
                "console.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/gatehouse"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Redis, falling back to a per-process memory cache while Redis is down (console/cache.py):
# sign-in's rate limits use it and must not stop people signing in.
CACHE_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 1.0}
CACHES = {
    "default": {
        "BACKEND": "console.cache.FailoverRedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": CACHE_OPTIONS,
    }
}
# Sessions are rows in PostgreSQL (Django's default, stated here): never in Redis, so a Redis
# outage signs nobody out and does not stop sign-in.
SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_USER_MODEL = "console.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Local accounts (django-allauth): email + password. SSO (mozilla-django-oidc) is added
# beside it by its own issue; its URLs are reserved at /oidc/.
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
# Sign-up, sign-in and password reset never tell whether an email has an account. For sign-up
# that takes mandatory verification of self-made accounts (console.adapters); with "none" or
# "optional", sign-up says "already registered".
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ALLOW_SIGNUP = env.bool("ACCOUNT_ALLOW_SIGNUP", default=True)
ACCOUNT_ADAPTER = "console.adapters.AccountAdapter"
ACCOUNT_LOGIN_ON_PASSWORD_RESET = True
ACCOUNT_SESSION_REMEMBER = True
# The client address of login limits and of bad-key throttling (console.throttle): behind N
# reverse proxies, the Nth address from the right of X-Forwarded-For.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("ALLAUTH_TRUSTED_PROXY_COUNT", default=0)
# The sign-in form says so when SSO enforcement has turned passwords off.
ACCOUNT_FORMS = {"login": "console.sso.forms.LoginForm"}
# TOTP (allauth.mfa) for local accounts; break-glass admins must have it when SSO is enforced.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env("MFA_TOTP_ISSUER", default="Gatehouse")

# ---------------------------------------------------------------- single sign-on (OIDC)
# On when OIDC_ISSUER is set. Endpoints come from {issuer}/.well-known/openid-configuration
# (console.sso.discovery, cached); the flow is code + PKCE S256 with state and nonce, and the
# ID token is RS256, checked against the provider's JWKS. See console/sso/__init__.py.
OIDC_ISSUER = env("OIDC_ISSUER", default="").rstrip("/")
SSO_ENABLED = bool(OIDC_ISSUER)
SSO_ENFORCED = False
SSO_BREAK_GLASS_EMAILS: list[str] = []
SSO_ALLOWED_DOMAINS: list[str] = []
OIDC_PROVIDER_NAME = "single sign-on"
OIDC_RP_CLIENT_ID = ""
OIDC_RP_CLIENT_SECRET = ""
SSO_GROUPS_CLAIM = "groups"
SSO_GROUPS_PREFIX = "gatehouse-"
# The password backends that SSO enforcement closes, plus the OIDC backend.
SSO_AUTHENTICATION_BACKENDS = [
    "console.sso.backend.PasswordBackend",
    "console.sso.backend.AllauthPasswordBackend",
    "console.sso.backend.SsoBackend",
]
if SSO_ENABLED:
    OIDC_RP_CLIENT_ID = env("OIDC_CLIENT_ID", default="")
    OIDC_RP_CLIENT_SECRET = env("OIDC_CLIENT_SECRET", default="")
    if not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
        raise ImproperlyConfigured(
            "OIDC_ISSUER is set, so OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be too."
        )
    OIDC_PROVIDER_NAME = env("OIDC_PROVIDER_NAME", default=OIDC_PROVIDER_NAME)
    # Only these email domains may sign in with SSO; none listed means nobody may.
    SSO_ALLOWED_DOMAINS = [d.lower() for d in env.list("SSO_ALLOWED_DOMAINS", default=[])]
    SSO_ENFORCED = env.bool("SSO_ENFORCED", default=False)
    SSO_BREAK_GLASS_EMAILS = [e.lower() for e in env.list("SSO_BREAK_GLASS_EMAILS", default=[])]
    SSO_GROUPS_CLAIM = env("SSO_GROUPS_CLAIM", default=SSO_GROUPS_CLAIM)
    SSO_GROUPS_PREFIX = env("SSO_GROUPS_PREFIX", default=SSO_GROUPS_PREFIX)
    AUTHENTICATION_BACKENDS = SSO_AUTHENTICATION_BACKENDS
    if SSO_ENFORCED:
        # Both would sign a person in without the password backends: no local way in.
        ACCOUNT_ALLOW_SIGNUP = False
        ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
elif env.bool("SSO_ENFORCED", default=False):
    raise ImproperlyConfigured("SSO_ENFORCED needs single sign-on: set OIDC_ISSUER.")
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = env("OIDC_RP_SCOPES", default="openid email profile")
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_USE_NONCE = True
OIDC_TOKEN_USE_BASIC_AUTH = True
OIDC_STORE_ID_TOKEN = True  # the id_token_hint of the provider logout
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT", default=10)
OIDC_CALLBACK_CLASS = "console.sso.views.SsoCallbackView"
OIDC_AUTHENTICATE_CLASS = "console.sso.views.SsoAuthenticateView"
OIDC_OP_LOGOUT_URL_METHOD = "console.sso.views.provider_logout_url"
# How long an SSO session lives before it is re-checked with the provider (prompt=none).
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env.int("SSO_SESSION_REFRESH_SECONDS", default=15 * 60)
OIDC_EXEMPT_URLS = ["account_logout"]
LOGOUT_REDIRECT_URL = "account_login"
SSO_DISCOVERY_CACHE_SECONDS = env.int("SSO_DISCOVERY_CACHE_SECONDS", default=3600)
SSO_CLOCK_SKEW_SECONDS = 60
MIDDLEWARE.append("console.sso.middleware.SsoSessionRefresh")

EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="gatehouse@localhost")

# Who may create projects: "admins" (site admins only) or "everyone".
GATEHOUSE_PROJECT_CREATORS = env("GATEHOUSE_PROJECT_CREATORS", default="admins")
# How long a rotated key keeps working unless revoked earlier.
GATEHOUSE_KEY_ROTATION_OVERLAP_HOURS = env.int("GATEHOUSE_KEY_ROTATION_OVERLAP_HOURS", default=24)
# The most a compressed request body may inflate to (console.http_input): a decompression
# bomb is refused with 413 before it fills the web process.
GATEHOUSE_MAX_INFLATED_BYTES = env.int("GATEHOUSE_MAX_INFLATED_BYTES", default=4 * 1024 * 1024)
# The deepest JSON nesting a request may carry (console.http_input.load_json, the API's
# JSON parser): deeper is 400 too_deep, before a recursive parser or validator sees it.
GATEHOUSE_MAX_JSON_DEPTH = env.int("GATEHOUSE_MAX_JSON_DEPTH", default=64)
# The largest CSV of unit IDs one upload may be (bytes): parsing holds about ten times
# its size in the web process. Larger lists arrive in several uploads.
GATEHOUSE_MAX_ID_FILE_BYTES = env.int("GATEHOUSE_MAX_ID_FILE_BYTES", default=40 * 1024 * 1024)
# Unknown, revoked or expired keys one address may present per minute (SDK endpoints and
# the console API) before its keyed requests get 429 for the rest of the minute; 0: no limit.
GATEHOUSE_BAD_KEY_LIMIT = env.int("GATEHOUSE_BAD_KEY_LIMIT", default=60)
# A change set weighing more than this (one per change, one per unit ID of an ID-list
# change) is applied by the worker, with progress on its page, not in the web request.
GATEHOUSE_APPLY_IN_WORKER_WEIGHT = env.int("GATEHOUSE_APPLY_IN_WORKER_WEIGHT", default=50_000)
# How often beat looks for due schedules (scheduled change sets, rollout steps): each is
# applied at most this many seconds after its time.
GATEHOUSE_SCHEDULE_TICK_SECONDS = env.float("GATEHOUSE_SCHEDULE_TICK_SECONDS", default=15.0)
# Spec fragments (one entity's spec in one environment) each process keeps for incremental
# builds (console.specs.incremental): a 10,000-gate project with 3 environments needs about
# 11,000 when its rules are not environment-scoped.
GATEHOUSE_SPEC_FRAGMENT_CACHE = env.int("GATEHOUSE_SPEC_FRAGMENT_CACHE", default=100_000)
# Spec body chunks (console/publishing/bodies.py) each process keeps, in millions of
# characters: a push reads from PostgreSQL only the chunks its process has not read yet
# (a 10,000-gate environment's v1 + v2 is about 27 million).
GATEHOUSE_SPEC_CHUNK_CACHE_MB = env.int("GATEHOUSE_SPEC_CHUNK_CACHE_MB", default=128)
# Their shared tier (console/specs/shared_fragments.py): a process that has not built a
# project yet takes the units other processes built from this Redis instead of building them
# (about 40 MB for 10,000 gates), each kept this many seconds. Empty: no shared tier. A
# large deployment points it at a Redis of its own with maxmemory and allkeys-lru.
GATEHOUSE_SPEC_FRAGMENT_REDIS_URL = env("GATEHOUSE_SPEC_FRAGMENT_REDIS_URL", default=REDIS_URL)
GATEHOUSE_SPEC_FRAGMENT_TTL = env.int("GATEHOUSE_SPEC_FRAGMENT_TTL", default=86_400)

# Event intake (metrics): the largest request body, raw or inflated, and the most events one
# request may carry (413 beyond); per event, the longest name and value and the largest
# metadata (a longer event is set aside, the rest of its batch kept).
GATEHOUSE_EVENTS_MAX_BODY_BYTES = env.int("GATEHOUSE_EVENTS_MAX_BODY_BYTES", default=16 * 1024**2)
GATEHOUSE_EVENTS_MAX_PER_REQUEST = env.int("GATEHOUSE_EVENTS_MAX_PER_REQUEST", default=10_000)
GATEHOUSE_EVENT_MAX_NAME = 128
GATEHOUSE_EVENT_MAX_VALUE = env.int("GATEHOUSE_EVENT_MAX_VALUE", default=1024)
GATEHOUSE_EVENT_MAX_METADATA_BYTES = env.int("GATEHOUSE_EVENT_MAX_METADATA_BYTES", default=16384)
# How long raw events are kept (whole days; beat drops older daily partitions), and how
# long an event's idempotency key is remembered (a resend within it is dropped, counted).
GATEHOUSE_EVENT_RETENTION_DAYS = env.int("GATEHOUSE_EVENT_RETENTION_DAYS", default=90)
GATEHOUSE_EVENT_DEDUPE_HOURS = env.int("GATEHOUSE_EVENT_DEDUPE_HOURS", default=48)
# Where raw events and exposures live (docs/events.md): "postgres" (metrics_event,
# metrics_exposure) or "clickhouse" (its `events` and `exposures` tables, metrics/clickhouse.py).
# Keys, counts, tallies, set-aside examples and pending exposures stay in PostgreSQL.
GATEHOUSE_EVENTS_ENGINE = env.str("GATEHOUSE_EVENTS_ENGINE", default="postgres")
if GATEHOUSE_EVENTS_ENGINE not in ("postgres", "clickhouse"):
    raise ImproperlyConfigured(
        f"GATEHOUSE_EVENTS_ENGINE is {GATEHOUSE_EVENTS_ENGINE!r}: 'postgres' or 'clickhouse'."
    )
# A ClickHouse server (clickhouse-connect, over HTTP): clickhouse://user:pass@host:8123/db,
# clickhouses:// or https:// for TLS. Without it the embedded engine (chdb) keeps its data at
# GATEHOUSE_CLICKHOUSE_PATH: one process only (tests, one-process trials).
GATEHOUSE_CLICKHOUSE_URL = env.str("GATEHOUSE_CLICKHOUSE_URL", default="")
GATEHOUSE_CLICKHOUSE_PATH = env.str(
    "GATEHOUSE_CLICKHOUSE_PATH", default=str(BASE_DIR / "var" / "clickhouse")
)
# Set-aside events kept as received, per batch, for the events page.
GATEHOUSE_SET_ASIDE_KEPT_PER_BATCH = 20
# Experiment results (metrics.plan): PostgreSQL's work_mem for each metric's statement, whose
# sorts and hashes hold one row per unit (the server's default, 4MB, spills them to disk).
GATEHOUSE_RESULTS_WORK_MEM = env.str("GATEHOUSE_RESULTS_WORK_MEM", default="64MB")
# The per-unit-day rollup pays when its rows stand for several events each:
# bench/results_refresh.py measured the daily refresh (rollup) against the full recompute
# (events) at 1.1 events per row 12.3 s against 7.2 s, and at 9.5 events per row 0.86 s
# against 2.0 s (docs/results-computation.md). A metric's component with fewer events per
# row when built is read from events instead.
GATEHOUSE_ROLLUP_MIN_EVENTS_PER_ROW = env.float("GATEHOUSE_ROLLUP_MIN_EVENTS_PER_ROW", default=4.0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "console.api.authentication.ConsoleKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "console.api.pagination.ConsolePagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "console.api.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "console.api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_SCHEMA_CLASS": "console.api.schema.ConsoleAutoSchema",
}

# The console API's OpenAPI 3 document (/console/v1/openapi.json), generated from the views.
SPECTACULAR_SETTINGS = {
    "TITLE": "Gatehouse Console API",
    "DESCRIPTION": (
        "Gates, segments, dynamic configs, experiments, layers, holdouts, metrics, reviews "
        "and settings of one project, in the shapes of Statsig's Console API v1. "
        "Authenticate with a console key in the STATSIG-API-KEY header."
    ),
    "VERSION": "1",
    "OAS_VERSION": "3.0.3",
    "SERVE_INCLUDE_SCHEMA": False,
    # Public, like Statsig's reference (docs/openapi.md): no key is read, so a wrong or
    # revoked one does not turn the description into a 401.
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": "/console/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "console.api.schema.add_components",
    ],
    # The reference's sections, in the order people look for them (Swagger UI follows it).
    "TAGS": [
        {"name": name, "description": text}
        for name, text in (
            ("gates", "Feature gates: who gets a feature."),
            ("segments", "Reusable audiences: rules or ID lists."),
            ("dynamic_configs", "Values served by rule."),
            ("experiments", "A/B tests: groups, lifecycle, results."),
            ("layers", "Mutually exclusive experiments sharing parameters."),
            ("holdouts", "Units kept out of features, to measure them together."),
            ("metrics", "The metric catalog and power."),
            ("events", "Event names the project received."),
            ("reviews", "Change sets: approve, apply, schedule."),
            ("review_policy", "Which environments need review, by whom."),
            ("export", "The whole project as one document."),
            ("import", "A project document proposed as one change set."),
            ("project", "This project."),
            ("projects", "The caller's projects."),
            ("environments", "The project's environments."),
            ("keys", "Server, client and console keys."),
            ("members", "Who may use the project."),
            ("access_requests", "Requests to join a closed project."),
            ("tags", "Labels for entities."),
            ("audit_logs", "Every write, who made it and what changed."),
            ("webhooks", "Announcements of changes to your endpoints."),
            ("webhook_deliveries", "Webhook delivery attempts."),
        )
    ],
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Third-party assets come from node_modules (npm ci at install time), never from a CDN.
STATICFILES_DIRS = [
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
    ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"),
    ("vendor/swagger-ui", BASE_DIR / "node_modules" / "swagger-ui-dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Production serves the files collected by `manage.py collectstatic` (hashed names, compressed);
# with DEBUG on, WhiteNoise finds them where they are and picks up edits without a restart.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    if env.bool("SECURE_PROXY_SSL", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "console.context.RequestIdLogFilter"},
        # SDK and console keys travel in URLs: no log line we write holds a whole key.
        "redact_keys": {"()": "console.redaction.RedactKeysFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id", "redact_keys"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # Django's own loggers get our handler instead of its defaults (which print "Not Found:
    # /v1/download_config_specs/<key>.json" without the filters above).
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# Absolute links in emails.
GATEHOUSE_BASE_URL = env("GATEHOUSE_BASE_URL", default="http://127.0.0.1:8000")
# Webhook receivers on the internal network (`host` or `host:port`): reachable over http and
# at private addresses. Everything else must be https on a public address.
GATEHOUSE_WEBHOOK_ALLOWED_HOSTS = env.list("GATEHOUSE_WEBHOOK_ALLOWED_HOSTS", default=[])
# Warehouses on the internal network (`host` or `host:port`) a warehouse connection may
# reach; everything else must be a public address (docs/warehouse.md).
GATEHOUSE_WAREHOUSE_ALLOWED_HOSTS = env.list("GATEHOUSE_WAREHOUSE_ALLOWED_HOSTS", default=[])
# Seconds to wait for a warehouse to accept a connection.
GATEHOUSE_WAREHOUSE_CONNECT_TIMEOUT = env.int("GATEHOUSE_WAREHOUSE_CONNECT_TIMEOUT", default=10)

# Where the publish task writes specs for the SDKs' data stores (and the SDK endpoints read
# them first). Only Celery workers write there; web processes only read.
GATEHOUSE_SPEC_REDIS_URL = env("GATEHOUSE_SPEC_REDIS_URL", default=REDIS_URL)
# How long a signed ID-list file link from /v1/get_id_lists works (seconds).
GATEHOUSE_ID_LIST_URL_MAX_AGE = env.int("GATEHOUSE_ID_LIST_URL_MAX_AGE", default=3600)
