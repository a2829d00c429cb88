"""Agentbay settings: one module, driven by environment variables.

With no environment at all you get a development set-up (DEBUG on, SQLite file in the
project). Production sets DEBUG=0, SECRET_KEY, ALLOWED_HOSTS and usually DATABASE_URL.
"""

import os
from decimal import Decimal
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-dev-only-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# CORS (docs/API.md "CORS"): only the API, only listed origins (none by default: closed),
# bearer tokens only (no cookies cross-origin).
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", "")
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = ("authorization", "content-type")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Listed so /api/v1/docs serves Swagger UI from static files, not a CDN (the CSP, below).
    "ninja",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "django_ratelimit",
    "corsheaders",
    "core",
    "accounts",
    "tools_registry",
    "agents",
    "marketplace",
    "gamification",
    "social",
    "competitions",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header on every response (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    # Before anything that answers: preflights, and CORS headers on every /api/ response.
    "corsheaders.middleware.CorsMiddleware",
    # Outermost after those: turns any non-JSON error under /api/ into {"detail", "code"}.
    "config.middleware.ApiJsonErrorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Pages: the access rules' NotFound/Forbidden become 404/403 (the API maps its own).
    "core.middleware.DomainAccessMiddleware",
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
                "core.context_processors.csrf",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(env("CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the task worker write the same file: wait for locks instead of
    # failing at once, and take the write lock at BEGIN so a read never has to upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests use a file, not memory: the task worker runs in other threads and processes.
    DATABASES["default"]["TEST"] = {
        "NAME": env("SQLITE_TEST_NAME") or str(BASE_DIR / "test-artifacts" / "test-db.sqlite3")
    }
elif (
    DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    and int(env("DB_POOL_MAX_SIZE", "20")) > 0
):
    # One psycopg connection pool per process (Django's, psycopg[pool]): `connection.close()`
    # hands the connection back instead of closing it, at the end of each request and after
    # each database write of a chat turn, so a turn waiting on its model holds none and a
    # worker with hundreds of turns in flight needs at most DB_POOL_MAX_SIZE connections (and
    # one more for its LISTEN). A thread that cannot get one within DB_POOL_TIMEOUT seconds
    # fails with OperationalError ("couldn't get a connection after … sec"), it does not hang.
    # DB_POOL_MAX_SIZE=0 turns the pool off (a new connection per request and per write).
    if DATABASES["default"]["CONN_MAX_AGE"]:
        raise ImproperlyConfigured(
            "CONN_MAX_AGE must be 0 with the connection pool (DB_POOL_MAX_SIZE=0 disables it)."
        )
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": int(env("DB_POOL_MIN_SIZE", "1")),
        "max_size": int(env("DB_POOL_MAX_SIZE", "20")),
        "timeout": float(env("DB_POOL_TIMEOUT", "10")),
    }

PGBOUNCER_TRANSACTION_MODE = env_bool("PGBOUNCER_TRANSACTION_MODE", False)
if PGBOUNCER_TRANSACTION_MODE:
    # Behind PgBouncer in transaction mode a server-side cursor may outlive its transaction's
    # server connection (README, "Several hosts").
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True

# Rich pages kept under a fingerprint of the rows they show (core.pagecache; PostgreSQL only).
# The fingerprint query is a prepared statement, except behind PgBouncer in transaction mode,
# where a statement prepared on one server connection is unknown on the next.
PAGE_CACHE = env_bool("PAGE_CACHE", True)
PAGE_CACHE_PREPARED = not PGBOUNCER_TRANSACTION_MODE

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "agents:dashboard"
LOGOUT_REDIRECT_URL = "home"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
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
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Caches back the auth rate limits. Several web processes must share one cache (Redis);
# a single development process is fine with local memory.
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Rendered template fragments ({% cache … using="fragments" %}: the site's frame, list rows keyed
# on the values they show) stay in each process's memory: a fragment costs less to render than
# a round trip to Redis, and a deploy (new processes) never serves the previous release's
# markup or static URLs. Off in development, where templates change under a running server.
CACHES["fragments"] = {
    "BACKEND": "django.core.cache.backends.dummy.DummyCache"
    if DEBUG
    else "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "fragments",
    "OPTIONS": {"MAX_ENTRIES": 5000},
}

SILENCED_SYSTEM_CHECKS = []
if not REDIS_URL:
    # Local memory is per process: acceptable for one process; README says to set REDIS_URL.
    SILENCED_SYSTEM_CHECKS += ["django_ratelimit.E003"]
# Django's own Redis backend is atomic, django-ratelimit just does not list it.
SILENCED_SYSTEM_CHECKS += ["django_ratelimit.W001"]

RATELIMIT_USE_CACHE = "default"
# Per-address counters use the client's address, from X-Forwarded-For behind a proxy.
RATELIMIT_IP_META_KEY = "accounts.ratelimit.client_ip"
# Failed log-ins (page, admin and API) allowed per username, and per client address (larger,
# so one user's typos do not lock out everyone behind the same address): accounts/ratelimit.py.
AUTH_FAILURE_RATE = env("AUTH_FAILURE_RATE", "5/m")
AUTH_FAILURE_IP_RATE = env("AUTH_FAILURE_IP_RATE", "30/m")
SIGNUP_RATE = env("SIGNUP_RATE", "10/h")

# Security: strict by default in production, each switch overridable by env.
# BEHIND_PROXY: one trusted reverse proxy in front sets X-Forwarded-Proto and X-Forwarded-For.
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): scripts and styles only from our own static files, no
# inline <script>, on*= or style= attribute, and no eval (htmx's allowEval is off in
# templates/base.html); data: images for the API docs' Swagger UI icons. tests/test_csp.py.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Tasks: the database backend needs no broker; `manage.py db_worker` runs them.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

# API pagination (docs/API.md: limit default 20, max 100; an offset past a bigint is a 422).
NINJA_PAGINATION_CLASS = "core.pagination.LimitOffsetPagination"
NINJA_PAGINATION_PER_PAGE = 20
NINJA_PAGINATION_MAX_LIMIT = 100
# Request bodies (pages and API) over this are refused: the API answers 400. Django's default
# (2.5 MB), written out because docs/API.md names it; the largest real body is a tool's code.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Marketplace money rules (docs/API.md).
SIGNUP_CREDITS = Decimal(env("SIGNUP_CREDITS", "1000.00"))
MARKETPLACE_FEE_PERCENT = Decimal(env("MARKETPLACE_FEE_PERCENT", "10"))
# A fork's sale or rental pays this share of the price to the parent agent's owner (social).
FORK_ROYALTY_PERCENT = Decimal(env("FORK_ROYALTY_PERCENT", "5"))
# Auctions (docs/API.md "Auctions"): shortest auction, bid increment, soft-close window.
AUCTION_MIN_SECONDS = int(env("AUCTION_MIN_SECONDS", "300"))
AUCTION_INCREMENT = Decimal(env("AUCTION_INCREMENT", "1.00"))
AUCTION_SOFT_CLOSE_SECONDS = int(env("AUCTION_SOFT_CLOSE_SECONDS", "120"))
# Competitions (docs/API.md "Competitions"): the shortest time to closing, how many judging
# runs may be in flight at once over all competitions, and each task's time limit.
COMPETITION_MIN_SECONDS = int(env("COMPETITION_MIN_SECONDS", "300"))
COMPETITION_MAX_RUNS_IN_FLIGHT = int(env("COMPETITION_MAX_RUNS_IN_FLIGHT", "20"))
COMPETITION_TASK_SECONDS = int(env("COMPETITION_TASK_SECONDS", "300"))

LOG_LEVEL = env("LOG_LEVEL", "INFO").upper()
# A line per task (django_tasks: started, finished) and per request (runserver; a chat polls
# its run card every second) is debug noise: `make run` keeps the demo users and password it
# printed on screen. Warnings and errors (a failed task, a 404, a 500) still show;
# LOG_LEVEL=DEBUG shows everything.
CHATTY_LOG_LEVEL = "DEBUG" if LOG_LEVEL == "DEBUG" else "WARNING"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO"},
        "django.server": {"handlers": ["console"], "level": CHATTY_LOG_LEVEL, "propagate": False},
        "django_tasks": {"level": CHATTY_LOG_LEVEL},
        "django_tasks_db": {"level": CHATTY_LOG_LEVEL},
    },
}

