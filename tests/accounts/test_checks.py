import pytest
from django.core.checks import run_checks

from accounts.checks import rate_limit_cache_shared, web_processes

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/0",
    }
}


@pytest.fixture(autouse=True)
def _no_process_hints(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("GUNICORN_CMD_ARGS", raising=False)


@pytest.mark.parametrize(
    ("environ", "processes"),
    [
        ({}, None),
        ({"WEB_CONCURRENCY": "4"}, 4),
        ({"WEB_CONCURRENCY": "lots"}, None),
        ({"GUNICORN_CMD_ARGS": "--bind 0.0.0.0:8000 --workers 3"}, 3),
        ({"GUNICORN_CMD_ARGS": "--workers=2"}, 2),
        ({"GUNICORN_CMD_ARGS": "-w 5"}, 5),
        ({"GUNICORN_CMD_ARGS": "-w1", "WEB_CONCURRENCY": "8"}, 1),  # gunicorn's precedence
    ],
)
def test_web_processes_read_what_gunicorn_reads(environ, processes):
    assert web_processes(environ) == processes


def test_warns_when_several_processes_count_in_local_memory(settings, monkeypatch):
    settings.CACHES = LOCMEM
    monkeypatch.setenv("WEB_CONCURRENCY", "4")

    [warning] = rate_limit_cache_shared()

    assert warning.id == "accounts.W001"
    assert "REDIS_URL" in warning.hint
    assert "accounts.W001" in [message.id for message in run_checks()]  # registered


@pytest.mark.parametrize(
    ("caches", "concurrency"), [(LOCMEM, None), (LOCMEM, "1"), (REDIS, "4"), (REDIS, None)]
)
def test_quiet_with_one_process_or_a_shared_cache(settings, monkeypatch, caches, concurrency):
    settings.CACHES = caches
    if concurrency:
        monkeypatch.setenv("WEB_CONCURRENCY", concurrency)

    assert rate_limit_cache_shared() == []
