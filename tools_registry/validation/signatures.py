"""From a parsed signature to what smolagents reads: type hints from a fixed vocabulary, and
a stub function carrying the submitted signature and docstring but none of its code.
"""

from __future__ import annotations

import ast
import inspect
import types
import typing
from typing import Any

from .result import ToolCheck

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


class _UnsupportedHint(Exception):
    def __init__(self, node: ast.AST, reason: str = ""):
        super().__init__(reason)
        self.node = node
        self.reason = reason


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


def signature_stub(
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
