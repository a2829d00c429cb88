"""The API's error contract (docs/API.md "Errors"): JSON {"detail": ..., "code": ...}, the
right status, no 500."""

import json
import re

import pytest
from django.test import Client

from config.api import api
from core import errors as domain_errors
from tests.factories import AgentFactory, UserFactory

pytestmark = pytest.mark.django_db

BAD_BODIES = [
    "{not json",
    "",
    "null",
    "[]",
    '"a string"',
    "12345",
    '{"a": ' * 50 + "1" + "}" * 50,
    json.dumps({"name": None, "id": "x", "stars": "many", "price": "-1e999"}),
    json.dumps({"username": ["list"], "password": {"obj": 1}, "code": 5, "message": None}),
    json.dumps({"x": "\u0000\ud7ff", "limit": -5, "offset": "abc"}),
]
BAD_PATH_VALUES = ["0", "-1", "999999999999999999999999", "abc", "%00", "..%2F"]


def _operations():
    schema = api.get_openapi_schema()
    for path, methods in schema["paths"].items():
        for method in methods:
            yield method.upper(), path


OPERATIONS = sorted(set(_operations()))


def _fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_bad_input_yields_a_500(api_client, method, path):
    for value in BAD_PATH_VALUES:
        url = _fill(path, value)
        for body in BAD_BODIES:
            response = api_client.client.generic(
                method, url, body, content_type="application/json", headers=api_client.headers
            )
            assert response.status_code < 500, (method, url, body, response.content[:300])
            if response.status_code >= 400:
                assert set(response.json()) == {"detail", "code"}, (method, url, body)
        response = api_client.client.generic(
            method, url + "?limit=-1&offset=x&q=%00&sort=%27", headers=api_client.headers
        )
        assert response.status_code < 500, (method, url, response.content[:300])


def test_malformed_json_is_400(client, db):
    response = client.post("/api/v1/auth/token", "{oops", content_type="application/json")

    assert response.status_code == 400
    assert "Cannot parse request body" in response.json()["detail"]


def test_validation_errors_are_422_with_field_errors(client, db):
    response = client.post("/api/v1/auth/token", {"username": 5}, content_type="application/json")

    assert response.status_code == 422
    locations = [error["loc"][-1] for error in response.json()["detail"]]
    assert {"username", "password"} <= set(locations)


@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/api/", "/api/v2/agents", "/api/v1/auth/token/extra"]
)
def test_unknown_api_routes_are_404_json(client, db, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_wrong_method_is_405_json(client, db):
    response = client.get("/api/v1/auth/token")

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "not allowed" in response.json()["detail"]


def test_openapi_schema_and_docs_are_served(client, db):
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/docs").status_code == 200


def test_non_api_404_stays_html(client, db):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


# --- one shape with a code ---------------------------------------------------------------

ERROR_CLASSES = [
    (domain_errors.DomainError, 400, "bad_request"),
    (domain_errors.PaymentRequired, 402, "insufficient_credits"),
    (domain_errors.Forbidden, 403, "forbidden"),
    (domain_errors.NotFound, 404, "not_found"),
    (domain_errors.Conflict, 409, "conflict"),
    (domain_errors.Invalid, 422, "validation_error"),
    (domain_errors.RateLimited, 429, "rate_limited"),
]


@pytest.mark.parametrize(("error", "status", "code"), ERROR_CLASSES)
def test_each_domain_error_has_its_status_and_code(api_client, monkeypatch, error, status, code):
    def fail(**kwargs):
        raise error("Explained.")

    monkeypatch.setattr("marketplace.services.wallet_summary", fail)

    response = api_client.get("/api/v1/wallet")

    assert response.status_code == status
    assert response.json() == {"detail": "Explained.", "code": code}


def test_a_crash_is_500_with_code_server_error(api_client, monkeypatch):
    def crash(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("marketplace.services.wallet_summary", crash)

    response = api_client.get("/api/v1/wallet")

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}


def test_ninja_and_django_errors_carry_codes(client, api_client):
    malformed = client.post("/api/v1/auth/token", "{oops", content_type="application/json")
    invalid = client.post("/api/v1/auth/token", {}, content_type="application/json")
    anonymous = client.get("/api/v1/wallet")
    wrong_method = client.get("/api/v1/auth/token")
    unknown = api_client.get("/api/v1/nope")

    assert (malformed.status_code, malformed.json()["code"]) == (400, "bad_request")
    assert (invalid.status_code, invalid.json()["code"]) == (422, "validation_error")
    assert isinstance(invalid.json()["detail"], list)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthenticated")
    assert anonymous["WWW-Authenticate"] == "Bearer"
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, "bad_request")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


