"""What a check finds: the tool as smolagents would see it, and its problems by line."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


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
