import pytest
from django.core.management import call_command

from tests.factories import ToolFactory, tool_source
from tools_registry.models import AllowedImport, Tool, ToolVersion
from tools_registry.services import tool_register

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def test_admin_pages_load(staff_client):
    tool = ToolFactory(name="shouter")
    version = tool.versions.get()

    for url in (
        "/admin/tools_registry/tool/",
        f"/admin/tools_registry/tool/{tool.pk}/change/",
        "/admin/tools_registry/toolversion/",
        f"/admin/tools_registry/toolversion/{version.pk}/change/",
        "/admin/tools_registry/allowedimport/",
    ):
        assert staff_client.get(url).status_code == 200, url


def test_admin_version_code_is_read_only_and_highlighted(staff_client):
    version = ToolFactory(name="shouter").versions.get()

    response = staff_client.get(f"/admin/tools_registry/toolversion/{version.pk}/change/")

    assert b'class="highlight"' in response.content
    assert b'name="code"' not in response.content


def test_removing_an_import_in_admin_marks_tools_invalid(staff_client, user):
    tool_register(owner=user, code=tool_source("dumper", imports="import json\n"))
    json_row = AllowedImport.objects.get(module="json")

    response = staff_client.post(
        f"/admin/tools_registry/allowedimport/{json_row.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 302
    tool = Tool.objects.get(name="dumper")
    assert tool.status == "invalid" and "json" in tool.status_reason


def test_seed_demo_registers_demo_tools_idempotently(capsys):
    call_command("seed_demo")
    call_command("seed_demo")

    owners = dict(Tool.objects.custom().values_list("name", "owner__username"))
    assert owners == {"unit_convert": "alice", "text_stats": "bob", "days_between": "carol"}
    assert ToolVersion.objects.count() == 3
    assert "[exists]" in capsys.readouterr().out
