"""An agent's configuration is validated here and only here: by the editor form, the API
and `agent_start` (which re-checks, because tools and the allowlist change over time)."""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import Invalid
from core.text import UNSAFE_NAME_MESSAGE, has_unsafe_name_chars

from .runtime.providers import parse_model, provider_problem

MAX_METADATA_BYTES = 16 * 1024
MAX_NAME = 100
MAX_DESCRIPTION = 2000


@dataclass
class AgentConfig:
    name: str
    description: str = ""
    tools: list[str] = field(default_factory=list)
    model: str = ""
    allowed_imports: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    FIELDS = ("name", "description", "tools", "model", "allowed_imports", "metadata")

    @classmethod
    def from_agent(cls, agent) -> "AgentConfig":
        return cls(**{name: getattr(agent, name) for name in cls.FIELDS})


def config_errors(config: AgentConfig) -> dict[str, list[str]]:
    """Field name → messages. Empty when the configuration can run."""
    from tools_registry.services import import_problems, tool_problems

    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    name = (config.name or "").strip()
    if not name:
        add("name", "Give the agent a name.")
    elif len(name) > MAX_NAME:
        add("name", f"Keep the name to {MAX_NAME} characters (it has {len(name)}).")
    elif has_unsafe_name_chars(name):
        add("name", UNSAFE_NAME_MESSAGE)
    if len(config.description or "") > MAX_DESCRIPTION:
        add("description", f"Keep the description to {MAX_DESCRIPTION} characters.")
    try:
        parse_model(config.model)
    except ValueError as exc:
        add("model", str(exc))
    if not isinstance(config.tools, list) or not all(isinstance(t, str) for t in config.tools):
        add("tools", "Tools must be a list of tool names.")
    else:
        for message in tool_problems(names=config.tools):
            add("tools", message)
    if not isinstance(config.allowed_imports, list) or not all(
        isinstance(m, str) for m in config.allowed_imports
    ):
        add("allowed_imports", "Allowed imports must be a list of module names.")
    else:
        for message in import_problems(modules=config.allowed_imports):
            add("allowed_imports", message)
    if not isinstance(config.metadata, dict):
        add("metadata", 'Metadata must be a JSON object, e.g. {"team": "research"}.')
    else:
        size = len(json.dumps(config.metadata, separators=(",", ":")).encode())
        if size > MAX_METADATA_BYTES:
            add("metadata", f"Metadata is {size} bytes; the limit is {MAX_METADATA_BYTES} (16 KB).")
        instructions = config.metadata.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            add("metadata", "metadata.instructions, when given, must be a string.")
    return errors


def config_warnings(
    config: AgentConfig, environ: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """Field name → warnings: what is valid but cannot run on this server now (the model's
    provider has no credentials here). The config may still be saved: the operator can set
    the variable later, and the agent's turns fail with the same message until then."""
    try:
        ref = parse_model(config.model)
    except ValueError:
        return {}  # an error, reported by config_errors
    problem = provider_problem(ref.provider, os.environ if environ is None else environ)
    if problem is None:
        return {}
    return {"model": [f"Chat turns with this model will fail on this server now. {problem}"]}


def validate_config(config: AgentConfig) -> AgentConfig:
    """Return the cleaned config or raise Invalid with API-style field errors."""
    errors = config_errors(config)
    if errors:
        raise Invalid(
            [
                {"loc": ["body", "payload", name], "msg": message, "type": "value_error"}
                for name, messages in errors.items()
                for message in messages
            ]
        )
    config.name = config.name.strip()
    config.tools = list(dict.fromkeys(config.tools))
    config.allowed_imports = sorted(set(config.allowed_imports))
    return config


def config_summary(errors: dict[str, list[str]]) -> str:
    """One line for an agent's state_reason."""
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items())
