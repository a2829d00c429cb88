"""smolagents' portability rules: a tool's code must name only what it defines or imports,
so that it still works once shipped as source (to the sandbox, to the Hub).

smolagents runs these rules on live objects; here they are fed parsed source instead.
"""

from __future__ import annotations

import ast
import re

from smolagents.tool_validation import MethodChecker, validate_tool_attributes

from .result import ToolCheck


def _undefined_names(
    check: ToolCheck, func: ast.FunctionDef, errors: list[str], known: set[str]
) -> None:
    for error in errors:
        match = re.search(r"Name '(\w+)' is undefined", error)
        if match and match.group(1) in known:
            continue  # defined at module level (an import) or as a nested helper
        name = match.group(1) if match else None
        line = next(
            (n.lineno for n in ast.walk(func) if isinstance(n, ast.Name) and n.id == name),
            func.lineno,
        )
        hint = f" Define or import '{name}' inside the tool." if name else ""
        check.add(line, f"{error.lstrip('- ')}{hint}")


def _nested_defs(node: ast.AST) -> set[str]:
    """Names MethodChecker misses: nested defs, generator-expression and walrus targets, and
    the parameters of every function (it forgets the outer ones at a nested def or lambda)."""
    names = {arg.arg for n in ast.walk(node) if isinstance(n, ast.arguments) for arg in n.args}
    for n in ast.walk(node):
        if isinstance(n, (ast.comprehension, ast.NamedExpr)):
            names |= {t.id for t in ast.walk(n.target) if isinstance(t, ast.Name)}
    names |= {
        n.name
        for n in ast.walk(node)
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n is not node
    }
    return names


def check_function_portability(
    func: ast.FunctionDef, check: ToolCheck, imported: dict[str, str]
) -> None:
    """An @tool function, by ``MethodChecker``."""
    # The same undefined-name check SimpleTool.to_dict() runs, aware of module-level imports.
    checker = MethodChecker(set())
    checker.visit(func)
    _undefined_names(check, func, checker.errors, set(imported) | _nested_defs(func))


def check_class_portability(
    source: str,
    cls: ast.ClassDef,
    methods: dict[str, ast.FunctionDef],
    check: ToolCheck,
    imported: dict[str, str],
) -> None:
    """A class tool's methods, by ``validate_tool_attributes``."""
    # smolagents' portability check, fed the class source without executing it
    # (docs/smolagents-notes.md §4.3).
    dummy = type(cls.name, (), {"__source__": ast.get_source_segment(source, cls) or ""})
    try:
        validate_tool_attributes(dummy)
    except ValueError as exc:
        known = set(imported) | _nested_defs(cls)
        lines = str(exc).splitlines()[1:]
        method_errors = [line for line in lines if re.match(r"- \w+: ", line)]
        for line in lines:
            if line not in method_errors:
                check.add(cls, f"{line} (smolagents' tool rules)")
        for method in methods.values():
            prefix = f"- {method.name}: "
            errors = [line[len(prefix) :] for line in method_errors if line.startswith(prefix)]
            _undefined_names(check, method, errors, known)
