"""The Tools section of docs/API.md, status codes and error cases included."""

import pytest

from tests.factories import ToolFactory, UserFactory, tool_source
from tools_registry.builtins import BUILTIN_NAMES
from tools_registry.models import Tool

pytestmark = pytest.mark.django_db


def register(client, code, **extra):
    return client.post("/api/v1/tools/register", {"code": code, **extra})


def test_list_includes_builtins_with_builtin_true(api_client):
    response = api_client.get("/api/v1/tools", {"limit": 100})

    assert response.status_code == 200
    body = response.json()
    builtins = {item["name"]: item for item in body["items"] if item["builtin"]}
    assert set(builtins) == BUILTIN_NAMES
    assert {"final_answer", "python_interpreter", "web_search", "visit_webpage"} <= set(builtins)
    web_search = builtins["web_search"]
    assert web_search["owner"] is None
    assert web_search["latest_version"] == 0
    assert web_search["inputs"]["query"]["type"] == "string"
    assert web_search["output_type"] == "string"
    assert web_search["needs_network"] is True
    assert builtins["user_input"]["runnable"] is False
    assert body["count"] == len(BUILTIN_NAMES)


def test_list_fields_for_registered_tools(api_client):
    tool = ToolFactory(name="shouter")

    item = next(i for i in api_client.get("/api/v1/tools", {"q": "shouter"}).json()["items"])

    assert item == {
        "name": "shouter",
        "description": "Shout the text.",
        "inputs": {"text": {"type": "string", "description": "The text to shout."}},
        "output_type": "string",
        "builtin": False,
        "owner": tool.owner.username,
        "latest_version": 1,
        "status": "valid",
        "status_reason": "",
        "needs_network": False,
        "requires": [],
        "runnable": True,
        "runnable_note": "",
    }


def test_list_is_paginated_and_filtered(api_client, user):
    ToolFactory.create_batch(25, owner=user)
    ToolFactory(name="zebra_tool", description="Stripes")

    page = api_client.get("/api/v1/tools").json()
    assert len(page["items"]) == 20
    assert page["count"] == 26 + len(BUILTIN_NAMES)
    assert len(api_client.get("/api/v1/tools", {"limit": 5, "offset": 30}).json()["items"]) == 3
    assert api_client.get("/api/v1/tools", {"limit": 1000}).status_code == 422
    custom = api_client.get("/api/v1/tools", {"builtin": "false", "limit": 100}).json()
    assert custom["count"] == 26
    mine = api_client.get("/api/v1/tools", {"owner": user.username}).json()
    assert mine["count"] == 25
    found = api_client.get("/api/v1/tools", {"q": "stripes"}).json()["items"]
    assert [item["name"] for item in found] == ["zebra_tool"]


def test_list_query_budget(api_client, user, other_user, django_assert_max_num_queries):
    ToolFactory.create_batch(15, owner=user)
    ToolFactory.create_batch(15, owner=other_user)

    with django_assert_max_num_queries(5):
        response = api_client.get("/api/v1/tools", {"limit": 100})

    assert len(response.json()["items"]) == 30 + len(BUILTIN_NAMES)


def test_register_creates_version_one(api_client, user, shout_code):
    response = register(api_client, shout_code)

    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["latest_version"], body["owner"]) == ("shout", 1, user.username)
    assert body["inputs"] == {"text": {"type": "string", "description": "The text to shout."}}
    assert body["output_type"] == "string"
    assert body["description"] == "Shout the text."
    assert body["builtin"] is False


def test_register_again_creates_the_next_version_and_keeps_the_old(api_client, shout_code):
    register(api_client, shout_code)
    changed = shout_code.replace("text.upper()", "text.upper() + '!'")

    response = register(api_client, changed, description="Shout louder.")

    assert response.status_code == 201
    assert response.json()["latest_version"] == 2
    assert response.json()["description"] == "Shout louder."
    detail = api_client.get("/api/v1/tools/shout").json()
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert set(detail["versions"][0]) >= {"version", "created_at", "code_sha256"}
    first = api_client.get("/api/v1/tools/shout/versions/1").json()
    assert first["code"] == shout_code
    assert api_client.get("/api/v1/tools/shout/versions/2").json()["code"] == changed


def test_someone_elses_name_is_409(api_client, make_api_client, shout_code):
    register(api_client, shout_code)

    response = register(make_api_client(UserFactory()), shout_code)

    assert response.status_code == 409
    assert "belongs to another user" in response.json()["detail"]
    assert Tool.objects.get(name="shout").latest_version == 1


