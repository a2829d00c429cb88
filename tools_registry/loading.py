"""Define a registered tool from its source. SANDBOX SIDE ONLY: this executes the code.

Never import this into the web or worker process. No Django here, so a bare sandbox child
can use it. smolagents' @tool calls inspect.getsource(), which needs a real file registered
in sys.modules (docs/smolagents-notes.md §4.1), so the source is written to a file and
imported from there.
"""

import importlib.util
import sys
from pathlib import Path

from smolagents.tools import Tool


def load_tool_from_source(source: str, *, module_name: str, directory: str | Path) -> Tool:
    path = Path(directory) / f"{module_name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, Tool)
        or (isinstance(value, type) and issubclass(value, Tool) and value is not Tool)
    ]
    if len(found) != 1:
        raise ValueError(f"expected exactly one tool in {module_name}, found {len(found)}")
    tool = found[0]
    # A Tool subclass is instantiated here, which runs smolagents' validate_arguments.
    return tool() if isinstance(tool, type) else tool
