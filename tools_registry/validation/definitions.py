"""The tool definition itself: one ``@tool`` function or one ``Tool`` subclass, its metadata
checked by smolagents' own rules (``get_json_schema``, ``Tool.validate_arguments``), and its
name.
"""

from __future__ import annotations

import ast
from typing import Any

from smolagents._function_type_hints_utils import (
    DocstringParsingException,
    TypeHintParsingException,
    get_json_schema,
)
from smolagents.tools import Tool

from .portability import check_class_portability, check_function_portability
from .result import ToolCheck
from .signatures import signature_stub

MAX_NAME_LENGTH = 100


def is_tool_def(node: ast.stmt) -> bool:
    if isinstance(node, ast.FunctionDef):
        return any(decorator_name(d) == "tool" for d in node.decorator_list)
    return isinstance(node, ast.ClassDef)


def decorator_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.attr if node.value.id == "smolagents" else None
    return None


def _validate_with_smolagents(check: ToolCheck, node: ast.AST, attrs: dict, forward: Any) -> None:
    """Tool.validate_arguments runs when a Tool subclass is instantiated: do exactly that."""
    try:
        checked = type("CheckedTool", (Tool,), {**attrs, "forward": forward})
        checked()
    except Exception as exc:  # smolagents raises TypeError, ValueError, AssertionError, Exception
        message = (
            str(exc).rstrip(".") or "smolagents rejected the tool's name, inputs or output type"
        )
        check.add(node, f"{message}. Fix the tool's metadata to match (smolagents' rule).")


def check_function_tool(func: ast.FunctionDef, check: ToolCheck, imported: dict[str, str]) -> None:
    check.kind = "function"
    check.name = func.name
    check.name_line = func.lineno
    extra = [d for d in func.decorator_list if decorator_name(d) != "tool"]
    if extra or len(func.decorator_list) > 1:
        check.add(
            extra[0] if extra else func.decorator_list[1],
            "Use @tool as the only decorator: others would run when the tool loads.",
        )
    if imported.get("tool") not in {"smolagents.tool", "smolagents.tools.tool"} and not any(
        isinstance(d, ast.Attribute) for d in func.decorator_list
    ):
        check.add(func, "Import the decorator first: 'from smolagents import tool'.")
    stub, ok = signature_stub(func, check, imported, with_self=False, require_hints=True)
    if stub is None or not ok:
        return
    if func.returns is None and func.args.args:
        check.add(func, f"'{func.name}' needs a return type hint, e.g. '-> str'.")
        return
    # smolagents' @tool reads the same docstring and hints through get_json_schema.
    try:
        schema = get_json_schema(stub)["function"]
    except (DocstringParsingException, TypeHintParsingException) as exc:
        message = " ".join(str(part) for part in exc.args)
        check.add(
            func,
            f"{message}. Write a docstring with a description and an 'Args:' section that "
            "describes every parameter (Google style).",
        )
        return
    returns = schema.get("return", {"type": "null"})
    check.description = (schema.get("description") or "").strip()
    check.inputs = schema["parameters"]["properties"]
    check.output_type = returns.get("type", "any")
    if not check.description:
        check.add(func, "Start the docstring with a sentence saying what the tool does.")
    attrs = {
        "name": check.name,
        "description": check.description,
        "inputs": check.inputs,
        "output_type": check.output_type,
    }
    # SimpleTool's forward is the function with self prepended to its signature.
    forward, _ok = signature_stub(
        func, ToolCheck(), imported, with_self=False, require_hints=True, add_self=True
    )
    _validate_with_smolagents(check, func, attrs, forward)
    check_function_portability(func, check, imported)


def check_class_tool(
    source: str, cls: ast.ClassDef, check: ToolCheck, imported: dict[str, str]
) -> None:
    check.kind = "class"
    check.name_line = cls.lineno
    base_ok = len(cls.bases) == 1 and (
        (isinstance(cls.bases[0], ast.Name) and imported.get(cls.bases[0].id, "").endswith(".Tool"))
        or (isinstance(cls.bases[0], ast.Attribute) and cls.bases[0].attr == "Tool")
    )
    if not base_ok or cls.keywords:
        check.add(
            cls,
            f"Class '{cls.name}' must subclass smolagents' Tool and nothing else: "
            f"'from smolagents import Tool' then 'class {cls.name}(Tool):'.",
        )
        return
    if cls.decorator_list:
        check.add(cls, "Remove the class decorators: they would run when the tool loads.")
    literals: dict[str, Any] = {}
    methods: dict[str, ast.FunctionDef] = {}
    for index, node in enumerate(cls.body):
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        targets: list[ast.expr] = []
        value = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.FunctionDef):
            methods[node.name] = node
            if node.decorator_list:
                check.add(node, f"Remove the decorators on '{node.name}'.")
            continue
        else:
            check.add(node, "A tool class may only hold literal attributes and methods.")
            continue
        if len(targets) != 1 or not isinstance(targets[0], ast.Name):
            check.add(node, "Assign class attributes one at a time, to a plain name.")
            continue
        try:
            literals[targets[0].id] = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            check.add(
                node,
                f"Class attribute '{targets[0].id}' must be a literal (string, number, dict, "
                "list...): it would be evaluated when the tool is loaded.",
            )
        if targets[0].id == "name":
            check.name_line = node.lineno
    missing = [a for a in ("name", "description", "inputs", "output_type") if a not in literals]
    if missing:
        check.add(
            cls,
            f"Set the class attributes {', '.join(missing)} (smolagents requires name, "
            "description, inputs and output_type).",
        )
    if "forward" not in methods:
        check.add(
            cls, f"Define 'def forward(self, ...)' on {cls.name}: it is what the agent calls."
        )
    if missing or "forward" not in methods:
        return
    name = literals["name"]
    check.name = name if isinstance(name, str) else None
    description = literals["description"]
    check.description = description.strip() if isinstance(description, str) else ""
    check.inputs = literals["inputs"] if isinstance(literals["inputs"], dict) else {}
    check.output_type = literals["output_type"] if isinstance(literals["output_type"], str) else ""
    if isinstance(description, str) and not description.strip():
        check.add(cls, "The description is empty. Say what the tool does: the agent reads it.")
    forward, ok = signature_stub(
        methods["forward"], check, imported, with_self=True, require_hints=False
    )
    if forward is not None and ok:
        attrs = {
            key: literals[key]
            for key in ("name", "description", "inputs", "output_type", "output_schema")
            if key in literals
        }
        if literals.get("skip_forward_signature_validation") is True:
            attrs["skip_forward_signature_validation"] = True
        _validate_with_smolagents(check, cls, attrs, forward)
    check_class_portability(source, cls, methods, check, imported)


def check_name(check: ToolCheck, reserved: set[str], allowed: set[str]) -> None:
    name = check.name
    if not isinstance(name, str):
        if check.kind == "class" and not any("name" in p.message for p in check.problems):
            check.add(check.name_line, "The tool's name must be a string.")
        return
    if len(name) > MAX_NAME_LENGTH:
        check.add(check.name_line, f"Shorten the tool name to {MAX_NAME_LENGTH} characters.")
    if name.startswith("_"):
        check.add(check.name_line, f"Tool names may not start with '_' ('{name}'). Rename it.")
    module_roots = {module.split(".")[0] for module in allowed}
    if name in reserved or name in module_roots:
        check.add(
            check.name_line,
            f"The name '{name}' is reserved: the agent's interpreter already uses it (a Python "
            "builtin, an interpreter function or an importable module). Choose another name.",
        )
