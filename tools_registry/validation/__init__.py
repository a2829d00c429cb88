"""Static validation of submitted tool source: parse it, never run it.

This package is a filter that rejects junk early and explains why, line by line. It is not a
security boundary: registered code only ever runs inside the agents' sandbox process.

smolagents' own rules are reused wherever they can run on parsed source:
- `get_json_schema` (docstring `Args:` + type hints → inputs) on a stub function that carries
  the submitted signature and docstring but none of its code;
- `Tool.validate_arguments` (name, inputs shape, AUTHORIZED_TYPES, output type, forward
  signature, nullable agreement) by instantiating a metadata-only Tool subclass;
- `validate_tool_attributes` (class tools) fed the class source through `__source__`;
- `MethodChecker` (undefined names) on the @tool function, as `SimpleTool.to_dict()` does;
- `check_import_authorized` (the executor's own import rule) for the allowlist.
No Django imports: the sandbox side may import this package too.

Modules: ``imports`` (module level and the allowlist), ``safety`` (names no tool may use),
``definitions`` (the @tool function or Tool class and its name), ``signatures`` (type hints
and signature stubs), ``portability`` (undefined names), ``result`` (``ToolCheck``).
"""

import ast
from collections.abc import Iterable

from .definitions import (
    MAX_NAME_LENGTH,
    check_class_tool,
    check_function_tool,
    check_name,
    is_tool_def,
)
from .imports import PLUMBING_MODULES, SMOLAGENTS_NAMES, check_module_level
from .result import Problem, ToolCheck
from .safety import FORBIDDEN_NAMES, check_safety
from .signatures import HINT_HELP

__all__ = [
    "FORBIDDEN_NAMES",
    "HINT_HELP",
    "MAX_NAME_LENGTH",
    "MAX_SOURCE_BYTES",
    "PLUMBING_MODULES",
    "SMOLAGENTS_NAMES",
    "Problem",
    "ToolCheck",
    "check_tool_source",
]

MAX_SOURCE_BYTES = 100 * 1024


def check_tool_source(
    source: str, *, allowed_modules: Iterable[str], reserved_names: Iterable[str] = ()
) -> ToolCheck:
    """Check submitted tool source without executing any of it."""
    check = ToolCheck()
    size = len(source.encode("utf-8", errors="replace"))
    if size > MAX_SOURCE_BYTES:
        check.add(1, f"The code is {size // 1024} KB; the limit is 100 KB. Make the tool smaller.")
        return check
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        check.add(exc.lineno or 1, f"Python cannot parse this: {exc.msg}. Fix the syntax.")
        return check
    except (ValueError, RecursionError, MemoryError) as exc:
        # Null bytes, or nesting deeper than the parser's stack.
        check.add(1, f"Python cannot parse this: {exc}. Fix the code.")
        return check

    imported = check_module_level(tree, check, set(allowed_modules))
    check_safety(tree, check)
    tools = [node for node in tree.body if is_tool_def(node)]
    if not tools:
        check.add(
            1,
            "No tool found. Define one function decorated with @tool (from smolagents import "
            "tool) or one class that subclasses Tool (from smolagents import Tool).",
        )
        return check
    if len(tools) > 1:
        lines = ", ".join(str(node.lineno) for node in tools)
        check.add(
            tools[1],
            f"Define exactly one tool per registration; found {len(tools)} (lines {lines}). "
            "Register the others separately.",
        )
        return check
    node = tools[0]
    if isinstance(node, ast.FunctionDef):
        check_function_tool(node, check, imported)
    else:
        check_class_tool(source, node, check, imported)
    check_name(check, set(reserved_names), set(allowed_modules))
    check.problems.sort(key=lambda problem: problem.line)
    return check
