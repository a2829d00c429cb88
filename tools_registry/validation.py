"""Static validation of submitted tool source: parse it, never run it.

This module is a filter that rejects junk early and explains why, line by line. It is not a
security boundary: registered code only ever runs inside the agents' sandbox process.

smolagents' own rules are reused wherever they can run on parsed source:
- `get_json_schema` (docstring `Args:` + type hints → inputs) on a stub function that carries
  the submitted signature and docstring but none of its code;
- `Tool.validate_arguments` (name, inputs shape, AUTHORIZED_TYPES, output type, forward
  signature, nullable agreement) by instantiating a metadata-only Tool subclass;
- `validate_tool_attributes` (class tools) fed the class source through `__source__`;
- `MethodChecker` (undefined names) on the @tool function, as `SimpleTool.to_dict()` does;
- `check_import_authorized` (the executor's own import rule) for the allowlist.
No Django imports: the sandbox side may import this module too.
"""

import ast
import inspect
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from smolagents._function_type_hints_utils import (
    DocstringParsingException,
    TypeHintParsingException,
    get_json_schema,
)
from smolagents.local_python_executor import check_import_authorized
from smolagents.tool_validation import MethodChecker, validate_tool_attributes
from smolagents.tools import Tool

MAX_SOURCE_BYTES = 100 * 1024
MAX_NAME_LENGTH = 100

# Imports every tool may use whatever the allowlist says: they only define the tool.
PLUMBING_MODULES = {"__future__", "typing"}
SMOLAGENTS_NAMES = {"tool", "Tool"}

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

# "{0.__class__.__mro__}".format(x) walks dunders without an attribute node (notes §5.2).
_FORMAT_DUNDER = re.compile(r"\{[^{}]*\.__")

_SIMPLE_HINTS: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
    "tuple": tuple,
}
_TYPING_HINTS: dict[str, Any] = {
    "Any": typing.Any,
    "Optional": typing.Optional,
    "Union": typing.Union,
    "List": typing.List,  # noqa: UP006 - users write the old spellings too
    "Dict": typing.Dict,  # noqa: UP006
    "Tuple": typing.Tuple,  # noqa: UP006
    "Literal": typing.Literal,
}
_GENERICS = {"list", "dict", "tuple", "List", "Dict", "Tuple", "Optional", "Union", "Literal"}
HINT_HELP = "use str, int, float, bool, list, dict, Any, Optional[...], Literal[...] or a union"


@dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}"


@dataclass
class ToolCheck:
    """What the source defines, as smolagents would see it, and what is wrong with it."""

    name: str | None = None
    description: str = ""
    inputs: dict = field(default_factory=dict)
    output_type: str = ""
    kind: str | None = None  # "function" (@tool) or "class" (Tool subclass)
    imports: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    name_line: int = 1

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def messages(self) -> list[str]:
        return [str(problem) for problem in self.problems]

    def add(self, node: ast.AST | int, message: str) -> None:
        line = node if isinstance(node, int) else getattr(node, "lineno", 1)
        if Problem(line, message) not in self.problems:
            self.problems.append(Problem(line, message))


class _UnsupportedHint(Exception):
    def __init__(self, node: ast.AST, reason: str = ""):
        super().__init__(reason)
        self.node = node
        self.reason = reason


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

    imported = _check_module_level(tree, check, set(allowed_modules))
    _check_everywhere(tree, check)
    tools = [node for node in tree.body if _is_tool_def(node)]
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
        _check_function_tool(node, check, imported)
    else:
        _check_class_tool(source, node, check, imported)
    _check_name(check, set(reserved_names), set(allowed_modules))
    check.problems.sort(key=lambda problem: problem.line)
    return check


def _is_tool_def(node: ast.stmt) -> bool:
    if isinstance(node, ast.FunctionDef):
        return any(_decorator_name(d) == "tool" for d in node.decorator_list)
    return isinstance(node, ast.ClassDef)


def _decorator_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.attr if node.value.id == "smolagents" else None
    return None


def _check_module_level(tree: ast.Module, check: ToolCheck, allowed: set[str]) -> dict[str, str]:
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
        elif isinstance(node, ast.FunctionDef) and not _is_tool_def(node):
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


def _check_everywhere(tree: ast.Module, check: ToolCheck) -> None:
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


