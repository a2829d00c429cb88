"""Tool pages: access, the htmx full-page/partial pairs, query budgets, registration."""

import pytest

from tests.factories import ToolFactory, ToolVersionFactory, tool_source
from tools_registry.models import Tool

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


# --- list --------------------------------------------------------------------------------


def test_list_needs_login(client):
    response = client.get("/tools/")

    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/")


def test_list_shows_builtins_and_registered_tools(user_client):
    ToolFactory(name="shouter", description="Shouts <b>loudly</b>")

    response = user_client.get("/tools/")

    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" in content and 'id="tool-results"' in content
    assert "web_search" in content and "shouter" in content
    assert "Shouts &lt;b&gt;loudly&lt;/b&gt;" in content


def test_htmx_request_renders_only_results(user_client):
    response = user_client.get("/tools/", {"q": "web"}, headers=HTMX)

    content = response.content.decode()
    assert content.lstrip().startswith('<section id="tool-results"')
    assert "<html" not in content
    assert "web_search" in content and "final_answer" not in content


def test_filters_by_kind_and_status(user_client, user):
    ToolFactory(name="mine_tool", owner=user)
    ToolFactory(name="theirs_tool")
    Tool.objects.filter(name="theirs_tool").update(status="invalid", status_reason="x")

    mine = user_client.get("/tools/", {"kind": "mine"}).content.decode()
    builtin = user_client.get("/tools/", {"kind": "builtin"}).content.decode()
    invalid = user_client.get("/tools/", {"status": "invalid"}).content.decode()

    assert "mine_tool" in mine and "theirs_tool" not in mine and "web_search" not in mine
    assert "web_search" in builtin and "mine_tool" not in builtin
    assert "theirs_tool" in invalid and "mine_tool" not in invalid


def test_empty_search_shows_an_empty_state(user_client):
    response = user_client.get("/tools/", {"q": "no-such-tool"})

    assert b"No tools match" in response.content


def test_list_paginates(user_client, user):
    ToolFactory.create_batch(30, owner=user)

    first = user_client.get("/tools/", {"kind": "custom"}).content.decode()
    second = user_client.get("/tools/", {"kind": "custom", "page": 2}).content.decode()

    assert "page 1 of 2" in first and "kind=custom&amp;page=2" in first
    assert "page 2 of 2" in second


def test_list_query_budget(user_client, user, django_assert_max_num_queries):
    ToolFactory.create_batch(20, owner=user)

    with django_assert_max_num_queries(6):
        user_client.get("/tools/")


# --- detail ------------------------------------------------------------------------------


def test_detail_needs_login(client):
    ToolFactory(name="shouter")

    assert client.get("/tools/shouter/").status_code == 302


@pytest.mark.parametrize("who", ["owner", "other"])
def test_detail_is_readable_by_any_signed_in_user(client, user, other_user, who):
    tool = ToolFactory(name="shouter", owner=user)
    client.force_login(user if who == "owner" else other_user)

    response = client.get("/tools/shouter/")

    assert response.status_code == 200
    content = response.content.decode()
    assert 'class="highlight"' in content  # pygments
    assert "Version 1" in content and tool.versions.get().sha256[:12] in content
    assert ("Register a new version" in content) is (who == "owner")


def test_unknown_tool_is_404(user_client):
    assert user_client.get("/tools/nope/").status_code == 404


def test_builtin_detail_shows_its_facts(user_client):
    content = user_client.get("/tools/visit_webpage/").content.decode()

    assert "VisitWebpageTool" in content and "markdownify" in content


def test_versions_and_diff(user_client, user):
    tool = ToolFactory(name="shouter", owner=user, latest_version=2)
    ToolVersionFactory(
        tool=tool, version=2, code=tool_source("shouter", body="return text.upper() + '<!>'")
    )

    page = user_client.get("/tools/shouter/").content.decode()
    assert "Version 2" in page and "Compare versions" in page

    first = user_client.get(
        "/tools/shouter/", {"version": 1}, headers=HTMX | {"HX-Target": "version-code"}
    )
    content = first.content.decode()
    assert content.lstrip().startswith('<section id="version-code"') and "Version 1" in content

    diff = user_client.get(
        "/tools/shouter/", {"from": 1, "to": 2}, headers=HTMX | {"HX-Target": "version-diff"}
    ).content.decode()
    assert diff.lstrip().startswith('<section id="version-diff"')
    assert "<html" not in diff
    assert 'class="diff-add">+    return text.upper() + &#x27;&lt;!&gt;&#x27;' in diff
    assert 'class="diff-del">-    return text.upper()' in diff

    full = user_client.get("/tools/shouter/", {"from": 1, "to": 2})
    assert b"<html" in full.content and b"Changes from version 1 to version 2" in full.content


