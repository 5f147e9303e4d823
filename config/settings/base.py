"""Settings shared by every environment. Everything that varies comes from the environment."""

from django.utils.translation import gettext_lazy as _

from config.env import BASE_DIR, env

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])

# --- Warden ---------------------------------------------------------------------------
WARDEN_BASE_DOMAIN = env("WARDEN_BASE_DOMAIN", default="localhost")
# The port in links Warden prints (provision_tenant's "url", the demo banner); empty
# behind a proxy on 80/443.
WARDEN_PUBLIC_PORT = env("WARDEN_PUBLIC_PORT", default="")
WARDEN_REGION = env("WARDEN_REGION", default="eu")
WARDEN_REGIONS = ("eu", "us")
# Refuse tenants whose allowed regions exclude WARDEN_REGION (docs/decisions/0004-residency.md).
WARDEN_RESIDENCY_ENFORCED = env.bool("WARDEN_RESIDENCY_ENFORCED", default=True)
WARDEN_AUDIT_SIGNING_KEY = env("WARDEN_AUDIT_SIGNING_KEY", default="")
WARDEN_AUDIT_KEY_ID = env("WARDEN_AUDIT_KEY_ID", default="k1")
WARDEN_AUDIT_CHECKPOINT_EVERY = env.int("WARDEN_AUDIT_CHECKPOINT_EVERY", default=100)
WARDEN_AUDIT_CHECKPOINT_MINUTES = env.int("WARDEN_AUDIT_CHECKPOINT_MINUTES", default=60)
# Fernet key(s) for secrets stored in the database (connector credentials), comma-separated,
# newest first so keys can be rotated (MultiFernet).
WARDEN_SECRETS_KEY = env("WARDEN_SECRETS_KEY", default="")
# Connectors (apps/connectors/conf.py has every setting and its default; docs/connectors.md).
# Loopback fake services (http, any port, 127.0.0.1) for local demos against fakes only:
# production settings refuse to start with it on.
WARDEN_CONNECTORS_ALLOW_LOOPBACK = env.bool("WARDEN_CONNECTORS_ALLOW_LOOPBACK", default=False)
# Slack's Web API (another one for GovSlack; a fake on loopback in benchmarks).
WARDEN_SLACK_API_URL = env("WARDEN_SLACK_API_URL", default="https://slack.com/api/")
WARDEN_CONNECTORS_CONNECT_TIMEOUT = env.float("WARDEN_CONNECTORS_CONNECT_TIMEOUT", default=5.0)
WARDEN_CONNECTORS_READ_TIMEOUT = env.float("WARDEN_CONNECTORS_READ_TIMEOUT", default=20.0)
WARDEN_CONNECTORS_MAX_ATTEMPTS = env.int("WARDEN_CONNECTORS_MAX_ATTEMPTS", default=4)
WARDEN_CONNECTORS_BREAKER_FAILURES = env.int("WARDEN_CONNECTORS_BREAKER_FAILURES", default=5)
WARDEN_CONNECTORS_BREAKER_SECONDS = env.int("WARDEN_CONNECTORS_BREAKER_SECONDS", default=60)
# --- customer agent (apps/connectors/agent/conf.py; docs/decisions/0024-customer-agent.md)
WARDEN_CONNECTORS_AGENT_POLL_SECONDS = env.int("WARDEN_CONNECTORS_AGENT_POLL_SECONDS", default=20)
WARDEN_CONNECTORS_AGENT_WAIT_SECONDS = env.int("WARDEN_CONNECTORS_AGENT_WAIT_SECONDS", default=60)
WARDEN_CONNECTORS_AGENT_LEASE_SECONDS = env.int("WARDEN_CONNECTORS_AGENT_LEASE_SECONDS", default=30)
WARDEN_CONNECTORS_AGENT_OFFLINE_SECONDS = env.int("WARDEN_CONNECTORS_AGENT_OFFLINE_SECONDS", default=60)
# --- end customer agent
# The event outbox (apps/events/conf.py has every setting and its default; docs/events.md).
WARDEN_EVENTS_RELAY_SECONDS = env.int("WARDEN_EVENTS_RELAY_SECONDS", default=30)
WARDEN_EVENTS_LEASE_SECONDS = env.int("WARDEN_EVENTS_LEASE_SECONDS", default=60)
WARDEN_EVENTS_MAX_ATTEMPTS = env.int("WARDEN_EVENTS_MAX_ATTEMPTS", default=8)
WARDEN_EVENTS_RELAY_BUDGET_SECONDS = env.int("WARDEN_EVENTS_RELAY_BUDGET_SECONDS", default=30)
WARDEN_EVENTS_RETENTION_DAYS = env.int("WARDEN_EVENTS_RETENTION_DAYS", default=30)
# The migrated schema new tenants are cloned from (see docs/decisions/0002-tenant-cloning.md).
TENANT_BASE_SCHEMA = "_warden_base"
TENANT_CREATION_FAKES_MIGRATIONS = True

