import pytest

from tests.factories import tool_source

CLASS_TOOL = """import json

from smolagents import Tool


class WordStats(Tool):
    name = "word_stats"
    description = "Count the words of a text."
    inputs = {"text": {"type": "string", "description": "The text to count."}}
    output_type = "string"

    def forward(self, text: str) -> str:
        return json.dumps({"words": len(text.split())})
"""


@pytest.fixture
def shout_code() -> str:
    return tool_source("shout")


@pytest.fixture
def class_code() -> str:
    return CLASS_TOOL
