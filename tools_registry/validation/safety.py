"""Names and attributes no tool may use, anywhere in its source.

These are the ways out of the interpreter's rules (dunders, ``eval``, ``getattr``...). The
sandbox is the boundary; this only rejects such code early, with a reason.
"""

from __future__ import annotations

import ast
import re

from .result import ToolCheck

# Builtins that reach outside the interpreter's rules or execute strings as code.
FORBIDDEN_NAMES = {
    "eval",
    "exec",
    "compile",
    "open",
    "getattr",
    "setattr",
    "delattr",
    "__import__",
    "globals",
    "locals",
    "vars",
    "breakpoint",
    "input",
    "memoryview",
}

# "{0.__class__.__mro__}".format(x) walks dunders without an attribute node
# (docs/smolagents-notes.md §5.2).
_FORMAT_DUNDER = re.compile(r"\{[^{}]*\.__")


def check_safety(tree: ast.Module, check: ToolCheck) -> None:
    """Every node of the source: forbidden names, dunder access, dunder-walking formats."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("__"):
            check.add(node, f"Access to '{node.attr}' is not allowed. Remove the dunder access.")
        elif isinstance(node, ast.Name) and (
            node.id in FORBIDDEN_NAMES or node.id.startswith("__")
        ):
            check.add(
                node,
                f"'{node.id}' is not allowed in tools (it escapes the interpreter's rules). "
                "Rewrite the code without it.",
            )
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _FORMAT_DUNDER.search(node.value)
        ):
            check.add(node, "Format strings may not reach dunder attributes. Remove '.__' here.")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name.startswith("__") and node.name != "__init__":
                check.add(
                    node,
                    f"Defining '{node.name}' is not allowed (the host could call it). "
                    "Use a plain method name.",
                )
        elif isinstance(node, ast.ClassDef) and node.name.startswith("__"):
            check.add(node, f"Class name '{node.name}' is not allowed. Drop the underscores.")
