"""Settings for the phone backoffice, read from the environment.

Local defaults run the whole product on SQLite with a filesystem Celery broker, so a fresh
machine needs nothing but Python. Production sets ``DEBUG=false`` and real values for
``SECRET_KEY``, ``DATABASE_URL``, ``REDIS_URL`` and ``ALLOWED_HOSTS``; with those,
``manage.py check --deploy`` is silent (see ``backoffice/tests/test_settings.py``).
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp import constants as csp
from django.templatetags.static import static
from django.utils.translation import gettext_lazy as _

from backoffice import production

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Off unless the environment turns it on: a deployment that forgets it runs with production
# defaults (and must then give real secrets, see the end of this file). `dev.py run` and the test
# suite (pyproject.toml, pytest-env) set DEBUG=true explicitly.
DEBUG = env.bool("DEBUG", default=False)
# The fallback key is only acceptable while DEBUG is on; production must provide its own.
SECRET_KEY = env.str("SECRET_KEY", default="" if not DEBUG else production.LOCAL_SECRET_KEY)
if not SECRET_KEY:
    raise environ.ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "backoffice.auth_config.RolesAuthConfig",  # django.contrib.auth, named "Roles"
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # Refresh tokens used once and sign-out (backoffice.tokens); its admin is unregistered.
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    # MFA of people: authenticator apps (TOTP) and recovery codes (backoffice.mfa).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "backoffice",
    "phones",
    "audit",
    "provider_sync",
    "simulator",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every answer (CONTENT_SECURITY_POLICY below).
    "backoffice.middleware.DocumentCSPMiddleware",  # django-csp's, on HTML answers
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "backoffice.middleware.RequestContextMiddleware",
    "backoffice.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A session verified by an authenticator ends when that authenticator is reset (backoffice.mfa).
    "backoffice.mfa_views.EndResetSessionsMiddleware",
    # The operator's language and time zone in the admin; English and UTC on the API.
    "backoffice.operator_locale.OperatorLocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    # A password someone else chose is changed before anything else (backoffice.password_policy).
    "backoffice.password_policy.PasswordChangeRequired",
]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# Off by default: a SELECT 1 before every request's first query costs a round trip (17% of an
# API write here). Django still drops a connection that failed, so a database restart costs one
# failed request per worker. Turn on behind poolers that silently drop idle connections.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=False)
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The local run has a web process and a worker writing the same file.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
else:
    # Server-side parameters and psycopg's automatic prepared statements: a statement run a few
    # times on a connection is parsed and planned once (-0.2 ms of PostgreSQL CPU per API write
    # here, ~25 %). Behind a transaction-mode pooler without prepared-statement support, set
    # DB_PREPARE_THRESHOLD=off (README, "Configuration").
    _prepare = env.str("DB_PREPARE_THRESHOLD", default="5").strip().lower()
    DATABASES["default"]["OPTIONS"] = {
        "server_side_binding": env.bool("DB_SERVER_SIDE_BINDING", default=True),
        "prepare_threshold": None if _prepare in ("off", "none", "") else int(_prepare),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "backoffice.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "backoffice.auth.RoleBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
# Unfold's login page posts no "next": without this an operator would land on /accounts/profile/.
LOGIN_REDIRECT_URL = "admin:index"

# The project's own language and zone: the API's (its contract is in English, its times in UTC),
# the workers' and the commands'. The admin speaks each operator's instead
# (backoffice.operator_locale.OperatorLocaleMiddleware).
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LANGUAGES = [("pt-br", _("Brazilian Portuguese")), ("en", _("English"))]
# Our catalogue (locale/pt_BR): our strings and those of django-unfold, which ships none.
LOCALE_PATHS = [BASE_DIR / "locale"]
# One date format per language across the admin, each time with its zone's name.
FORMAT_MODULE_PATH = ["backoffice.formats"]
# What a new operator gets until they choose (User.language, User.time_zone).
OPERATOR_DEFAULT_LANGUAGE = env.str("OPERATOR_DEFAULT_LANGUAGE", default="pt-br")
OPERATOR_DEFAULT_TIME_ZONE = env.str("OPERATOR_DEFAULT_TIME_ZONE", default="America/Sao_Paulo")

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security: strict whenever DEBUG is off -------------------------------------------------
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Content-Security-Policy (django-csp 4). Everything is served from our own origin (the admin
# theme's assets, Swagger UI from the sidecar, Chart.js): nothing from elsewhere may load, no
# plugin, no framing, forms post only here. Two allowances, each the narrowest that works:
# - script-src 'unsafe-eval': django-unfold runs the standard Alpine.js build, which compiles
#   the x-data / x-init / @click expressions written in its templates with Function(); Alpine's
#   CSP build cannot evaluate those expressions. No inline <script> is allowed (unfold, the
#   admin and our templates have none; the API docs page loads its init script from a URL).
# - style-src 'unsafe-inline': unfold's templates and Swagger UI carry style="..." attributes and
#   <style> blocks without nonces; a nonce would switch 'unsafe-inline' off and break them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF, csp.UNSAFE_EVAL],
        "style-src": [csp.SELF, csp.UNSAFE_INLINE],
        "img-src": [csp.SELF, "data:"],
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "object-src": [csp.NONE],
        "base-uri": [csp.SELF],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    },
}

# --- REST API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "backoffice.auth.OperatorJWTAuthentication",
        "backoffice.service_accounts.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # DRF's JSON parser with a size and a nesting limit checked before decoding.
    "DEFAULT_PARSER_CLASSES": ["backoffice.parsers.BoundedJSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "backoffice.api_errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# The largest body the API and the providers' callbacks read (413 beyond), well under Django's
# own 2.5 MB (which still bounds the admin). A contract body is at most ~10 kB (a bulk re-sync of
# 500 ids); 1 MiB leaves room, and what fits is then bounded in depth (backoffice.parsers).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=env.int("JWT_REFRESH_HOURS", default=24)),
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "UPDATE_LAST_LOGIN": False,
    # A refresh token is used once: refreshing answers a new pair and blacklists the one given
    # (a stolen refresh token works once, then the owner's or the thief's next use fails).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Phone backoffice API",
    "DESCRIPTION": "Phones of customer accounts (Pismo phones contract), their audit trail and provider sync.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "OAS_VERSION": "3.1.0",
    # /api/schema/ and /api/docs/: signed-in operators only (session or bearer token), unless
    # API_DOCS_PUBLIC; backoffice.docs says how an anonymous caller is answered.
    "SERVE_PERMISSIONS": ["backoffice.permissions.DocsAccess"],
}
# The API's description names every endpoint, parameter and error: not for the whole internet.
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=False)

# --- Audit -----------------------------------------------------------------------------------
# Key of the per-phone HMAC chain over audit entries; rotate only with a re-seal procedure.
AUDIT_HMAC_KEY = env.str("AUDIT_HMAC_KEY", default=SECRET_KEY)
# The client address the app trusts (audit entries, the lockout): REMOTE_ADDR when 0; behind N
# proxies that each append the address they were called from to X-Forwarded-For, the N-th hop
# from the right (what a client writes into the header itself stays to the left, unread).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Brute-force lockout (django-axes) ------------------------------------------------------
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
# Lockouts are keyed by the address TRUSTED_PROXY_COUNT gives (django-ipware is not installed:
# axes would read REMOTE_ADDR, which behind the proxy is the proxy for every client).
AXES_CLIENT_IP_CALLABLE = "backoffice.middleware.client_ip"
# The answer to a locked-out sign-in: JSON {"message"} on the API, built without templates.
AXES_LOCKOUT_CALLABLE = "backoffice.auth.lockout_response"

# Wrong authentication codes count as failed sign-ins: axes records the request's form data with
# these masked, so a code (a recovery code could still be unused) is never written down.
AXES_SENSITIVE_PARAMETERS = ["otp"]

# --- MFA of people (backoffice.mfa) ------------------------------------------------------------
# Holders of any of these permissions sign in to the admin with an authenticator app and enrol one
# right after the password if they have none (a superuser holds them all). Anyone enrolled gives a
# code, in the admin and at /auth/token, whatever its roles. `dev.py run` sets it empty (demo).
MFA_REQUIRED_PERMISSIONS = [
    permission.strip()
    for permission in env.list(
        "MFA_REQUIRED_PERMISSIONS",
        default=[
            "phones.add_phone",
            "phones.change_phone",
            "phones.manage_provider_link",
            "backoffice.add_user",
            "backoffice.change_user",
        ],
    )
    if permission.strip()
]
OTP_TOTP_ISSUER = "Phone backoffice"

# --- Celery ----------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Without Redis the local run uses kombu's filesystem transport: a real worker, no server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        # A dead or half-open connection to Redis is noticed instead of waited on: TCP keepalive,
        # a connect timeout (a publish on commit never hangs on an unreachable host), a timeout
        # for commands (well above BRPOP's 1 s), and kombu's health checks of idle and BRPOP
        # connections (its default, said here). No retry_on_timeout: redis-py would replay a
        # publish that timed out (a duplicate message) and kombu turns batch publishing off.
        "socket_keepalive": True,
        "socket_connect_timeout": 5,
        "socket_timeout": 10,
        "health_check_interval": 25,
    }
    if CELERY_BROKER_URL.startswith("redis")
    else {
        "data_folder_in": str(VAR_DIR / "broker"),
        "data_folder_out": str(VAR_DIR / "broker"),
        "processed_folder": str(VAR_DIR / "broker-processed"),
        # kombu's default is "control" in the working directory (exchange tables of the local run).
        "control_folder": str(VAR_DIR / "broker-control"),
        "store_processed": False,
    }
)
# Workers outlive the broker: they retry connecting at start and after a loss, for ever (the
# default gives up after 100 tries and the worker exits). Publishing does not wait on it: it has
# its own short retry policy (phones.outbox) and the sweeper re-publishes what was lost. celery is
# pinned to a version that reconnects (provider_sync/tests/test_broker_loss.py).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE

# --- Provider sync (phones/sync.py) ------------------------------------------------------------
# Defaults point at the local provider simulator (manage.py run_provider_simulator), never at a
# real provider: production sets the real base URLs and credentials explicitly.
SINCH_NUMBERS_BASE_URL = env.str("SINCH_NUMBERS_BASE_URL", default="http://127.0.0.1:8765")
SINCH_PROJECT_ID = env.str("SINCH_PROJECT_ID", default="sim-project")
_SIM = production.SIMULATOR_CREDENTIALS
SINCH_KEY_ID = env.str("SINCH_KEY_ID", default=_SIM["SINCH_KEY_ID"])
SINCH_KEY_SECRET = env.str("SINCH_KEY_SECRET", default=_SIM["SINCH_KEY_SECRET"])
SINCH_CALLBACK_SECRET = env.str("SINCH_CALLBACK_SECRET", default=_SIM["SINCH_CALLBACK_SECRET"])
PLIVO_BASE_URL = env.str("PLIVO_BASE_URL", default="http://127.0.0.1:8765")
PLIVO_AUTH_ID = env.str("PLIVO_AUTH_ID", default=_SIM["PLIVO_AUTH_ID"])
PLIVO_AUTH_TOKEN = env.str("PLIVO_AUTH_TOKEN", default=_SIM["PLIVO_AUTH_TOKEN"])
# This deployment talks to the provider simulator (the local run, the tests that drive it, the
# benchmark): its credentials are then accepted with DEBUG off, and a callback URL may point at
# loopback over http. Never set where real providers are used.
PROVIDER_SIMULATOR = env.bool("PROVIDER_SIMULATOR", default=False)
# A link's callbackUrl must be https (the provider posts signed events there) unless this is off;
# off by default only while DEBUG is on.
CALLBACK_URL_HTTPS_ONLY = env.bool("CALLBACK_URL_HTTPS_ONLY", default=not DEBUG)
# A signed Sinch callback is taken only while its own timestamp is this close to our clock (either
# way); each one is taken once: a replay within that time is refused (the "replay" cache below).
SINCH_CALLBACK_WINDOW_SECONDS = env.int("SINCH_CALLBACK_WINDOW_SECONDS", default=300)
PROVIDER_TIMEOUT_SECONDS = env.float("PROVIDER_TIMEOUT_SECONDS", default=10.0)
SYNC_MAX_ATTEMPTS = env.int("SYNC_MAX_ATTEMPTS", default=8)
SYNC_BACKOFF_BASE_SECONDS = env.float("SYNC_BACKOFF_BASE_SECONDS", default=5.0)
SYNC_BACKOFF_MAX_SECONDS = env.float("SYNC_BACKOFF_MAX_SECONDS", default=900.0)
# A claimed job belongs to its worker until the lease ends; then the sweeper hands it to another.
# It must outlast one push (up to three provider calls, each bounded by the timeout).
SYNC_LEASE_SECONDS = env.float("SYNC_LEASE_SECONDS", default=max(60.0, 4 * PROVIDER_TIMEOUT_SECONDS))
# A change of one linked phone claims its job in its own transaction (PostgreSQL), and the worker
# pushes on that claim: no claim of its own between the commit and the provider. Its lease is
# three provider timeouts: the worker's first request needs no database check when it starts
# within one timeout; a message lost with the broker leaves the job to the sweeper once it lapses.
# Off: every job is claimed by the worker that takes it.
SYNC_CLAIM_AT_COMMIT = env.bool("SYNC_CLAIM_AT_COMMIT", default=True)
# ...but not while this many claims are out (the workers are behind, or the provider is slow): such
# a job is pushed by its own message alone, and a backlog drains faster in the workers' batches.
SYNC_CLAIM_AT_COMMIT_MAX_OUT = env.int("SYNC_CLAIM_AT_COMMIT_MAX_OUT", default=4)
# A delivery task claims up to this many due jobs at once and pushes them concurrently: one
# claim and one record transaction per batch instead of per job. Under a backlog batches fill up
# (throughput); when idle each task finds its own job only (latency).
SYNC_BATCH_SIZE = env.int("SYNC_BATCH_SIZE", default=32)
# Provider calls of a batch run on this many threads per worker process. Few: the calls are short
# and the GIL serialises their parsing; more threads mostly queue on it and on the provider.
SYNC_PUSH_THREADS = env.int("SYNC_PUSH_THREADS", default=4)
SYNC_PROVISIONING_POLL_SECONDS = env.float("SYNC_PROVISIONING_POLL_SECONDS", default=5.0)
SYNC_PROVISIONING_TIMEOUT_SECONDS = env.float("SYNC_PROVISIONING_TIMEOUT_SECONDS", default=6 * 3600.0)
# The sweeper leaves a just-due job to the task queued on commit for this long before re-queuing.
SYNC_SWEEP_GRACE_SECONDS = env.float("SYNC_SWEEP_GRACE_SECONDS", default=10.0)
SYNC_SWEEP_INTERVAL_SECONDS = env.float("SYNC_SWEEP_INTERVAL_SECONDS", default=30.0)
SYNC_RECONCILE_INTERVAL_SECONDS = env.float("SYNC_RECONCILE_INTERVAL_SECONDS", default=3600.0)
# A phone's or a link's page asks for the sync state this often while it is still moving
# (pending, in progress, retrying, provisioning); a settled state is not asked for again.
SYNC_STATE_POLL_SECONDS = env.float("SYNC_STATE_POLL_SECONDS", default=5.0)
CELERY_BEAT_SCHEDULE = {
    "provider-sync-sweep": {"task": "phones.sync_sweep", "schedule": SYNC_SWEEP_INTERVAL_SECONDS},
    "provider-sync-reconcile": {"task": "phones.sync_reconcile", "schedule": SYNC_RECONCILE_INTERVAL_SECONDS},
    # The rows of expired refresh tokens (backoffice.tasks).
    "flush-expired-tokens": {"task": "backoffice.flush_expired_tokens", "schedule": 24 * 3600.0},
}

# --- Caches --------------------------------------------------------------------------------------
# "replay" remembers the callbacks already taken. It must be shared by every web process: Redis
# when there is one (production, CI); the local run has a single web process, so memory will do.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "replay": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "replay"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "replay"}
    ),
}

# --- Logging ---------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.request": {"level": "ERROR"}, "axes": {"level": "WARNING"}},
}
AXES_USERNAME_CALLABLE = "backoffice.auth.axes_username"
# A locked-out operator sees a themed page that says why and for how long.
AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"

# --- Admin theme (django-unfold) ---------------------------------------------------------------
# Each sidebar entry carries the permission check of the page it opens: what a role may not do,
# it does not see.
UNFOLD = {
    "SITE_TITLE": _("Phone backoffice"),
    "SITE_HEADER": _("Phone backoffice"),
    "SITE_SUBHEADER": _("Customer phone numbers"),
    "SITE_SYMBOL": "call",
    "SHOW_HISTORY": False,  # Django's LogEntry history; the audit trail is the record instead
    "SHOW_VIEW_ON_SITE": False,
    "DASHBOARD_CALLBACK": "backoffice.dashboard.dashboard_callback",
    # Our few rules over unfold's stylesheet (a static file: the CSP allows no inline style).
    "STYLES": [lambda request: static("backoffice/admin.css")],
    # The language switch in the user menu saves the operator's choice (backoffice.preferences).
    "SHOW_LANGUAGES": True,
    "LANGUAGES": {"action": "backoffice.preferences.language_action"},
    "ACCOUNT": {"navigation": "backoffice.preferences.account_links"},
    "SIDEBAR": {
        "show_search": False,
        "show_all_applications": False,
        "navigation": "backoffice.dashboard.sidebar_navigation",
    },
}

# --- Production: refuse to start on public or shared secrets (backoffice/production.py) ---------
_problems = production.production_problems(globals())
if _problems:
    raise environ.ImproperlyConfigured("Refusing to start with DEBUG off: " + "; ".join(_problems))