def test_the_error_schema_documents_detail_and_code():
    schema = api.get_openapi_schema()["components"]["schemas"]["ErrorOut"]

    assert set(schema["required"]) == {"detail", "code"}
    assert "validation_error" in schema["properties"]["code"]["enum"]


def test_an_unknown_body_field_is_422_not_ignored(api_client, user):
    agent = AgentFactory(owner=user)

    response = api_client.post(
        f"/api/v1/agents/{agent.pk}/chat", {"message": "hi", "conversation": 12345}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "payload", "conversation"]
    assert not agent.runs.exists()


# --- bad input is a 4xx, never a 500 -----------------------------------------------------

AGENT = {"name": "Calc", "description": "", "tools": [], "model": "openai:echo"}
NUL_PROBES = [
    ("agent", {**AGENT, "name": "a\x00b"}),
    ("agent", {**AGENT, "description": "a\x00b"}),
    ("agent", {**AGENT, "tools": ["a\x00b"]}),
    ("agent", {**AGENT, "model": "openai:a\x00b"}),
    ("agent", {**AGENT, "allowed_imports": ["ma\x00th"]}),
    ("agent", {**AGENT, "metadata": {"k\x00": "v"}}),
    ("agent", {**AGENT, "metadata": {"nested": ["a\x00b"]}}),
    ("chat", {"message": "hi\x00there"}),
    ("token", {"username": "ali\x00ce", "password": "secret"}),
]


@pytest.mark.parametrize(("target", "body"), NUL_PROBES)
def test_nul_characters_are_422(api_client, user, target, body):
    # PostgreSQL text and jsonb cannot hold NUL: unchecked, these were 500s there.
    url = {
        "agent": "/api/v1/agents",
        "chat": f"/api/v1/agents/{AgentFactory(owner=user).pk}/chat",
        "token": "/api/v1/auth/token",
    }[target]

    response = api_client.post(url, body)

    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_error"
    assert "NUL" in json.dumps(response.json()["detail"])


def test_a_body_over_the_upload_limit_is_400(api_client, settings):
    body = json.dumps({**AGENT, "description": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})

    response = api_client.client.post(
        "/api/v1/agents", body, content_type="application/json", headers=api_client.headers
    )

    assert response.status_code == 400
    assert response.json() == {
        "detail": "Request body too large: the limit is 2.5 MB.",
        "code": "bad_request",
    }


@pytest.mark.parametrize("path", ["/api/v1/agents", "/api/v1/marketplace", "/api/v1/tools"])
def test_an_offset_beyond_a_bigint_is_422(api_client, path):
    # PostgreSQL: "bigint out of range"; SQLite: an integer overflow. Both were 500s.
    too_far = api_client.get(path, {"offset": 2**63})
    last = api_client.get(path, {"offset": 2**63 - 1})

    assert too_far.status_code == 422
    assert too_far.json()["detail"][0]["loc"] == ["query", "offset"]
    assert last.status_code == 200
    assert last.json()["items"] == []


# --- auth is checked before CSRF --------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer ab_not-a-token"}])
def test_unsafe_call_without_a_session_or_a_good_token_is_401(db, headers):
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        "/api/v1/agents", AGENT, content_type="application/json", headers=headers
    )

    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_session_post_without_the_csrf_token_is_403(db):
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory())

    response = client.post("/api/v1/agents", AGENT, content_type="application/json")

    assert response.status_code == 403
    assert response.json() == {"detail": "CSRF check Failed", "code": "forbidden"}


def test_a_session_post_with_the_csrf_token_is_accepted(db):
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory())
    token = "csrf" * 8  # an unmasked CSRF secret: 32 letters
    client.cookies["csrftoken"] = token

    response = client.post(
        "/api/v1/agents", AGENT, content_type="application/json", headers={"X-CSRFToken": token}
    )

    assert response.status_code == 201, response.content


# --- docs work offline ------------------------------------------------------------------


def test_api_docs_are_served_from_bundled_files_and_link_the_schema(client, db):
    from django.contrib.staticfiles import finders

    page = client.get("/api/v1/docs").content.decode()
    description = api.get_openapi_schema()["info"]["description"]

    assert "cdn." not in page and "https://" not in page
    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "/static/ninja/swagger-ui.css" in page
    assert finders.find("ninja/swagger-ui-bundle.js")
    assert finders.find("ninja/swagger-ui-init.js")
    assert "(/api/v1/openapi.json)" in description
