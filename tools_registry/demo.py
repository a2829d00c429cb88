"""Demo tools for `manage.py seed_demo`, owned by the demo users from accounts.demo."""

from django.db import transaction

from accounts.models import User

from .models import Tool
from .services import allowlist_seed, builtin_tools_sync, tool_register

UNIT_CONVERT = '''from smolagents import tool


@tool
def unit_convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert a length, mass or temperature between common units.

    Args:
        value: The amount to convert.
        from_unit: The unit of value: m, km, mi, ft, in, kg, lb, g, oz, c, f or k.
        to_unit: The unit to convert to, of the same kind as from_unit.
    """
    lengths = {"m": 1.0, "km": 1000.0, "mi": 1609.344, "ft": 0.3048, "in": 0.0254}
    masses = {"kg": 1.0, "g": 0.001, "lb": 0.45359237, "oz": 0.028349523125}
    a, b = from_unit.lower(), to_unit.lower()
    for table in (lengths, masses):
        if a in table and b in table:
            return value * table[a] / table[b]
    kelvin = {"c": lambda v: v + 273.15, "f": lambda v: (v - 32) * 5 / 9 + 273.15, "k": lambda v: v}
    back = {"c": lambda v: v - 273.15, "f": lambda v: (v - 273.15) * 9 / 5 + 32, "k": lambda v: v}
    if a in kelvin and b in back:
        return back[b](kelvin[a](value))
    raise ValueError(f"Cannot convert {from_unit} to {to_unit}.")
'''

TEXT_STATS = r"""import re
import statistics

from smolagents import Tool


class TextStats(Tool):
    name = "text_stats"
    description = "Count the words, sentences and characters of a text, and its mean word length."
    inputs = {"text": {"type": "string", "description": "The text to measure."}}
    output_type = "object"

    def forward(self, text: str) -> dict:
        words = re.findall(r"[\w']+", text)
        sentences = [s for s in re.split(r"[.!?]+", text) if s.strip()]
        return {
            "words": len(words),
            "sentences": len(sentences),
            "characters": len(text),
            "mean_word_length": round(statistics.mean(len(w) for w in words), 2) if words else 0,
        }
"""

DAYS_BETWEEN = '''from datetime import date

from smolagents import tool


@tool
def days_between(start: str, end: str) -> int:
    """Count the days from one ISO date (YYYY-MM-DD) to another; negative if end is earlier.

    Args:
        start: The first date, e.g. 2026-01-31.
        end: The second date, e.g. 2026-03-01.
    """
    return (date.fromisoformat(end) - date.fromisoformat(start)).days
'''

DEMO_TOOLS = [
    ("alice", "unit_convert", UNIT_CONVERT),
    ("bob", "text_stats", TEXT_STATS),
    ("carol", "days_between", DAYS_BETWEEN),
]


@transaction.atomic
def seed(log) -> None:
    builtin_tools_sync()
    allowlist_seed()
    for username, name, code in DEMO_TOOLS:
        owner = User.objects.get(username=username)
        if Tool.objects.filter(name=name).exists():
            log(f"  tool {name:<14} owner {username}  [exists]")
            continue
        tool = tool_register(owner=owner, code=code)
        log(f"  tool {tool.name:<14} owner {username}  version {tool.latest_version}")
