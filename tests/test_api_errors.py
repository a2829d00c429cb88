"""The API's error contract (docs/API.md "Errors"): JSON {"detail": ...}, the right status,
no 500."""

import json
import re

import pytest

from config.api import api

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
                assert "detail" in response.json(), (method, url, body)
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
    assert response.json() == {"detail": "Not found."}


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