def _eval_hint(node: ast.expr | None, imported: dict[str, str], in_literal: bool = False) -> Any:
    """Turn an annotation's AST into the typing object it names, from a fixed vocabulary."""
    if node is None:
        return inspect.Parameter.empty
    if isinstance(node, ast.Constant):
        if node.value is None:
            return types.NoneType
        if isinstance(node.value, str):
            try:
                inner = ast.parse(node.value, mode="eval").body
            except SyntaxError as exc:
                raise _UnsupportedHint(node, "the string is not a type") from exc
            return _eval_hint(inner, imported)
        raise _UnsupportedHint(node)
    if isinstance(node, ast.Name):
        if node.id in _SIMPLE_HINTS:
            return _SIMPLE_HINTS[node.id]
        origin = imported.get(node.id, "")
        if origin.startswith("typing.") and origin[7:] in _TYPING_HINTS:
            return _TYPING_HINTS[origin[7:]]
        if node.id in _TYPING_HINTS:
            raise _UnsupportedHint(node, f"add 'from typing import {node.id}'")
        raise _UnsupportedHint(node)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        if imported.get(node.value.id) == "typing" and node.attr in _TYPING_HINTS:
            return _TYPING_HINTS[node.attr]
        raise _UnsupportedHint(node)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return typing.Union[_eval_hint(node.left, imported), _eval_hint(node.right, imported)]  # noqa: UP007
    if isinstance(node, ast.Subscript):
        base_node = node.value
        base_name = (
            base_node.attr if isinstance(base_node, ast.Attribute) else getattr(base_node, "id", "")
        )
        if base_name not in _GENERICS:
            raise _UnsupportedHint(node)
        base = _eval_hint(base_node, imported)
        elements = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base is typing.Literal:
            if not all(isinstance(e, ast.Constant) for e in elements):
                raise _UnsupportedHint(node, "Literal[...] takes constants only")
            args = tuple(e.value for e in elements)
        else:
            args = tuple(_eval_hint(e, imported) for e in elements)
        try:
            return base[args if len(args) > 1 else args[0]]
        except TypeError as exc:
            raise _UnsupportedHint(node, str(exc)) from exc
    raise _UnsupportedHint(node)


def _hint_problem(check: ToolCheck, exc: _UnsupportedHint, where: str) -> None:
    text = ast.unparse(exc.node)
    reason = f" ({exc.reason})" if exc.reason else ""
    check.add(exc.node, f"Type hint '{text}' of {where} is not supported{reason}: {HINT_HELP}.")


def _signature_stub(
    func: ast.FunctionDef,
    check: ToolCheck,
    imported: dict[str, str],
    *,
    with_self: bool,
    require_hints: bool,
    add_self: bool = False,
) -> tuple[Any, bool]:
    """A function object with the submitted signature and docstring but none of its code."""
    args = func.args
    ok = True
    if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
        check.add(func, "Use plain named parameters only (no *args, **kwargs, / or *).")
        return None, False
    positional = args.args[1:] if with_self else args.args
    if with_self and (not args.args or args.args[0].arg != "self"):
        check.add(func, f"'{func.name}' must take self as its first parameter.")
        return None, False
    defaults = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
    defaults = defaults[1:] if with_self else defaults
    parameters = []
    annotations: dict[str, Any] = {}
    for arg, default in zip(positional, defaults, strict=True):
        if arg.annotation is None and require_hints:
            check.add(arg, f"Parameter '{arg.arg}' needs a type hint, e.g. '{arg.arg}: str'.")
            ok = False
            continue
        try:
            hint = _eval_hint(arg.annotation, imported)
        except _UnsupportedHint as exc:
            _hint_problem(check, exc, f"parameter '{arg.arg}'")
            ok = False
            continue
        value = inspect.Parameter.empty
        if default is not None:
            try:
                value = ast.literal_eval(default)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                check.add(
                    default,
                    f"The default of '{arg.arg}' must be a literal (a number, string, None...): "
                    "it would be evaluated when the tool is loaded.",
                )
                ok = False
                continue
        if hint is not inspect.Parameter.empty:
            annotations[arg.arg] = hint
        parameters.append(
            inspect.Parameter(
                arg.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=value, annotation=hint
            )
        )
    try:
        returns = _eval_hint(func.returns, imported)
    except _UnsupportedHint as exc:
        _hint_problem(check, exc, "the return value")
        return None, False
    if returns is not inspect.Parameter.empty:
        annotations["return"] = returns
    if with_self or add_self:
        parameters.insert(0, inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD))

    def stub(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("metadata-only stub")

    stub.__name__ = stub.__qualname__ = func.name
    stub.__doc__ = ast.get_docstring(func)
    stub.__annotations__ = annotations
    stub.__signature__ = inspect.Signature(parameters, return_annotation=returns)
    return stub, ok


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


def _check_function_tool(func: ast.FunctionDef, check: ToolCheck, imported: dict[str, str]) -> None:
    check.kind = "function"
    check.name = func.name
    check.name_line = func.lineno
    extra = [d for d in func.decorator_list if _decorator_name(d) != "tool"]
    if extra or len(func.decorator_list) > 1:
        check.add(
            extra[0] if extra else func.decorator_list[1],
            "Use @tool as the only decorator: others would run when the tool loads.",
        )
    if imported.get("tool") not in {"smolagents.tool", "smolagents.tools.tool"} and not any(
        isinstance(d, ast.Attribute) for d in func.decorator_list
    ):
        check.add(func, "Import the decorator first: 'from smolagents import tool'.")
    stub, ok = _signature_stub(func, check, imported, with_self=False, require_hints=True)
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
    forward, _ok = _signature_stub(
        func, ToolCheck(), imported, with_self=False, require_hints=True, add_self=True
    )
    _validate_with_smolagents(check, func, attrs, forward)
    # The same undefined-name check SimpleTool.to_dict() runs, aware of module-level imports.
    checker = MethodChecker(set())
    checker.visit(func)
    _undefined_names(check, func, checker.errors, set(imported) | _nested_defs(func))


def _check_class_tool(
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
    forward, ok = _signature_stub(
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
    # smolagents' portability check, fed the class source without executing it (notes §4.3).
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


def _check_name(check: ToolCheck, reserved: set[str], allowed: set[str]) -> None:
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
