"""The agent editor's form and the model rules behind it: which prefixes are accepted, what
this server can serve, and the instructions field (stored as metadata["instructions"])."""

import pytest

from agents.forms import AgentForm
from agents.runtime.providers import configured_providers, parse_model, provider_problem
from agents.validation import AgentConfig, config_errors, config_warnings

OPENAI_ONLY = {"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"}


# --- model strings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "provider", "model_id"),
    [
        ("openai:gpt-4", "openai", "gpt-4"),
        ("hf:gpt2", "hf", "gpt2"),
        ("Qwen/Qwen2.5-Coder-32B-Instruct", "hf", "Qwen/Qwen2.5-Coder-32B-Instruct"),
        ("openai:llama3.1:8b", "openai", "llama3.1:8b"),
    ],
)
def test_accepted_model_strings(value, provider, model_id):
    ref = parse_model(value)

    assert (ref.provider, ref.model_id) == (provider, model_id)


def test_a_bare_name_is_refused_naming_the_prefixes():
    with pytest.raises(ValueError) as refused:
        parse_model("gpt-4")

    message = str(refused.value)
    assert "hf:, openai:, litellm:" in message and "'openai:gpt-4'" in message
    assert "<org>/<repo>" in message


def test_an_unknown_prefix_suggests_one():
    with pytest.raises(ValueError, match=r"Unknown model provider 'llama3\.1:'.*openai:llama3"):
        parse_model("llama3.1:8b")


# --- what this server can serve --------------------------------------------------------------


def test_configured_providers_follow_the_workers_variables():
    statuses = {s.prefix: s for s in configured_providers(OPENAI_ONLY, litellm=False)}

    assert list(statuses) == ["openai", "hf", "litellm"]
    assert statuses["openai"].available
    assert not statuses["hf"].available and "HF_TOKEN" in statuses["hf"].detail
    assert not statuses["litellm"].available and "not installed" in statuses["litellm"].detail


def test_configured_providers_with_everything_set():
    env = {"OPENAI_API_KEY": "k", "HF_TOKEN": "t"}

    assert all(s.available for s in configured_providers(env, litellm=True))


def test_configured_providers_never_show_a_value():
    env = {"OPENAI_API_KEY": "sk-secret", "OPENAI_BASE_URL": "http://10.0.0.5:8000/v1"}

    text = repr(configured_providers(env, litellm=False))

    assert "sk-secret" not in text and "10.0.0.5" not in text


@pytest.mark.parametrize(
    ("provider", "env", "missing"),
    [
        ("openai", {}, "OPENAI_API_KEY"),
        ("openai", {"OPENAI_API_KEY": "k"}, None),
        ("openai", {"OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}, None),
        ("hf", {}, "HF_TOKEN"),
        ("hf", {"HF_TOKEN": "t"}, None),
    ],
)
def test_provider_problem_is_the_rule_turns_apply(provider, env, missing):
    problem = provider_problem(provider, env)

    assert (problem is None) == (missing is None)
    if missing:
        assert missing in problem


def test_a_model_without_credentials_is_a_warning_not_an_error(db):
    config = AgentConfig(name="X", model="hf:Qwen/Qwen2.5-Coder-32B-Instruct")

    assert "model" not in config_errors(config)
    warnings = config_warnings(config, environ=OPENAI_ONLY)
    assert "HF_TOKEN" in warnings["model"][0] and "will fail" in warnings["model"][0]
    assert config_warnings(config, environ={"HF_TOKEN": "t"}) == {}
    assert config_warnings(AgentConfig(name="X", model="gpt-4"), environ={}) == {}  # an error


# --- the form --------------------------------------------------------------------------------


def form(data=None, **kwargs) -> AgentForm:
    return AgentForm(data, tool_names=[], modules=["math"], **kwargs)


def test_instructions_are_stored_as_metadata_instructions(db):
    bound = form(
        {
            "name": "Poet",
            "model": "openai:echo",
            "instructions": "Answer in verse.",
            "metadata": '{"team": "words"}',
        }
    )

    assert bound.is_valid(), bound.errors
    assert bound.config().metadata == {"team": "words", "instructions": "Answer in verse."}


def test_empty_instructions_leave_no_key(db):
    bound = form({"name": "Poet", "model": "openai:echo", "instructions": "  ", "metadata": ""})

    assert bound.is_valid(), bound.errors
    assert bound.config().metadata == {}


def test_instructions_in_the_metadata_json_point_to_the_field(db):
    bound = form({"name": "P", "model": "openai:echo", "metadata": '{"instructions": "x"}'})

    assert not bound.is_valid()
    assert "Instructions field" in bound.errors["metadata"][0]


def test_editing_moves_instructions_out_of_the_json():
    class Agent:
        name, description, tools, model, allowed_imports = "P", "", [], "openai:echo", []
        visibility = "private"
        metadata = {"instructions": "Be brief.", "team": "x"}

    initial = AgentForm.initial_for(Agent())

    assert initial["instructions"] == "Be brief."
    assert '"instructions"' not in initial["metadata"] and '"team"' in initial["metadata"]


def test_a_bare_model_name_is_a_form_error(db):
    bound = form({"name": "P", "model": "gpt-4", "metadata": "{}"})

    assert not bound.is_valid()
    assert "names no provider" in bound.errors["model"][0]
