"""What may stand at module level (imports and the tool, nothing that runs at load time) and
what may be imported (the platform's allowlist, by the executor's own import rule).
"""

from __future__ import annotations

import ast

from smolagents.local_python_executor import check_import_authorized

from .definitions import is_tool_def
from .result import ToolCheck

# Imports every tool may use whatever the allowlist says: they only define the tool.
PLUMBING_MODULES = {"__future__", "typing"}
SMOLAGENTS_NAMES = {"tool", "Tool"}


def check_module_level(tree: ast.Module, check: ToolCheck, allowed: set[str]) -> dict[str, str]:
    """Top-level statements and every import. Returns local name → imported object path."""
    imported: dict[str, str] = {}
    modules: set[str] = set()
    for index, node in enumerate(tree.body):
        is_docstring = (
            index == 0
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        )
        if isinstance(node, ast.Import):
            for alias in node.names:
                imported[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{node.module or ''}.{alias.name}"
        elif isinstance(node, ast.FunctionDef) and not is_tool_def(node):
            check.add(
                node,
                f"Function '{node.name}' is not a tool. Only the tool may be defined at module "
                "level: decorate it with @tool, or move this helper inside the tool.",
            )
        elif isinstance(node, ast.AsyncFunctionDef):
            check.add(node, "async functions cannot be tools. Use a plain def with @tool.")
        elif not (is_docstring or isinstance(node, (ast.FunctionDef, ast.ClassDef))):
            check.add(
                node,
                "Only imports and the tool definition may be at module level: this statement "
                "would run when the tool is loaded. Move it inside the tool.",
            )
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                _check_import(node, alias.name, [], check, allowed, modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                check.add(node, "Relative imports cannot work in the sandbox. Import by name.")
                continue
            names = [alias.name for alias in node.names]
            if "*" in names:
                check.add(node, f"'from {node.module} import *' hides names. Import them by name.")
            _check_import(node, node.module or "", names, check, allowed, modules)
    check.imports = sorted(modules)
    return imported


def _check_import(
    node: ast.stmt,
    module: str,
    names: list[str],
    check: ToolCheck,
    allowed: set[str],
    modules: set[str],
) -> None:
    root = module.split(".")[0]
    if root in PLUMBING_MODULES:
        return
    if root == "smolagents":
        if (
            module in {"smolagents", "smolagents.tools"}
            and names
            and set(names) <= SMOLAGENTS_NAMES
        ):
            return
        check.add(
            node,
            "From smolagents, import only what defines the tool: 'from smolagents import tool' "
            "or 'from smolagents import Tool'.",
        )
        return
    modules.add(module)
    if not check_import_authorized(module, sorted(allowed)):
        check.add(
            node,
            f"Module '{module}' is not on the platform's import allowlist. Remove the import or "
            f"use an allowed module ({', '.join(sorted(allowed)) or 'none'}).",
        )
