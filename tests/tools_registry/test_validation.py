"""Validation through the public service (tool_check) and the API: every error names a line."""

import pytest

from tests.factories import tool_source
from tools_registry.services import tool_check

pytestmark = pytest.mark.django_db

FN = tool_source


def check(code: str):
    return tool_check(code=code)


def test_valid_tool_function_reports_smolagents_metadata():
    code = '''from typing import Literal, Optional

from smolagents import tool


@tool
def pick(options: list[str], mode: Literal["first", "last"], limit: Optional[int] = None) -> str:
    """Pick one option.

    Args:
        options: The options to pick from.
        mode: Which end to pick from.
        limit: Ignored.
    """
    return options[0] if mode == "first" else options[-1]
'''
    result = check(code)

    assert result.ok, result.messages
    assert (result.name, result.kind, result.output_type) == ("pick", "function", "string")
    assert result.description == "Pick one option."
    assert result.inputs == {
        "options": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The options to pick from.",
        },
        "mode": {
            "type": "string",
            "enum": ["first", "last"],
            "description": "Which end to pick from.",
        },
        "limit": {"type": "integer", "nullable": True, "description": "Ignored."},
    }


def test_valid_tool_subclass(class_code):
    result = check(class_code)

    assert result.ok, result.messages
    assert (result.name, result.kind, result.imports) == ("word_stats", "class", ["json"])


BAD = [
    # (code, line, fragment of the message)
    ("def f(:\n    pass\n", 1, "cannot parse"),
    (
        FN("a_tool", imports="import os\n"),
        1,
        "Module 'os' is not on the platform's import allowlist",
    ),
    (FN("a_tool", imports="from subprocess import run\n"), 1, "'subprocess' is not on"),
    (FN("a_tool", body="import socket; return text"), 11, "'socket' is not on"),
    (FN("a_tool", imports="from . import x\n"), 1, "Relative imports"),
    (FN("a_tool", imports="from math import *\n"), 1, "import *"),
    (FN("a_tool", imports="from smolagents import CodeAgent\n"), 1, "From smolagents, import only"),
    (FN("a_tool", imports="print('loaded')\n"), 1, "Only imports and the tool definition"),
    (FN("a_tool", imports="X = 1\n"), 1, "Only imports and the tool definition"),
    (FN("a_tool", imports="def helper():\n    return 1\n"), 1, "is not a tool"),
    (
        FN("a_tool") + "\n" + FN("b_tool").replace("from smolagents import tool\n", ""),
        16,
        "exactly one tool",
    ),
    ("import math\n", 1, "No tool found"),
    (FN("a_tool", body="return text.__class__"), 11, "'__class__' is not allowed"),
    (FN("a_tool", body="return eval(text)"), 11, "'eval' is not allowed"),
    (FN("a_tool", body="return exec(text)"), 11, "'exec' is not allowed"),
    (FN("a_tool", body="return compile(text, 'x', 'exec')"), 11, "'compile' is not allowed"),
    (FN("a_tool", body="return open(text).read()"), 11, "'open' is not allowed"),
    (FN("a_tool", body="return getattr(text, 'upper')()"), 11, "'getattr' is not allowed"),
    (FN("a_tool", body="return __import__('os')"), 11, "'__import__' is not allowed"),
    (FN("a_tool", body="return '{0.__class__}'.format(text)"), 11, "Format strings"),
    (FN("a_tool", body="return helper(text)"), 11, "Name 'helper' is undefined"),
    (FN("a_tool").replace("(text: str)", "(text)"), 5, "needs a type hint"),
    (FN("a_tool").replace("(text: str)", "(text: Path)"), 5, "Type hint 'Path'"),
    (
        FN("a_tool").replace("(text: str)", "(text: Optional[str])"),
        5,
        "from typing import Optional",
    ),
    (FN("a_tool").replace(" -> str", ""), 5, "return type hint"),
    (FN("a_tool").replace("Args:", "Arguments:"), 5, "no description for the argument 'text'"),
    (FN("a_tool").replace("(text: str)", "(text: str = str(1))"), 5, "must be a literal"),
    (FN("a_tool").replace("(text: str)", "(*text: str)"), 5, "plain named parameters"),
    (FN("a_tool").replace("@tool", "@tool\n@staticmethod"), 5, "only decorator"),
    (FN("max"), 5, "The name 'max' is reserved"),
    (FN("print"), 5, "The name 'print' is reserved"),
    (FN("math"), 5, "The name 'math' is reserved"),
    (FN("register"), 5, "The name 'register' is reserved"),
    ("x" * (100 * 1024 + 1), 1, "the limit is 100 KB"),
]


@pytest.mark.parametrize(("code", "line", "fragment"), BAD)
def test_bad_code_names_the_line_and_the_fix(code, line, fragment):
    result = check(code)

    assert not result.ok
    matching = [m for m in result.messages if fragment in m]
    assert matching, result.messages
    assert matching[0].startswith(f"Line {line}: "), matching


CLASS_BAD = [
    ('    inputs = {"text": {"type": "text", "description": "x"}}', "must be one of"),
    ('    inputs = {"text": {"type": "string"}}', "should have keys 'type' and 'description'"),
    ('    output_type = "str"', ""),
    ('    name = "two words"', "Invalid Tool name"),
    ("    inputs = dict(text=1)", "must be a literal"),
]


@pytest.mark.parametrize(("replacement", "fragment"), CLASS_BAD)
def test_tool_subclass_metadata_follows_smolagents_rules(class_code, replacement, fragment):
    key = replacement.split("=")[0].strip()
    lines = [
        replacement if line.startswith(f"    {key} =") else line for line in class_code.splitlines()
    ]

    result = check("\n".join(lines))

    assert not result.ok
    assert any(fragment in m for m in result.messages), result.messages
    assert all(m.startswith("Line ") for m in result.messages)


def test_forward_must_match_inputs(class_code):
    result = check(
        class_code.replace("def forward(self, text: str)", "def forward(self, words: str)")
    )

    assert any("'forward' method parameters" in m for m in result.messages), result.messages


def test_tool_subclass_needs_tool_base_and_all_attributes(class_code):
    assert any(
        "must subclass smolagents' Tool" in m
        for m in check(class_code.replace("(Tool)", "(object)")).messages
    )
    missing = check(class_code.replace('    output_type = "string"\n', ""))
    assert any("output_type" in m for m in missing.messages), missing.messages


def test_dunder_methods_and_class_level_code_are_refused(class_code):
    code = class_code + "\n    def __del__(self):\n        pass\n"

    assert any("'__del__' is not allowed" in m for m in check(code).messages)


def test_module_level_imports_are_usable_inside_the_tool():
    code = FN("rooted", imports="import json\n", body="return json.dumps(text)")

    assert check(code).ok


def test_nested_helpers_and_generators_are_fine():
    body = "def up(x):\n        return x.upper()\n    return ''.join(up(c) for c in text)"

    assert check(FN("nested", body=body)).ok


def test_staff_allowed_submodules_follow_the_executors_rule(staff_user):
    from tools_registry.services import allowed_modules, allowlist_replace

    code = FN("abc_tool", imports="import collections.abc\n")
    assert not check(code).ok  # "collections" alone does not allow its submodules
    allowlist_replace(modules=[*allowed_modules(), "collections.*"])
    assert check(code).ok