# Agents engine.
AGENT_RUN_TIMEOUT_SECONDS = int(env("AGENT_RUN_TIMEOUT_SECONDS", "120"))  # wall clock per turn
AGENT_PROVIDER_TIMEOUT_SECONDS = int(env("AGENT_PROVIDER_TIMEOUT_SECONDS", "60"))  # per model call
AGENT_MAX_STEPS = int(env("AGENT_MAX_STEPS", "10"))
AGENT_HISTORY_RUNS = int(env("AGENT_HISTORY_RUNS", "10"))  # earlier turns replayed as memory
AGENT_RUN_LEASE_SECONDS = int(env("AGENT_RUN_LEASE_SECONDS", "30"))
AGENT_REAP_INTERVAL_SECONDS = float(env("AGENT_REAP_INTERVAL_SECONDS", "5"))  # per worker
AGENT_QUEUE_TIMEOUT_SECONDS = int(env("AGENT_QUEUE_TIMEOUT_SECONDS", "600"))
# Finished rows of the task queue are deleted after this many days (runs keep their history).
TASK_RETENTION_DAYS = float(env("TASK_RETENTION_DAYS", "7"))
AGENT_CHAT_WAIT_SECONDS = int(env("AGENT_CHAT_WAIT_SECONDS", "60"))
WORKER_CONCURRENCY = int(env("WORKER_CONCURRENCY", "50"))  # turns in flight per worker process
SANDBOX_POOL_SIZE = int(env("SANDBOX_POOL_SIZE", "2"))  # pre-started sandbox children
SANDBOX_MEMORY_MB = int(env("SANDBOX_MEMORY_MB", "1024"))  # address space per sandbox child
SANDBOX_CPU_SECONDS = int(env("SANDBOX_CPU_SECONDS", "30"))  # CPU time per sandbox child
SANDBOX_ALLOW_SHARED_UID = env("SANDBOX_ALLOW_SHARED_UID", "0") == "1"  # else: fail closed

# Monitoring: a run's live event stream (monitoring/streams.py). Each stream ends after
# RUN_STREAM_MAX_SECONDS and the browser reconnects with Last-Event-ID.
RUN_STREAM_MAX_SECONDS = float(env("RUN_STREAM_MAX_SECONDS", "60"))
# One query per 500 followed runs per web process every RUN_STREAM_POLL_SECONDS, only while
# streams are open: a stored step reaches its stream about half of it later.
RUN_STREAM_POLL_SECONDS = float(env("RUN_STREAM_POLL_SECONDS", "0.1"))
RUN_STREAM_KEEPALIVE_SECONDS = float(env("RUN_STREAM_KEEPALIVE_SECONDS", "15"))

# Monitoring: the token a Prometheus scraper sends to /metrics (`Authorization: Bearer …`);
# empty: only signed-in staff may read it. Traces: the standard OTEL_* variables
# (monitoring/tracing.py, README).
METRICS_TOKEN = env("METRICS_TOKEN")
