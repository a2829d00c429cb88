"""Tools registry services: the only place that writes tools, versions and the allowlist.

Also the interface the agents app calls: tool_problems(), tool_specs_for_run(),
allowed_modules() and import_problems().
"""

import builtins as python_builtins
import hashlib
import re
from collections import Counter

from django.db import IntegrityError, transaction
from django.db.models import F
from smolagents.local_python_executor import BASE_PYTHON_TOOLS, check_import_authorized
from smolagents.utils import BASE_BUILTIN_MODULES

from accounts.models import User
from core.errors import Conflict, Invalid

from . import builtins as catalog
from .models import AllowedImport, Tool, ToolVersion
from .specs import ToolSpec
from .validation import ToolCheck, check_tool_source

# The platform's starting allowlist: smolagents' BASE_BUILTIN_MODULES plus a few harmless
# stdlib modules. Never os, subprocess, sys, socket, shutil, importlib, ctypes, builtins,
# pathlib or io: each reaches the host. Copied into migration 0002, which must not change.
DEFAULT_ALLOWED_IMPORTS: tuple[str, ...] = tuple(
    sorted(
        {
            *BASE_BUILTIN_MODULES,
            "json",
            "decimal",
            "fractions",
            "string",
            "textwrap",
            "difflib",
            "calendar",
            "zoneinfo",
            "functools",
            "operator",
            "bisect",
            "heapq",
            "copy",
            "dataclasses",
            "enum",
            "uuid",
            "hashlib",
            "base64",
            "html",
            "csv",
        }
    )
)

# Names a tool may not take, because inside the agent's interpreter something else already
# answers to them and the collision is silent (docs/smolagents-notes.md §4.2): the answer
# mechanism, the interpreter's functions, Python's builtins, importable modules and the
# built-in tools.
RESERVED_TOOL_NAMES: frozenset[str] = frozenset(
    {"final_answer", "python_interpreter"}
    | set(BASE_PYTHON_TOOLS)
    | set(dir(python_builtins))
    | set(BASE_BUILTIN_MODULES)
    | {module.split(".")[0] for module in DEFAULT_ALLOWED_IMPORTS}
    | catalog.BUILTIN_NAMES
    # /tools/register/ is the registration page, so no tool page could live there.
    | {"register"}
)

MAX_DESCRIPTION = 5000
MAX_ALLOWLIST = 500
_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(\.\*)?$")
INVALID_IMPORTS_PREFIX = "Its latest version imports modules that are no longer allowed: "


# --- the allowlist ---------------------------------------------------------------------------


def allowed_modules() -> list[str]:
    return sorted(AllowedImport.objects.values_list("module", flat=True))


def import_problems(*, modules: list[str]) -> list[str]:
    """One message per module not on the allowlist (smolagents' own matching rule)."""
    allowed = allowed_modules()
    return [
        f"Module “{module}” is not on the platform's import allowlist."
        for module in dict.fromkeys(modules)
        if not isinstance(module, str) or not check_import_authorized(module, allowed)
    ]


def _module_problems(modules: list[str]) -> list[str]:
    problems = [
        f"“{module}” is not a module name: use dotted identifiers such as 'math' or "
        "'collections.abc' ('pkg.*' allows its submodules)."
        for module in modules
        if not isinstance(module, str) or not _MODULE_RE.match(module) or len(module) > 100
    ]
    if len(modules) > MAX_ALLOWLIST:
        problems.append(f"The allowlist holds at most {MAX_ALLOWLIST} modules.")
    return problems


@transaction.atomic
def allowlist_replace(*, modules: list[str]) -> list[str]:
    """Replace the allowlist, then re-check every tool. Returns the tools newly invalidated."""
    problems = _module_problems(modules)
    if problems:
        raise Invalid(problems)
    wanted = set(modules)
    AllowedImport.objects.exclude(module__in=wanted).delete()
    existing = set(AllowedImport.objects.values_list("module", flat=True))
    AllowedImport.objects.bulk_create(
        [AllowedImport(module=module) for module in sorted(wanted - existing)]
    )
    return tools_revalidate()


@transaction.atomic
def allowlist_seed() -> list[str]:
    """Fill an empty allowlist with the defaults (migrations, tests, demo). Returns it."""
    if not AllowedImport.objects.exists():
        AllowedImport.objects.bulk_create(
            [AllowedImport(module=module) for module in DEFAULT_ALLOWED_IMPORTS]
        )
        tools_revalidate()
    return allowed_modules()


@transaction.atomic
def tools_revalidate() -> list[str]:
    """Mark custom tools whose latest version imports a module off the allowlist invalid, with
    the reason, and restore those whose imports are allowed again. Returns newly invalid names.

    Call after any allowlist change, so a change never silently breaks a saved tool."""
    allowed = allowed_modules()
    latest = ToolVersion.objects.filter(
        tool__builtin=False, version=F("tool__latest_version")
    ).select_related("tool")
    changed, invalidated = [], []
    for version in latest:
        tool = version.tool
        refused = [m for m in version.imports if not check_import_authorized(m, allowed)]
        if refused:
            reason = INVALID_IMPORTS_PREFIX + ", ".join(refused) + "."
            if tool.status != Tool.Status.INVALID or tool.status_reason != reason:
                if tool.status == Tool.Status.VALID:
                    invalidated.append(tool.name)
                tool.status, tool.status_reason = Tool.Status.INVALID, reason
                changed.append(tool)
        elif tool.status == Tool.Status.INVALID and tool.status_reason.startswith(
            INVALID_IMPORTS_PREFIX
        ):
            # Only undo what an allowlist change did; staff may have invalidated it by hand.
            tool.status, tool.status_reason = Tool.Status.VALID, ""
            changed.append(tool)
    Tool.objects.bulk_update(changed, ["status", "status_reason"])
    return sorted(invalidated)