@pytest.mark.parametrize("value", ["9", "x", "99999999999999999999999"])
def test_bad_version_is_404(user_client, value):
    ToolFactory(name="shouter")

    assert user_client.get("/tools/shouter/", {"version": value}).status_code == 404


def test_detail_query_budget(user_client, user, django_assert_max_num_queries):
    tool = ToolFactory(name="shouter", owner=user, latest_version=3)
    for n in (2, 3):
        ToolVersionFactory(tool=tool, version=n)

    with django_assert_max_num_queries(6):
        user_client.get("/tools/shouter/", {"from": 1, "to": 3})


# --- register ----------------------------------------------------------------------------


def test_register_needs_login(client):
    assert client.get("/tools/register/").status_code == 302
    assert client.post("/tools/register/", {"code": tool_source("x_tool")}).status_code == 302
    assert not Tool.objects.custom().exists()


def test_register_page_has_the_form_and_the_allowlist(user_client):
    content = user_client.get("/tools/register/").content.decode()

    assert 'name="code"' in content and "@tool" in content
    assert 'value="check"' in content and 'hx-post="/tools/register/"' in content
    assert "statistics" in content


def test_check_with_htmx_returns_only_the_verdict(user_client):
    bad = tool_source("uses_os", imports="import os\n")

    response = user_client.post("/tools/register/", {"code": bad, "action": "check"}, headers=HTMX)

    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<section id="validation-result"')
    assert "Line 1: Module &#x27;os&#x27; is not on" in content
    assert not Tool.objects.custom().exists()

    good = user_client.post(
        "/tools/register/", {"code": tool_source("fine"), "action": "check"}, headers=HTMX
    )
    assert b"Looks good" in good.content and b"text: string" in good.content


def test_check_without_javascript_renders_the_full_page(user_client):
    response = user_client.post(
        "/tools/register/",
        {"code": tool_source("uses_os", imports="import os\n"), "action": "check"},
    )

    assert response.status_code == 200
    assert b"<html" in response.content and b"is not on the platform" in response.content


def test_save_registers_and_redirects_to_the_tool(user_client, user):
    response = user_client.post("/tools/register/", {"code": tool_source("fine"), "action": "save"})

    assert response.status_code == 302
    assert response["Location"] == "/tools/fine/"
    assert Tool.objects.get(name="fine").owner == user


def test_save_with_errors_is_422_and_keeps_the_code(user_client):
    code = tool_source("uses_os", imports="import os\n")

    response = user_client.post("/tools/register/", {"code": code, "action": "save"})

    assert response.status_code == 422
    assert b"is not on the platform" in response.content
    assert b"import os" in response.content


def test_save_someone_elses_name_is_409(user_client, other_user):
    ToolFactory(name="taken", owner=other_user)

    response = user_client.post("/tools/register/", {"code": tool_source("taken")})

    assert response.status_code == 409
    assert b"belongs to another user" in response.content


def test_new_version_starts_from_own_latest_code_only(user_client, user, other_user):
    ToolFactory(name="mine", owner=user)
    ToolFactory(name="theirs", owner=other_user)

    response = user_client.get("/tools/register/", {"from": "mine"})

    assert response.status_code == 200
    assert b"def mine(text: str)" in response.content
    # The registry is public: others' tools and built-ins are visible, but not yours to
    # version (403); a name nobody has is a 404.
    assert user_client.get("/tools/register/", {"from": "theirs"}).status_code == 403
    assert user_client.get("/tools/register/", {"from": "web_search"}).status_code == 403
    assert user_client.get("/tools/register/", {"from": "nobody"}).status_code == 404


def test_list_says_when_nobody_registered_a_tool_yet(user_client):
    content = user_client.get("/tools/").content.decode()

    assert "No tools registered yet" in content and "web_search" in content
    ToolFactory()
    assert "No tools registered yet" not in user_client.get("/tools/").content.decode()


@pytest.mark.parametrize("url", ["/tools/a%00b/", "/tools/register/?from=a%00b", "/tools/?q=a%00b"])
def test_nul_bytes_are_not_a_server_error(user_client, url):
    assert user_client.get(url).status_code in {200, 404}
