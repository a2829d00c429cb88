"""System checks of the accounts app (registered in AccountsConfig.ready)."""

import os
import shlex
from collections.abc import Mapping

from django.conf import settings
from django.core.checks import CheckMessage, Warning

PROCESS_LOCAL_CACHES = {"django.core.cache.backends.locmem.LocMemCache"}


def web_processes(environ: Mapping[str, str] = os.environ) -> int | None:
    """How many web processes gunicorn starts, as far as the environment tells: `--workers`
    / `-w` in GUNICORN_CMD_ARGS, else WEB_CONCURRENCY (gunicorn's default for --workers, set
    by most hosting platforms). None when neither says; a `--workers` typed on gunicorn's
    own command line is invisible from here."""
    try:
        args = shlex.split(environ.get("GUNICORN_CMD_ARGS", ""))
    except ValueError:
        args = []
    value = None
    for i, arg in enumerate(args):
        if arg in ("-w", "--workers") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--workers="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-w") and len(arg) > 2:
            value = arg[2:]
    if value is None:
        value = environ.get("WEB_CONCURRENCY")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def rate_limit_cache_shared(app_configs=None, **kwargs) -> list[CheckMessage]:
    """accounts.W001: the auth rate limits (accounts/ratelimit.py) count in a per-process
    cache while the environment says several web processes run. Each process would then
    keep its own counters, and an attacker gets the allowance once per process."""
    cache = settings.CACHES.get(getattr(settings, "RATELIMIT_USE_CACHE", "default"), {})
    processes = web_processes()
    if cache.get("BACKEND") not in PROCESS_LOCAL_CACHES or processes is None or processes <= 1:
        return []
    return [
        Warning(
            f"{processes} web processes (WEB_CONCURRENCY / GUNICORN_CMD_ARGS) share no cache: "
            "failed log-ins and sign-ups are counted per process, so each process allows "
            "the whole AUTH_FAILURE_RATE again.",
            hint="Set REDIS_URL (README, Configuration), or run a single web process.",
            id="accounts.W001",
        )
    ]
