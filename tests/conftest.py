import socket
from pathlib import Path

import pytest

from tests.factories import UserFactory

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def pytest_configure(config):
    # The SQLite test database and the screenshots live here; a fresh clone lacks it.
    ARTIFACTS.mkdir(exist_ok=True)
    # Every user factory hashes a password: PBKDF2's million rounds made that most of the
    # suite's time. Tests check who may log in, not the hasher's strength.
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Template fragments are cached as in production (development turns that off), so tests
    # see what a cached page shows.
    settings.CACHES["fragments"] = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "fragments-tests",
    }


_LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost", "0.0.0.0"}
_real_connect = socket.socket.connect


def _guarded_connect(self, address):
    # Tests never reach the network: only loopback (test servers, PostgreSQL, Redis)
    # and Unix sockets are allowed.
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        if host not in _LOCAL_HOSTS:
            raise RuntimeError(f"Network access in tests is forbidden (tried {address!r}).")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(autouse=True)
def _clear_cache():
    # Rate-limit counters and cached fragments: each test starts with none.
    from django.core.cache import caches

    for alias in ("default", "fragments"):
        caches[alias].clear()
    yield
    for alias in ("default", "fragments"):
        caches[alias].clear()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def api_token(user):
    from accounts.services import token_create

    _token, raw = token_create(user=user, name="tests")
    return raw


class ApiClient:
    """The Django test client calling the API with a bearer token and JSON bodies."""

    def __init__(self, client, token: str):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, params: dict | None = None):
        return self.client.get(path, params or {}, headers=self.headers)

    def delete(self, path: str):
        return self.client.delete(path, headers=self.headers)

    def post(self, path: str, data=None):
        return self._send("post", path, data)

    def put(self, path: str, data=None):
        return self._send("put", path, data)

    def _send(self, method: str, path: str, data):
        send = getattr(self.client, method)
        return send(
            path,
            {} if data is None else data,
            content_type="application/json",
            headers=self.headers,
        )


@pytest.fixture
def api_client(client, api_token) -> ApiClient:
    return ApiClient(client, api_token)


@pytest.fixture
def make_api_client(db):
    """Build an ApiClient for any user: make_api_client(user)."""
    from accounts.services import token_create

    def make(user) -> ApiClient:
        from django.test import Client

        _token, raw = token_create(user=user, name="tests")
        return ApiClient(Client(), raw)

    return make


@pytest.fixture(autouse=True)
def _registry_defaults(request):
    """Transactional tests flush every table after each test, including the rows data
    migrations made (the import allowlist, the built-in tools); put them back. A test
    that runs after such a flush in the same process (pytest-xdist deals files out in any
    order) finds them back too, so no test depends on the order it runs in."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    uses_db = transactional or marker is not None or "db" in request.fixturenames
    if not uses_db:
        return
    request.getfixturevalue("transactional_db" if transactional else "db")
    from tools_registry.models import Tool
    from tools_registry.services import registry_defaults_ensure

    if transactional or not Tool.objects.filter(builtin=True).exists():
        registry_defaults_ensure()
