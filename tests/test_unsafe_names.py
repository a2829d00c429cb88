"""Names people read (agents, tools, usernames) cannot hold control characters or invisible
direction controls such as U+202E, which hide or reorder what the reader sees."""

import pytest

from accounts.models import User
from agents.validation import AgentConfig, config_errors

pytestmark = pytest.mark.django_db

UNSAFE_NAMES = [
    "invoice\u202egnp.exe",  # right-to-left override: shows as "invoiceexe.png"
    "calc\u2066ulator",  # left-to-right isolate
    "bell\x07",
    "line\u2028break",
    "tab\tinside",
    "\x1b[31mred",
]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_agent_names_with_control_or_direction_characters_are_422(api_client, name):
    response = api_client.post("/api/v1/agents", {"name": name, "model": "openai:echo"})

    assert response.status_code == 422, response.content
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "payload", "name"]
    assert "U+202E" in error["msg"]


def test_the_agent_form_and_the_api_share_the_rule():
    # agents/forms.py shows config_errors on the page; the API raises them as a 422.
    assert "name" in config_errors(AgentConfig(name="a\u202eb", model="openai:echo"))
    assert "name" not in config_errors(AgentConfig(name="Café ☕ ünï", model="openai:echo"))


@pytest.mark.parametrize(
    "code",
    [
        # A @tool function's name is a Python identifier: U+202E cannot be one.
        "from smolagents import tool\n\n\n@tool\ndef shout\u202e(text: str) -> str:\n"
        '    """Shout.\n\n    Args:\n        text: The text.\n    """\n    return text\n',
        # A Tool subclass names itself with a string.
        "from smolagents import Tool\n\n\nclass Shout(Tool):\n"
        '    name = "shout\u202e"\n    description = "Shout."\n'
        '    inputs = {"text": {"type": "string", "description": "The text."}}\n'
        '    output_type = "string"\n\n'
        "    def forward(self, text: str) -> str:\n        return text\n",
    ],
)
def test_tool_names_with_direction_characters_are_refused(api_client, code):
    response = api_client.post("/api/v1/tools/register", {"code": code})

    assert response.status_code == 422, response.content


def test_signup_refuses_a_username_with_direction_characters(client):
    response = client.post(
        "/account/signup/",
        {
            "username": "admin\u202enimda",
            "password1": "a-long pass 123",
            "password2": "a-long pass 123",
        },
    )

    assert response.status_code == 422
    assert not User.objects.exists()