# --- Apps -----------------------------------------------------------------------------
# Placement is fixed on day one (docs/decisions/0001-app-placement.md): moving an app
# between these lists later needs a fake-zero migration procedure.
SHARED_APPS = [
    "apps.tenants",  # first, so its migrate_schemas/migrate override django_tenants'
    "django_tenants",
    "django.contrib.contenttypes",  # public only: one set of content-type ids
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "apps.accounts.admin_config.WardenAdminConfig",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "apps.accounts",  # platform admins in public, tenant users in each tenant schema
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_celery_beat",
    "django_prometheus",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "apps.core",
]
TENANT_APPS = [
    "django.contrib.auth",
    "django.contrib.sessions",
    "apps.accounts.admin_config.WardenAdminConfig",
    "apps.accounts",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "rest_framework.authtoken",
    "apps.audit",
    "apps.policies",
    "apps.events",
    "apps.tickets",
    "apps.sla",
    "apps.notifications",
    "apps.connectors",
    "apps.triage",
    "apps.desk",
    "apps.portal",
    "apps.demo",
]
INSTALLED_APPS = list(SHARED_APPS) + [a for a in TENANT_APPS if a not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
ROOT_URLCONF = "config.urls_tenant"
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False
# Set search_path only when the schema changes, not before every statement.
TENANT_LIMIT_SET_CALLS = True

MIDDLEWARE = [
    "apps.core.middleware.RequestIDMiddleware",
    "apps.core.csp.CSPMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "apps.tenants.middleware.TenantMiddleware",
    "apps.tenants.middleware.TenantAccessMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.accounts.zones.TimeZoneMiddleware",  # the viewer's time zone (the API stays UTC)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.accounts.middleware.MfaRequiredMiddleware",
    "apps.core.idempotency.IdempotencyMiddleware",
    "apps.core.middleware.ApplicationErrorMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.tenants.context_processors.tenant",
                "apps.portal.context_processors.ui",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# --- Data -----------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://warden@127.0.0.1:54329/warden")}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
# Never a transaction-mode pooler: see docs/decisions/0003-no-transaction-pooling.md.
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:63799/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Every key carries the schema of the current tenant.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "TIMEOUT": 300,
    }
}

# --- Auth -----------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
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
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_ADAPTER = "apps.accounts.adapters.AccountAdapter"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Warden"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False

