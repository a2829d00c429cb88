"""Validation and loading agree: what the API accepted, smolagents loads and runs in a separate
process. And registering or listing a tool never executes its code in the web process."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.tools_registry.conftest import CLASS_TOOL
from tools_registry.services import allowed_modules, allowlist_replace, tool_specs_for_run

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]

FUNCTION_TOOL = '''import math
from typing import Optional

from smolagents import tool


@tool
def hypotenuse(a: float, b: float, scale: Optional[float] = None) -> float:
    """The length of a right triangle's hypotenuse.

    Args:
        a: One side.
        b: The other side.
        scale: Multiply the result by this, if given.
    """
    return math.hypot(a, b) * (scale or 1.0)
'''

# The sandbox side: define each tool from its stored source, check its metadata and call it.
LOADER = textwrap.dedent(
    """
    import json, sys, tempfile
    from tools_registry.loading import load_tool_from_source

    calls = json.load(sys.stdin)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, call in enumerate(calls):
            tool = load_tool_from_source(call["source"], module_name=f"tool_{i}", directory=tmp)
            out.append({
                "name": tool.name, "inputs": tool.inputs, "output_type": tool.output_type,
                "description": tool.description, "result": tool(**call["arguments"]),
            })
    print(json.dumps(out))
    """
)


def run_in_subprocess(calls: list[dict], extra_path: str | None = None) -> list[dict]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    if extra_path:
        env["PYTHONPATH"] += os.pathsep + extra_path
    done = subprocess.run(
        [sys.executable, "-c", LOADER],
        input=json.dumps(calls),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_registered_tools_load_in_smolagents_and_run_with_declared_inputs(api_client):
    for code in (FUNCTION_TOOL, CLASS_TOOL):
        response = api_client.post("/api/v1/tools/register", {"code": code})
        assert response.status_code == 201, response.content
    registered = {
        t["name"]: t for t in api_client.get("/api/v1/tools", {"builtin": False}).json()["items"]
    }
    specs = tool_specs_for_run(names=["hypotenuse", "word_stats"])

    loaded = run_in_subprocess(
        [
            {"source": specs[0].source, "arguments": {"a": 3.0, "b": 4.0}},
            {"source": specs[1].source, "arguments": {"text": "one two three"}},
        ]
    )

    hyp, words = loaded
    assert hyp["result"] == 5.0
    assert json.loads(words["result"]) == {"words": 3}
    for tool in loaded:
        # What the registry stored from static analysis is what smolagents built at load time.
        stored = registered[tool["name"]]
        assert tool["inputs"] == stored["inputs"]
        assert tool["output_type"] == stored["output_type"]
        assert tool["description"] == stored["description"]


MARKER_MODULE = """
from pathlib import Path
Path({marker!r}).write_text("imported")
"""


def test_registering_and_listing_never_execute_the_code(
    api_client, user_client, tmp_path, monkeypatch
):
    marker = tmp_path / "marker.txt"
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "marker_mod.py").write_text(MARKER_MODULE.format(marker=str(marker)))
    # The module is importable from this very process: only never importing it keeps it quiet.
    monkeypatch.syspath_prepend(str(package))
    allowlist_replace(modules=[*allowed_modules(), "marker_mod"])
    code = FUNCTION_TOOL.replace("import math\n", "import math\nimport marker_mod\n")

    assert api_client.post("/api/v1/tools/register", {"code": code}).status_code == 201
    assert api_client.post("/api/v1/tools/register", {"code": code}).status_code == 201
    api_client.get("/api/v1/tools")
    api_client.get("/api/v1/tools/hypotenuse")
    api_client.get("/api/v1/tools/hypotenuse/versions/1")
    user_client.get("/tools/")
    user_client.get("/tools/hypotenuse/", {"from": 1, "to": 2})
    user_client.post("/tools/register/", {"code": code, "action": "check"})
    [spec] = tool_specs_for_run(names=["hypotenuse"])

    assert not marker.exists()
    assert "marker_mod" not in sys.modules

    # Control: loading it the sandbox's way does run the import, so the probe would notice.
    run_in_subprocess([{"source": spec.source, "arguments": {"a": 1.0, "b": 0.0}}], str(package))
    assert marker.read_text() == "imported"


def test_demo_tools_validate_and_run(user):
    from tools_registry.demo import DAYS_BETWEEN, TEXT_STATS, UNIT_CONVERT
    from tools_registry.services import tool_register

    for code in (UNIT_CONVERT, TEXT_STATS, DAYS_BETWEEN):
        tool_register(owner=user, code=code)
    specs = tool_specs_for_run(names=["unit_convert", "text_stats", "days_between"])

    convert, stats, days = run_in_subprocess(
        [
            {
                "source": specs[0].source,
                "arguments": {"value": 100, "from_unit": "c", "to_unit": "f"},
            },
            {"source": specs[1].source, "arguments": {"text": "It works. Twice!"}},
            {"source": specs[2].source, "arguments": {"start": "2026-01-31", "end": "2026-03-01"}},
        ]
    )

    assert round(convert["result"], 6) == 212.0
    assert stats["result"]["words"] == 3 and stats["result"]["sentences"] == 2
    assert days["result"] == 29
