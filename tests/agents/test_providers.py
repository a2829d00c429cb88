"""Building a turn's model and agent: what is shared between turns of one worker process."""

from agents.runtime.providers import ModelRef, build_model
from agents.runtime.turn import code_agent_prompts

LOCAL = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "k"}


def test_turns_share_one_openai_client_per_server_and_key():
    first = build_model(ModelRef("openai", "a"), timeout=30, environ=LOCAL)
    second = build_model(ModelRef("openai", "b"), timeout=30, environ=LOCAL)
    other_server = build_model(
        ModelRef("openai", "a"),
        timeout=30,
        environ={**LOCAL, "OPENAI_BASE_URL": "http://127.0.0.1:8/v1"},
    )

    assert first.client is second.client  # no new HTTP client (and SSL context) per turn
    assert other_server.client is not first.client
    assert str(other_server.client.base_url).startswith("http://127.0.0.1:8/")
    assert first.client.max_retries == 0 and first.client.timeout == 30


def test_each_agent_gets_its_own_copy_of_the_parsed_prompts():
    first, second = code_agent_prompts(), code_agent_prompts()

    assert first == second and "system_prompt" in first
    first["system_prompt"] = "changed"
    assert code_agent_prompts()["system_prompt"] != "changed"
