"""What an agent run needs to know about one tool: the contract between the tools registry,
the agents worker (which builds metadata-only proxy tools from it) and the sandbox child
(the only process that ever defines a tool from its source).

Only JSON-safe values, so a spec crosses the worker → sandbox pipe as plain JSON.
"""

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    # smolagents' inputs schema: {arg: {"type": str | [str], "description": str, "nullable"?: bool}}
    inputs: dict = field(default_factory=dict)
    output_type: str = "any"
    builtin: bool = False
    # Built-ins: the class name in smolagents.default_tools (e.g. "VisitWebpageTool").
    builtin_class: str | None = None
    # Custom tools: the registered source of the version to run (one @tool function or one
    # Tool subclass, plus its imports), its version number and sha256.
    source: str | None = None
    version: int | None = None
    sha256: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ToolSpec":
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})
