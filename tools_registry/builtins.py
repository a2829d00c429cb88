"""The built-in catalog: smolagents' default tools, with what this platform knows about them.

Names, descriptions, inputs and output types are read from the classes in
smolagents.default_tools (class attributes only: nothing is instantiated). What smolagents
cannot tell us, whether a tool needs the network, an extra package, or cannot run on a
server at all, is written down here.
"""

import importlib.util
from dataclasses import dataclass

from smolagents import default_tools


@dataclass(frozen=True)
class BuiltinTool:
    class_name: str
    needs_network: bool = False
    # Import names of the extra packages the tool needs, with the pip name to install.
    requires: tuple[tuple[str, str], ...] = ()
    # Why an agent may never pick it here, whatever is installed ("" = it may).
    blocked: str = ""
    note: str = ""

    @property
    def cls(self) -> type:
        return getattr(default_tools, self.class_name)

    @property
    def name(self) -> str:
        return self.cls.name

    def missing_packages(self) -> list[str]:
        return [pip for module, pip in self.requires if not _installed(module)]

    def runnable_note(self) -> str:
        """Empty when an agent may select the tool on this platform, else the reason."""
        if self.blocked:
            return self.blocked
        missing = self.missing_packages()
        if missing:
            return (
                f"it needs {', '.join(missing)}, not installed on this platform "
                f"(pip install {' '.join(missing)})"
            )
        return ""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


# One class per tool name: smolagents ships four classes named web_search. WebSearchTool needs
# only `requests`; DuckDuckGoSearchTool needs `ddgs`; ApiWebSearchTool and GoogleSearchTool
# keep an API key on the instance, where generated code can read it (docs/smolagents-notes.md §5.2).
CATALOG: tuple[BuiltinTool, ...] = (
    BuiltinTool(
        "FinalAnswerTool",
        blocked="it is always included in every agent, so it need not be picked",
    ),
    BuiltinTool(
        "PythonInterpreterTool",
        blocked="it is for ToolCallingAgent only; a CodeAgent already runs Python itself",
    ),
    BuiltinTool(
        "UserInputTool",
        blocked="it waits for input() on the server's console and would block a worker",
    ),
    BuiltinTool(
        "WebSearchTool",
        needs_network=True,
        requires=(("requests", "requests"),),
        note="Searches DuckDuckGo (lite HTML) and returns the top results as markdown.",
    ),
    BuiltinTool(
        "VisitWebpageTool",
        needs_network=True,
        requires=(("requests", "requests"), ("markdownify", "markdownify")),
        note="Fetches any URL it is given: the sandbox's network policy must block internal "
        "addresses.",
    ),
    BuiltinTool(
        "WikipediaSearchTool",
        needs_network=True,
        requires=(("wikipediaapi", "wikipedia-api"),),
    ),
    BuiltinTool(
        "SpeechToTextTool",
        needs_network=True,  # downloads the Whisper model on first use
        requires=(("transformers", "transformers"), ("torch", "torch")),
        note="Downloads and runs a Whisper model: heavy.",
    ),
)

BY_NAME: dict[str, BuiltinTool] = {entry.name: entry for entry in CATALOG}
BUILTIN_NAMES: frozenset[str] = frozenset(BY_NAME)


def sync(tool_model) -> list[str]:
    """Create or update the built-in rows. Takes the model so a data migration can pass its
    historical model. Returns the names written."""
    written = []
    for entry in CATALOG:
        cls = entry.cls
        note = entry.runnable_note()
        existing = tool_model.objects.filter(name=entry.name).first()
        if existing is not None and not existing.builtin:
            continue  # never take over a registered tool's row
        tool_model.objects.update_or_create(
            name=entry.name,
            defaults={
                "builtin": True,
                "owner": None,
                "description": cls.description.strip(),
                "inputs": cls.inputs,
                "output_type": cls.output_type,
                "builtin_class": entry.class_name,
                "needs_network": entry.needs_network,
                "requires": [pip for _module, pip in entry.requires],
                "runnable": not note,
                "runnable_note": note,
                "status": "valid",
                "status_reason": "",
                "latest_version": 0,
            },
        )
        written.append(entry.name)
    # A smolagents upgrade may drop a tool: keep the row (agents name it) but refuse it.
    tool_model.objects.filter(builtin=True).exclude(name__in=written).update(
        status="invalid", status_reason="smolagents no longer ships this tool", runnable=False
    )
    return written