# --- API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.accounts.permissions.IsTenantMember"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.CursorPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.problems.exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.core.throttling.UserRateThrottle",
        "apps.core.throttling.IPRateThrottle",
        "apps.core.throttling.WriteRateThrottle",
    ],
    "NUM_PROXIES": env.int("WARDEN_NUM_PROXIES", default=0),  # the number of proxies in front, in production
}
# Idempotency-Key (docs/api-idempotency.md) and API rate limits (429 + Retry-After).
WARDEN_IDEMPOTENCY_LOCK_SECONDS = env.int("WARDEN_IDEMPOTENCY_LOCK_SECONDS", default=60)
WARDEN_IDEMPOTENCY_TTL_SECONDS = env.int("WARDEN_IDEMPOTENCY_TTL_SECONDS", default=24 * 60 * 60)
WARDEN_API_RATES = {
    "user": env("WARDEN_API_RATE_USER", default="600/min"),
    "ip": env("WARDEN_API_RATE_IP", default="300/min"),
    "ip_user": env("WARDEN_API_RATE_IP_USER", default="3000/min"),  # signed-in users, per address
    "write": env("WARDEN_API_RATE_WRITE", default="120/min"),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Warden API",
    "DESCRIPTION": "Versioned API of the Warden ITSM governance portal.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- i18n -----------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("pl", _("Polish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"  # the fallback; pages use the viewer's zone (apps.accounts.zones)
USE_TZ = True
FORMAT_MODULE_PATH = ["config.formats"]  # date and time formats end in the zone's abbreviation

# --- Files ----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / ".run" / "static"))  # collectstatic writes here
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / ".run" / "media"))
MEDIA_URL = "/media/"
# Tenant files: per region (a storage backend or a directory per region), then per tenant
# (docs/decisions/0004-residency.md). Filesystem default: <MEDIA_ROOT>/regions/<region>/tenants/<schema>/.
WARDEN_STORAGE_BACKENDS: dict = {}  # e.g. {"eu": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {...}}}
STORAGES = {
    "default": {"BACKEND": "apps.tenants.storage.RegionalTenantStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Attachments: limits, allowed types (sniffed from content) and the scanner (docs/attachments.md).
WARDEN_ATTACHMENT_MAX_BYTES = env.int("WARDEN_ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
FILE_UPLOAD_HANDLERS = ["apps.core.files.limits.UploadSizeLimitHandler", "django.core.files.uploadhandler.MemoryFileUploadHandler", "django.core.files.uploadhandler.TemporaryFileUploadHandler"]  # noqa: E501  (413 before anything is stored)
WARDEN_ATTACHMENT_ALLOWED_TYPES = [  # same as apps.core.files.DEFAULT_ALLOWED
    "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "text/plain", "text/csv", "application/json",
]
WARDEN_ATTACHMENT_SCANNER = env("WARDEN_ATTACHMENT_SCANNER", default="apps.core.files.EicarScanner")
WARDEN_CLAMD = {
    "host": env("WARDEN_CLAMD_HOST", default="127.0.0.1"),
    "port": env.int("WARDEN_CLAMD_PORT", default=3310),
    "socket": env("WARDEN_CLAMD_SOCKET", default=""),  # a socket path wins over host/port
    "timeout": env.float("WARDEN_CLAMD_TIMEOUT", default=30.0),
}

# --- Email ----------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Warden <warden@localhost>")

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 4 * 60
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_TENANT_CACHE_SECONDS = 30
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The worker keeps Django's LOGGING (request id and tenant on every line, JSON in
# production) instead of replacing the root logger's handlers with its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Logging --------------------------------------------------------------------------
LOG_FORMAT = env("LOG_FORMAT", default="text")  # text | json
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "apps.core.logging.RequestIDFilter"},
        "tenant": {"()": "django_tenants.log.TenantContextFilter"},
    },
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)s [%(request_id)s] [%(schema_name)s] %(name)s: %(message)s"
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(schema_name)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id", "tenant"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's defaults give "django" a console handler of its own (plain format, when
        # DEBUG is on): every django.request line came out twice. Through the root only.
        "django": {"level": LOG_LEVEL, "handlers": [], "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        # Django's defaults give runserver's access lines a handler of their own, without
        # our filters; through the root handler they get the same format as everything.
        "django.server": {"level": "INFO", "handlers": [], "propagate": True},
    },
}

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
PROMETHEUS_EXPORT_MIGRATIONS = False