# --- built-ins ---------------------------------------------------------------------------


@transaction.atomic
def builtin_tools_sync() -> list[str]:
    """Create or refresh the built-in rows from smolagents (idempotent)."""
    return catalog.sync(Tool)


def registry_defaults_ensure() -> None:
    """Built-ins and a default allowlist: what migrations create, for flushed test databases."""
    builtin_tools_sync()
    allowlist_seed()


# --- registration ------------------------------------------------------------------------


def _name_conflict(name: str, owner: User | None) -> str | None:
    if name in catalog.BUILTIN_NAMES:
        return f"“{name}” is the name of a built-in smolagents tool. Give your tool another name."
    tool = Tool.objects.filter(name=name).first()
    if tool is None or (owner is not None and tool.is_owned_by(owner)):
        return None
    if tool.builtin:
        return f"“{name}” is the name of a built-in tool. Give your tool another name."
    return f"The name “{name}” belongs to another user's tool. Give your tool another name."


def tool_check(*, code: str, owner: User | None = None) -> ToolCheck:
    """Validate source without executing it; conflicts with others' names are problems too."""
    check = check_tool_source(
        code,
        allowed_modules=allowed_modules(),
        reserved_names=RESERVED_TOOL_NAMES - catalog.BUILTIN_NAMES,
    )
    if check.name and isinstance(check.name, str):
        conflict = _name_conflict(check.name, owner)
        if conflict:
            check.add(check.name_line, conflict)
            check.problems.sort(key=lambda problem: problem.line)
    return check


@transaction.atomic
def tool_register(*, owner: User, code: str, description: str | None = None) -> Tool:
    """Register a tool, or the next immutable version of the owner's tool of that name.

    Raises Conflict for a built-in's or another owner's name, Invalid for anything else."""
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise Invalid([f"Keep the description to {MAX_DESCRIPTION} characters."])
    check = tool_check(code=code, owner=owner)
    if isinstance(check.name, str) and check.name:
        conflict = _name_conflict(check.name, owner)
        if conflict:
            raise Conflict(conflict)
    if not check.ok or not check.name:
        raise Invalid(check.messages)
    description = description or check.description
    # The row lock orders concurrent registrations of one name, so numbers never collide.
    tool = Tool.objects.select_for_update().filter(name=check.name).first()
    if tool is None:
        try:
            with transaction.atomic():
                tool = Tool.objects.create(
                    name=check.name,
                    owner=owner,
                    description=description,
                    inputs=check.inputs,
                    output_type=check.output_type,
                )
        except IntegrityError as exc:
            raise Conflict(f"The name “{check.name}” was just taken. Try again.") from exc
    elif not tool.is_owned_by(owner):
        raise Conflict(f"The name “{check.name}” belongs to another user's tool.")
    tool.latest_version += 1
    ToolVersion.objects.create(
        tool=tool,
        version=tool.latest_version,
        code=code,
        sha256=hashlib.sha256(code.encode()).hexdigest(),
        description=description,
        inputs=check.inputs,
        output_type=check.output_type,
        imports=check.imports,
        kind=check.kind or "",
        created_by=owner,
    )
    tool.description, tool.inputs, tool.output_type = description, check.inputs, check.output_type
    tool.status, tool.status_reason = Tool.Status.VALID, ""
    tool.save()
    return tool


# --- selection for agent runs ------------------------------------------------------------


def tool_problems(*, names: list[str]) -> list[str]:
    """One message per reason these tools cannot be given to an agent here. Empty = fine."""
    if not all(isinstance(name, str) for name in names):
        return ["Tool names must be strings."]
    problems = [
        f"Tool “{name}” is listed {count} times. List each tool once."
        for name, count in Counter(names).items()
        if count > 1
    ]
    tools = {tool.name: tool for tool in Tool.objects.filter(name__in=set(names))}
    for name in dict.fromkeys(names):
        tool = tools.get(name)
        if tool is None:
            problems.append(f"Unknown tool “{name}”: it is not in the tool registry.")
        elif tool.builtin:
            entry = catalog.BY_NAME.get(name)
            note = entry.runnable_note() if entry else "smolagents no longer ships it"
            if note:
                problems.append(f"Built-in tool “{name}” cannot be used here: {note}.")
        elif not tool.is_valid:
            problems.append(f"Tool “{name}” is invalid: {tool.status_reason}")
    return problems


def tool_specs_for_run(*, names: list[str]) -> list[ToolSpec]:
    """The exact sources and metadata an agent run needs, latest version of each tool."""
    problems = tool_problems(names=names)
    if problems:
        raise Invalid(problems)
    tools = {tool.name: tool for tool in Tool.objects.filter(name__in=names)}
    versions = {
        version.tool_id: version
        for version in ToolVersion.objects.filter(
            tool__name__in=names, version=F("tool__latest_version")
        )
    }
    specs = []
    for name in names:
        tool = tools[name]
        if tool.builtin:
            specs.append(
                ToolSpec(
                    name=tool.name,
                    description=tool.description,
                    inputs=tool.inputs,
                    output_type=tool.output_type,
                    builtin=True,
                    builtin_class=tool.builtin_class,
                )
            )
            continue
        version = versions[tool.pk]
        specs.append(
            ToolSpec(
                name=tool.name,
                description=version.description,
                inputs=version.inputs,
                output_type=version.output_type,
                source=version.code,
                version=version.version,
                sha256=version.sha256,
            )
        )
    return specs