@pytest.mark.parametrize("name", ["web_search", "final_answer", "python_interpreter", "user_input"])
def test_builtin_names_are_409(api_client, name):
    response = register(api_client, tool_source(name))

    assert response.status_code == 409
    assert "built-in" in response.json()["detail"]


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("def broken(:\n", "Line 1: Python cannot parse this"),
        ("import math\n", "No tool found"),
        (tool_source("uses_os", imports="import os\n"), "Line 1: Module 'os' is not on"),
        (tool_source("a") + tool_source("b"), "exactly one tool"),
        (tool_source("nodoc").replace("Args:", "Notes:"), "Line 5: "),
    ],
)
def test_invalid_code_is_422_naming_the_line(api_client, code, fragment):
    response = register(api_client, code)

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert any(fragment in message for message in detail), detail
    assert not Tool.objects.custom().exists()


def test_code_over_100_kb_is_422(api_client):
    code = tool_source("big") + "#" * (100 * 1024)

    response = register(api_client, code)

    assert response.status_code == 422


def test_code_must_be_a_string(api_client):
    assert api_client.post("/api/v1/tools/register", {"code": 5}).status_code == 422
    assert api_client.post("/api/v1/tools/register", {}).status_code == 422


def test_detail_and_unknown_tool(api_client):
    ToolFactory(name="known")

    assert api_client.get("/api/v1/tools/known").status_code == 200
    assert api_client.get("/api/v1/tools/web_search").json()["versions"] == []
    assert api_client.get("/api/v1/tools/nope").status_code == 404
    assert api_client.get("/api/v1/tools/known/versions/7").status_code == 404
    assert api_client.get("/api/v1/tools/known/versions/0").status_code == 422


def test_unauthenticated_is_401(client, shout_code):
    assert client.get("/api/v1/tools").status_code == 401
    assert client.get("/api/v1/imports/allowlist").status_code == 401
    response = client.post(
        "/api/v1/tools/register", {"code": shout_code}, content_type="application/json"
    )
    assert response.status_code == 401


def test_allowlist_get(api_client):
    modules = api_client.get("/api/v1/imports/allowlist").json()["modules"]

    assert modules == sorted(modules)
    assert {"math", "statistics", "datetime", "re", "json", "collections"} <= set(modules)
    assert not {"os", "subprocess", "sys", "socket", "shutil", "importlib", "ctypes"} & set(modules)
    assert not {"builtins", "pathlib", "io"} & set(modules)


def test_allowlist_put_is_staff_only(api_client):
    response = api_client.put("/api/v1/imports/allowlist", {"modules": ["math"]})

    assert response.status_code == 403
    assert "math" in api_client.get("/api/v1/imports/allowlist").json()["modules"]
    assert "json" in api_client.get("/api/v1/imports/allowlist").json()["modules"]


def test_allowlist_put_replaces_and_marks_tools_invalid(make_api_client, staff_user, user):
    staff = make_api_client(staff_user)
    owner = make_api_client(user)
    assert register(owner, tool_source("dumper", imports="import json\n")).status_code == 201

    response = staff.put("/api/v1/imports/allowlist", {"modules": ["math", "re"]})

    assert response.status_code == 200
    assert response.json() == {"modules": ["math", "re"], "invalidated": ["dumper"]}
    tool = owner.get("/api/v1/tools/dumper").json()
    assert tool["status"] == "invalid"
    assert "json" in tool["status_reason"]

    response = staff.put("/api/v1/imports/allowlist", {"modules": ["math", "re", "json"]})
    assert response.json()["invalidated"] == []
    assert owner.get("/api/v1/tools/dumper").json()["status"] == "valid"


@pytest.mark.parametrize("bad", ["*", "os;rm", "", "a..b", "1abc", "x" * 101])
def test_allowlist_put_rejects_bad_module_names(make_api_client, staff_user, bad):
    response = make_api_client(staff_user).put("/api/v1/imports/allowlist", {"modules": [bad]})

    assert response.status_code == 422
    assert "math" in make_api_client(staff_user).get("/api/v1/imports/allowlist").json()["modules"]


def test_nul_bytes_are_bad_input_not_a_server_error(api_client, shout_code):
    assert api_client.get("/api/v1/tools/a\x00b").status_code == 404
    assert api_client.get("/api/v1/tools", {"q": "a\x00b"}).status_code == 422
    response = api_client.post(
        "/api/v1/tools/register", {"code": shout_code, "description": "a\x00b"}
    )
    assert response.status_code == 422
    assert api_client.post("/api/v1/tools/register", {"code": "x\x00"}).status_code == 422
