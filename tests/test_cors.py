"""CORS (docs/API.md "CORS"): only /api/, only origins in CORS_ALLOWED_ORIGINS (none by
default), with the Authorization and Content-Type headers allowed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

LISTED = "https://app.example.com"


def preflight(client, path: str, origin: str):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


@pytest.fixture
def listed(settings):
    settings.CORS_ALLOWED_ORIGINS = [LISTED]


def test_a_preflight_from_a_listed_origin_is_allowed(client, listed):
    response = preflight(client, "/api/v1/agents", LISTED)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == LISTED
    allowed = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert allowed == {"authorization", "content-type"}
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response


def test_other_origins_get_no_cors_headers(client, listed):
    response = preflight(client, "/api/v1/agents", "https://evil.example.com")

    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_closed_by_default(client, settings):
    assert settings.CORS_ALLOWED_ORIGINS == []

    response = preflight(client, "/api/v1/agents", LISTED)

    assert "Access-Control-Allow-Origin" not in response


def test_api_answers_and_errors_carry_the_origin(client, api_client, listed):
    ok = api_client.client.get("/api/v1/agents", headers={**api_client.headers, "Origin": LISTED})
    anonymous = client.get("/api/v1/agents", headers={"Origin": LISTED})
    unknown_route = client.get("/api/v1/nope", headers={"Origin": LISTED})

    assert ok.status_code == 200 and ok["Access-Control-Allow-Origin"] == LISTED
    # Errors too, so a browser script can read the JSON error and its code.
    assert anonymous.status_code == 401 and anonymous["Access-Control-Allow-Origin"] == LISTED
    assert unknown_route.status_code == 404
    assert unknown_route["Access-Control-Allow-Origin"] == LISTED


@pytest.mark.parametrize("path", ["/", "/account/login/", "/marketplace/"])
def test_pages_outside_the_api_never_send_cors_headers(client, listed, path):
    page = client.get(path, headers={"Origin": LISTED})
    pre = preflight(client, path, LISTED)

    assert "Access-Control-Allow-Origin" not in page
    assert "Access-Control-Allow-Origin" not in pre


def test_the_allowlist_comes_from_the_environment():
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "CORS_ALLOWED_ORIGINS": f"{LISTED}, http://localhost:3000"}
    result = subprocess.run(
        [sys.executable, "-c", "from config import settings; print(settings.CORS_ALLOWED_ORIGINS)"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.stdout.strip() == str([LISTED, "http://localhost:3000"]), result.stderr
