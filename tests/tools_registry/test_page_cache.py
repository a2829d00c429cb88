"""The page cache (core.pagecache) on the tools registry's first page: kept on a second visit,
and a new or changed tool is there on the next (PostgreSQL only)."""

import pytest
from django.urls import reverse

from tests.agents.test_page_cache import page, postgres_only, visit
from tests.factories import ToolFactory
from tools_registry.models import Tool

pytestmark = [pytest.mark.django_db, postgres_only]

URL = reverse("tools_registry:tool_list")


def test_a_registered_or_changed_tool_shows(user_client):
    visit(user_client, URL)
    tool = ToolFactory(name="fresh_cached_tool")
    assert "fresh_cached_tool" in page(user_client, URL)
    Tool.objects.filter(pk=tool.pk).update(description="A description changed by update")
    assert "A description changed by update" in page(user_client, URL)


def test_searches_are_rendered(user_client):
    user_client.get(URL + "?q=shout")
    assert getattr(user_client.get(URL + "?q=shout"), "page_cache", None) is None
