"""Metadata-only tools for the worker: what CodeAgent needs to list a tool in its prompt
(name, description, inputs, output_type), built from the registry's stored ToolSpec. No user
code is ever executed in the worker: calling a proxy in-process raises. The sandbox child
defines the real tool from ``spec.source`` / ``spec.builtin_class``.
"""

from __future__ import annotations

import copy

from smolagents.tools import Tool

from tools_registry.specs import ToolSpec

RESERVED_TOOL_NAMES = frozenset({"final_answer", "python_interpreter"})


class SandboxProxyTool(Tool):
    """Stands in for a tool that only exists inside the sandbox child."""

    skip_forward_signature_validation = True

    def __init__(self, spec: ToolSpec):
        self.spec = spec
        self.name = spec.name
        self.description = spec.description
        self.inputs = copy.deepcopy(spec.inputs)
        self.output_type = spec.output_type
        self.output_schema = None
        super().__init__()  # then Tool's validate_arguments() checks name, inputs and types

    def forward(self, *args, **kwargs):
        raise RuntimeError(
            f"Tool {self.name!r} runs only inside the sandbox child; "
            "it cannot be called in the worker process."
        )


def proxy_tools(specs: list[ToolSpec | dict]) -> list[Tool]:
    """One proxy per spec; refuses duplicate and reserved names."""
    tools: list[Tool] = []
    seen: set[str] = set()
    for item in specs:
        spec = item if isinstance(item, ToolSpec) else ToolSpec.from_json(item)
        if spec.name in RESERVED_TOOL_NAMES:
            raise ValueError(f"tool name {spec.name!r} is reserved")
        if spec.name in seen:
            raise ValueError(f"duplicate tool name {spec.name!r}")
        if spec.builtin and not spec.builtin_class:
            raise ValueError(f"built-in tool {spec.name!r} has no builtin_class")
        if not spec.builtin and not spec.source:
            raise ValueError(f"custom tool {spec.name!r} has no source")
        seen.add(spec.name)
        tools.append(SandboxProxyTool(spec))
    return tools
