"""The interfaces other apps call: tool_problems, tool_specs_for_run, the allowlist helpers,
the selectable QuerySet and the reserved names."""

import pytest

from core.errors import Conflict, Invalid
from tests.factories import ToolFactory, tool_source
from tools_registry import builtins
from tools_registry.models import Tool, ToolVersion
from tools_registry.services import (
    RESERVED_TOOL_NAMES,
    allowed_modules,
    allowlist_replace,
    builtin_tools_sync,
    import_problems,
    tool_problems,
    tool_register,
    tool_specs_for_run,
)
from tools_registry.specs import ToolSpec

pytestmark = pytest.mark.django_db


def test_no_problems_for_a_valid_custom_tool_and_web_search():
    ToolFactory(name="shout")

    assert tool_problems(names=["shout", "web_search"]) == []
    assert tool_problems(names=[]) == []


def test_unknown_and_duplicate_names_are_problems():
    ToolFactory(name="shout")

    problems = tool_problems(names=["shout", "shout", "nope"])

    assert any("“shout” is listed 2 times" in p for p in problems)
    assert any("Unknown tool “nope”" in p for p in problems)
    assert len(problems) == 2


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("final_answer", "always included"),
        ("python_interpreter", "ToolCallingAgent only"),
        ("user_input", "block a worker"),
    ],
)
def test_builtins_that_cannot_run_here_are_problems(name, fragment):
    [problem] = tool_problems(names=[name])

    assert name in problem and fragment in problem


def test_a_missing_extra_package_is_a_problem(monkeypatch):
    monkeypatch.setattr(builtins, "_installed", lambda module: module != "markdownify")

    [problem] = tool_problems(names=["visit_webpage"])

    assert "markdownify" in problem and "pip install" in problem


def test_an_invalid_tool_is_a_problem_with_its_reason(user):
    tool_register(owner=user, code=tool_source("dumper", imports="import json\n"))
    allowlist_replace(modules=["math"])

    [problem] = tool_problems(names=["dumper"])

    assert "“dumper” is invalid" in problem and "json" in problem


def test_specs_carry_the_latest_source_and_builtin_class(user):
    tool_register(owner=user, code=tool_source("shout"))
    latest = tool_source("shout", body="return text.upper() + '!'")
    tool_register(owner=user, code=latest)

    shout, search = tool_specs_for_run(names=["shout", "web_search"])

    version = ToolVersion.objects.get(tool__name="shout", version=2)
    assert shout == ToolSpec(
        name="shout",
        description="Shout the text.",
        inputs={"text": {"type": "string", "description": "The text to shout."}},
        output_type="string",
        source=latest,
        version=2,
        sha256=version.sha256,
    )
    assert (search.builtin, search.builtin_class, search.source) == (True, "WebSearchTool", None)
    assert ToolSpec.from_json(shout.to_json()) == shout


def test_specs_refuse_with_the_problems():
    with pytest.raises(Invalid) as exc:
        tool_specs_for_run(names=["nope", "user_input"])

    assert len(exc.value.detail) == 2


def test_allowed_modules_and_import_problems():
    modules = allowed_modules()

    assert modules == sorted(modules) and "math" in modules
    assert import_problems(modules=["math", "json"]) == []
    assert import_problems(modules=["os", "math", "os"]) == [
        "Module “os” is not on the platform's import allowlist."
    ]


def test_selectable_and_invalid_querysets(user):
    ToolFactory(name="fine")
    tool_register(owner=user, code=tool_source("dumper", imports="import json\n"))
    allowlist_replace(modules=["math"])

    selectable = set(Tool.objects.selectable().values_list("name", flat=True))
    invalid = dict(Tool.objects.invalid().values_list("name", "status_reason"))

    assert "fine" in selectable and "web_search" in selectable
    assert not {"dumper", "final_answer", "python_interpreter", "user_input"} & selectable
    assert list(invalid) == ["dumper"] and "json" in invalid["dumper"]


def test_a_new_version_with_allowed_imports_makes_the_tool_valid_again(user):
    tool_register(owner=user, code=tool_source("dumper", imports="import json\n"))
    allowlist_replace(modules=["math"])

    tool = tool_register(owner=user, code=tool_source("dumper"))

    assert (tool.status, tool.latest_version) == ("valid", 2)


def test_reserved_names():
    expected = {"final_answer", "python_interpreter", "print", "len", "max", "getattr", "open"}
    expected |= {"math", "re", "collections", "web_search", "visit_webpage", "user_input"}
    assert expected <= RESERVED_TOOL_NAMES


def test_versions_are_immutable():
    version = ToolFactory().versions.get()
    version.code = "changed"

    with pytest.raises(ValueError, match="immutable"):
        version.save()


def test_builtin_sync_is_idempotent():
    count = Tool.objects.count()

    assert set(builtin_tools_sync()) == builtins.BUILTIN_NAMES
    builtin_tools_sync()

    assert Tool.objects.count() == count
    assert Tool.objects.builtin().count() == len(builtins.CATALOG)


def test_sync_never_takes_over_a_registered_row():
    Tool.objects.filter(name="web_search").delete()
    ToolFactory(name="web_search")

    builtin_tools_sync()

    assert Tool.objects.get(name="web_search").builtin is False


def test_conflicts_raise_conflict(user, other_user):
    tool_register(owner=user, code=tool_source("shout"))

    with pytest.raises(Conflict):
        tool_register(owner=other_user, code=tool_source("shout"))
    with pytest.raises(Conflict):
        tool_register(owner=user, code=tool_source("visit_webpage"))


def test_revalidation_keeps_a_tool_staff_invalidated_by_hand():
    ToolFactory(name="flagged")
    Tool.objects.filter(name="flagged").update(status="invalid", status_reason="Abuse report.")

    allowlist_replace(modules=allowed_modules())

    assert Tool.objects.get(name="flagged").status_reason == "Abuse report."
