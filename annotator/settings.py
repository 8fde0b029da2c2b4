"""Django settings, read from the environment in one place (see ``annotator.env``).

Embedded defaults (a fresh clone): SQLite and media under ``var/``, the Redis that
``scripts/run`` starts on a unix socket under ``var/``. Production: ``DATABASE_URL``,
``REDIS_URL``, ``SECRET_KEY``, ``ALLOWED_HOSTS`` and optionally S3 media.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from annotator import task_routes
from annotator.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_required,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ANNOTATOR_VAR_DIR") or BASE_DIR / "var")

ENVIRONMENT = env_choice("ANNOTATOR_ENV", "development", ("development", "test", "production"))
# Off unless asked for (DEBUG=1), in every environment: scripts/run serves with it off
# (tracebacks and settings never reach a browser; errors go to the log).
DEBUG = env_bool("DEBUG", False)
if DEBUG and ENVIRONMENT == "production":
    raise ImproperlyConfigured("DEBUG=1 is refused with ANNOTATOR_ENV=production")


def _secret_key() -> str:
    if ENVIRONMENT == "production":
        return env_required("SECRET_KEY", "it signs sessions and tokens in production")
    explicit = env_str("SECRET_KEY")
    if explicit:
        return explicit
    # Development and tests: a random key kept under var/ so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        path.write_text(key)
        return key


SECRET_KEY = _secret_key()


def _public_url() -> str:
    """``PUBLIC_URL``: the origin clients reach the server at (``https://host[:port]``),
    e.g. behind a proxy. Optional; pagination links are absolute on it when set."""
    value = (env_str("PUBLIC_URL") or "").rstrip("/")
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        raise ImproperlyConfigured(
            f"PUBLIC_URL={value!r} must be an origin such as https://annotator.example.org"
        )
    return value


PUBLIC_URL = _public_url()
_public_host = [urlsplit(PUBLIC_URL).hostname or ""] if PUBLIC_URL else []
# Development and tests answer any Host (`scripts/run --host 0.0.0.0` is reached by
# whatever name the machine has on the network); nothing the server builds echoes the
# Host header (pagination links are relative or on PUBLIC_URL). Production lists its
# names (ALLOWED_HOSTS, plus PUBLIC_URL's host).
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS",
    ["*"] if ENVIRONMENT != "production" else ["localhost", "127.0.0.1", *_public_host],
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [PUBLIC_URL] if PUBLIC_URL else [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served by us: no CDN needed offline
    "annotator",
    "api",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "annotator.csp.CSPMiddleware",  # Content-Security-Policy (see "security" below)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "annotator.urls"
WSGI_APPLICATION = "annotator.wsgi.application"

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

# --- database -------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
if _database_url:
    try:
        DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "annotator.sqlite3"),
            # Reuse connections: reconnecting (and re-running the PRAGMAs) per request
            # costs a millisecond or two on the click path.
            "CONN_MAX_AGE": 60,
            # WAL lets the web process read while a worker writes; busy timeout instead of
            # "database is locked" under concurrent writers.
            "OPTIONS": {
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- broker / result backend ---------------------------------------------------------
# The embedded default is the Redis that scripts/run starts on a unix socket in var/.
REDIS_URL = env_str("REDIS_URL") or f"redis+socket://{VAR_DIR / 'redis.sock'}"
if not REDIS_URL.startswith(("redis://", "rediss://", "redis+socket://", "unix://")):
    raise ImproperlyConfigured(f"REDIS_URL={REDIS_URL!r} must be a redis:// or redis+socket:// URL")

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_DEFAULT_QUEUE = task_routes.JOBS
# Routes come from the one list of tasks (annotator/task_routes.py); call sites never
# name a queue.
CELERY_TASK_ROUTES = {name: {"queue": queue} for name, queue in task_routes.TASK_QUEUES.items()}
# One message at a time per process: a long job must not hold interactive clicks hostage.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker outlives a Redis restart: it reconnects (every 2 s, then up to every 30 s) for
# as long as Redis is away, and its running jobs go on (their claim is in the database).
# Messages Redis lost are sent again by the job lifecycle's sweep.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# A connect to an unreachable Redis fails in seconds, not after the system's TCP timeout:
# the web side answers 503 instead of hanging.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 2}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
# Sending a task subscribes to its result on the result backend, which retries for 20 s
# (Celery's default) when Redis is down: a request that starts a job would hang that
# long. About a second instead; a job's outcome is in its row, not in its task result.
_RESULT_RETRIES = {"max_retries": 3, "interval_start": 0, "interval_step": 0.25, "interval_max": 1}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"retry_policy": _RESULT_RETRIES}
CELERY_TASK_ALWAYS_EAGER = False
# Job tasks are acknowledged when they end (acks_late) and a lost pool process does not
# requeue the message (reject_on_worker_lost off): the job lifecycle decides instead,
# from the job's heartbeat (workers/runtime/lifecycle.py), so a job that kills its
# worker is retried a bounded number of times, not forever.
CELERY_TASK_REJECT_ON_WORKER_LOST = False

# --- media storage --------------------------------------------------------------------
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")
MEDIA_URL = "/media/"
_s3_bucket = env_str("S3_BUCKET")
if _s3_bucket:
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _s3_bucket,
            "endpoint_url": env_str("S3_ENDPOINT_URL"),
            "region_name": env_str("S3_REGION"),
            "access_key": env_str("S3_ACCESS_KEY_ID"),
            "secret_key": env_str("S3_SECRET_ACCESS_KEY"),
            "location": env_str("S3_PREFIX", "") or "",
            "default_acl": None,
            "file_overwrite": True,
            "querystring_auth": True,
        },
    }
else:
    _media_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root

# --- uploads --------------------------------------------------------------------------
MAX_UPLOAD_MB = env_int("MAX_UPLOAD_MB", 200, minimum=1)
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Pillow's decompression-bomb guard: images above this many pixels are refused.
MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS", 100_000_000, minimum=1)
EXPORT_TTL_HOURS = env_int("EXPORT_TTL_HOURS", 72, minimum=1)
# Imports: the archive limits (compressed upload, uncompressed content).
MAX_IMPORT_MB = env_int("MAX_IMPORT_MB", 2048, minimum=1)
# A JSON file of an import (COCO's annotations, a native line) is parsed whole, which
# takes several times its size in memory: refused beyond this (archive_too_large).
MAX_IMPORT_JSON_MB = env_int("MAX_IMPORT_JSON_MB", 512, minimum=1)
THUMBNAIL_SIZE = env_int("THUMBNAIL_SIZE", 256, minimum=32)
# Videos and zips of images (an image sequence): refused at upload when the header shows
# more frames or larger frames than these; a decode that finds more frames fails the
# asset (too_many_frames). A zip may hold at most VIDEO_ZIP_MAX_MEMBERS entries and
# VIDEO_ZIP_MAX_MB uncompressed in all (zip bombs).
VIDEO_MAX_FRAMES = env_int("VIDEO_MAX_FRAMES", 20_000, minimum=1)
VIDEO_MAX_PIXELS = env_int("VIDEO_MAX_PIXELS", 4096 * 2160, minimum=1)
VIDEO_ZIP_MAX_MEMBERS = env_int("VIDEO_ZIP_MAX_MEMBERS", 25_000, minimum=1)
VIDEO_ZIP_MAX_MB = env_int("VIDEO_ZIP_MAX_MB", 8192, minimum=1)
# The learning loop: a new model is trained after this many new or changed labels (a
# project may set its own, 0 = only when asked); a queue item is leased for this long; of
# a video, every QUEUE_VIDEO_STRIDE-th frame is a queue candidate.
LEARNING_RETRAIN_AFTER = env_int("LEARNING_RETRAIN_AFTER", 5, minimum=0)
QUEUE_LEASE_S = env_int("QUEUE_LEASE_S", 900, minimum=10)
QUEUE_VIDEO_STRIDE = env_int("QUEUE_VIDEO_STRIDE", 10, minimum=1)
# The first queue/next of a project waits this long for its first ranking.
QUEUE_RANK_WAIT_S = env_int("QUEUE_RANK_WAIT_S", 30, minimum=0)
# A training uses at most this many labelled frames (evenly spread over all of them).
LEARNING_MAX_TRAIN_FRAMES = env_int("LEARNING_MAX_TRAIN_FRAMES", 300, minimum=1)
# A proposals job asked while a training is queued or running waits this long for it.
LEARNING_TRAIN_WAIT_S = env_int("LEARNING_TRAIN_WAIT_S", 600, minimum=0)
# Clicks get the project model's prior only from a version whose held-back mIoU is at
# least this (one measured on fewer than 3 labelled frames is trusted).
LEARNING_PRIOR_MIN_MIOU = env_float("LEARNING_PRIOR_MIN_MIOU", 0.5)
# Each worker caches the project model's per-frame features on its local disk, up to this.
FEATURE_CACHE_MB = env_int("FEATURE_CACHE_MB", 2048, minimum=1)

# --- engines ---------------------------------------------------------------------------
SAM_CHECKPOINT = env_str("SAM_CHECKPOINT") or None
SAM_MODEL_TYPE = env_choice("SAM_MODEL_TYPE", "vit_b", ("vit_b", "vit_l", "vit_h", "tiny"))
if env_str("SAM_CHECKPOINT") is None and (VAR_DIR / "models" / "active.json").is_file():
    # Registered with `python -m workers.runtime.sam_checkpoint`; the environment wins.
    _active = json.loads((VAR_DIR / "models" / "active.json").read_text())
    SAM_CHECKPOINT = str(_active["checkpoint"])
    SAM_MODEL_TYPE = str(_active["model_type"])
if SAM_CHECKPOINT and ENVIRONMENT == "production" and not Path(SAM_CHECKPOINT).is_file():
    raise ImproperlyConfigured(f"SAM_CHECKPOINT={SAM_CHECKPOINT!r} does not exist")
EMBEDDING_CACHE_MB = env_int("EMBEDDING_CACHE_MB", 1024, minimum=0)
# Images embedded in one encoder pass by the embed queue (SAM); queued jobs are claimed.
EMBED_BATCH_SIZE = env_int("EMBED_BATCH_SIZE", 4, minimum=1)
PREDICT_TIMEOUT_S = env_float("PREDICT_TIMEOUT_S", 10.0, minimum=0.1)
# A click finding this many others waiting in the interactive queue is answered 503 busy
# at once instead of waiting out PREDICT_TIMEOUT_S behind them. About PREDICT_TIMEOUT_S /
# (seconds per click) x (interactive worker processes): 10 s / 0.5 s x 2 = 40.
PREDICT_MAX_BACKLOG = env_int("PREDICT_MAX_BACKLOG", 32, minimum=1)
# The largest predict request body (prompts and an optional prior mask).
PREDICT_MAX_BODY_BYTES = env_int("PREDICT_MAX_BODY_KB", 2048, minimum=16) * 1024

# --- job lifecycle (workers/runtime/lifecycle.py) ----------------------------------------
# A running job's worker stamps ``Job.heartbeat`` every JOB_HEARTBEAT_S; a job without a
# stamp for JOB_STALE_AFTER_S lost its worker and is run again (a fresh delivery), at
# most JOB_MAX_ATTEMPTS times in all, then failed with an error that says why.
JOB_HEARTBEAT_S = env_float("JOB_HEARTBEAT_S", 10.0, minimum=0.1)
JOB_STALE_AFTER_S = env_float("JOB_STALE_AFTER_S", 60.0, minimum=0.5)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 2, minimum=1)
if JOB_STALE_AFTER_S < 2 * JOB_HEARTBEAT_S:
    raise ImproperlyConfigured(
        f"JOB_STALE_AFTER_S={JOB_STALE_AFTER_S:g} must be at least twice "
        f"JOB_HEARTBEAT_S={JOB_HEARTBEAT_S:g} (one late beat must not look like a dead worker)"
    )

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    # drf-spectacular's AutoSchema plus the error answers each view's setup implies.
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiSchema",
    "EXCEPTION_HANDLER": "api.exceptions.handle_api_exception",
    # Bounded in size, depth and number range (api/parsers.py), on every JSON endpoint.
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Sparse-hint segmentation annotation API",
    "DESCRIPTION": "Projects, assets, annotations (COCO RLE), interactive prediction, jobs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # ``<id:...>`` path segments (api/converters.py): integers of at most 18 digits.
    "PATH_CONVERTER_OVERRIDES": {
        "id": {"type": "integer", "minimum": 0, "maximum": 999_999_999_999_999_999}
    },
}

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- security -------------------------------------------------------------------------
# Sign-in throttling (annotator/services/login_guard.py): past this many failed sign-ins
# in LOGIN_FAILURE_WINDOW_S for one username (any case) or from one client address,
# sign-in is refused (429 + Retry-After) until the window ends, the password unchecked.
AUTHENTICATION_BACKENDS = [
    "annotator.services.login_guard.LoginGuardBackend",  # first: refuses locked sign-ins
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_MAX_FAILURES_PER_USER = env_int("LOGIN_MAX_FAILURES_PER_USER", 10, minimum=1)
LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("LOGIN_MAX_FAILURES_PER_ADDRESS", 100, minimum=1)
LOGIN_FAILURE_WINDOW_S = env_int("LOGIN_FAILURE_WINDOW_S", 900, minimum=1)
# Behind a reverse proxy: the header it puts the client's address in (its last entry is
# used), e.g. X-Forwarded-For. Unset: the connection's address (REMOTE_ADDR).
CLIENT_ADDRESS_HEADER = env_str("CLIENT_ADDRESS_HEADER") or None

# Content-Security-Policy (django-csp, annotator/csp.py): the browser UI is ES modules,
# a stylesheet, images from the API and blob:/data: images it makes itself; no inline
# script, <style> or style attribute (the UI sets styles through the CSSOM, ui.ts el()),
# nothing from elsewhere. Third-party pages
# under /api/ get inline styles (the browsable API, Swagger UI) and the Swagger page an
# inline script (annotator/csp.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
CSP_INLINE_SCRIPT_PATHS = ("/api/docs/",)
CSP_INLINE_STYLE_PREFIXES = ("/api/",)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# HTTPS settings: on in production, each can be set (1/0) to fit the deployment. The
# cookies are sent over HTTPS only (browsers also accept them from http://localhost).
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", ENVIRONMENT == "production")
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", ENVIRONMENT == "production")
SECURE_HSTS_SECONDS = env_int(
    "SECURE_HSTS_SECONDS", 31_536_000 if ENVIRONMENT == "production" else 0, minimum=0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Off by default: TLS usually ends at a proxy that redirects plain HTTP itself; with it
# on, the health check (plain HTTP inside the deployment) is still answered.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^api/health/$"]
# Behind a TLS-terminating proxy: the header that says the client used HTTPS, e.g.
# X-Forwarded-Proto (its value must then be "https"). Set it only when the proxy always
# sets (or strips) that header.
_proxy_ssl_header = env_str("SECURE_PROXY_SSL_HEADER")
SECURE_PROXY_SSL_HEADER = None
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO") or "INFO"},
}
ALLOW_SIGNUP = env_bool("ALLOW_SIGNUP", ENVIRONMENT != "production")
