"""Schemathesis against the API in-process (docs/API.md "Errors"): generated requests to every
operation, with a bearer token made here, must never get a 5xx, and every status the API
answers must be documented in its OpenAPI schema, with the body that schema describes.

A fixed seed and a bounded number of examples keep it repeatable and well under a minute.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from config.wsgi import application
from tests.factories import AgentFactory, RunFactory, UserFactory

CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "seed": 1107,
        "generation": {"max-examples": 10, "deterministic": True},
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            # Beyond what a schema can say: valid-looking configs the registry refuses (an
            # unknown tool or model is a 422), and pydantic's lax coercion (`"wait": 0` is
            # false), which the API keeps on purpose (prices as strings or numbers).
            "positive_data_acceptance": {"enabled": False},
            "negative_data_rejection": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, config=CONFIG)

pytestmark = pytest.mark.slow


@pytest.fixture
def bearer(db, settings):
    """A signed-in caller who owns a running agent with a finished run (ids from 1 on a fresh
    database, where generated ids land most often), and a token for the requests."""
    from accounts.services import token_create

    # chat's `wait` would poll for a worker that is not running here.
    settings.AGENT_CHAT_WAIT_SECONDS = 0
    user = UserFactory()
    RunFactory(conversation__agent=AgentFactory(owner=user, state="running"))
    _token, raw = token_create(user=user, name="schemathesis")
    # The requests go through the real WSGI handler, whose request signals would close the
    # test's database connection (and its transaction) as Django's test client never does.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {"Authorization": f"Bearer {raw}"}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_api_conforms_to_its_schema(case, bearer):
    # A WSGI server always sets REMOTE_ADDR (the rate limits key on it); werkzeug's does not.
    case.call_and_validate(headers=bearer, environ_base={"REMOTE_ADDR": "127.0.0.1"})
