import pytest
from playwright.sync_api import expect

from tests.factories import tool_source
from tools_registry.models import Tool
from tools_registry.services import registry_defaults_ensure

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_register_a_tool_fix_an_import_and_save_two_versions(page, shot, django_user_model):
    # Transactional tests start from flushed tables: restore the migrations' built-ins/allowlist.
    registry_defaults_ensure()
    django_user_model.objects.create_user(username="toolsmith", password="a long pass 4242")
    page.goto("/account/login/")
    page.get_by_label("Username").fill("toolsmith")
    page.get_by_label("Password").fill("a long pass 4242")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_role("link", name="Tools", exact=True).click()
    expect(page.locator("#tool-table")).to_contain_text("web_search")
    shot(page, "list")
    page.get_by_role("link", name="Register tool").first.click()

    code = page.get_by_label("Code")
    code.fill(tool_source("shout", imports="import os\n", body="return os.sep + text.upper()"))
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#tool-problems")).to_contain_text(
        "Line 1: Module 'os' is not on the platform's import allowlist"
    )
    shot(page, "bad-import")

    code.fill(tool_source("shout", imports="import string\n", body="return string.capwords(text)"))
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#tool-ok")).to_contain_text("shout")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("heading", name="shout")).to_be_visible()
    expect(page.get_by_text("Saved shout version 1.")).to_be_visible()
    expect(page.locator("#version-table")).to_contain_text("Version 1")
    shot(page, "version-1")

    page.get_by_role("link", name="Register a new version").click()
    expect(page.get_by_label("Code")).to_have_value(
        tool_source("shout", imports="import string\n", body="return string.capwords(text)")
    )
    page.get_by_label("Code").fill(tool_source("shout", body="return text.upper() + '!'"))
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_text("Saved shout version 2.")).to_be_visible()
    expect(page.locator("#version-table")).to_contain_text("Version 2")
    expect(page.locator("#version-table")).to_contain_text("Version 1")
    page.get_by_role("button", name="Show diff").click()
    expect(page.locator("#version-diff")).to_contain_text("+    return text.upper() + '!'")
    shot(page, "version-2-diff")
    assert Tool.objects.get(name="shout").latest_version == 2
