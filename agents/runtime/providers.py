"""Model providers: the agent's `model` string → a smolagents Model, built in the worker.

`hf:<repo_id>` (or a bare repo id) → InferenceClientModel with HF_TOKEN;
`openai:<model>` → OpenAIServerModel with OPENAI_BASE_URL / OPENAI_API_KEY (any
OpenAI-compatible server); `litellm:<model>` → LiteLLMModel when litellm is installed.

Credentials and base URLs come from the worker's environment only. An agent's config can
name a model, never where to send the platform's key (that would hand it to any host).
Every client gets a timeout and no automatic retries: smolagents' rate-limit retry sleeps
for minutes, and the Hugging Face client waits forever by default.
"""

import importlib.util
import os
import re
from dataclasses import dataclass

PROVIDERS = ("hf", "openai", "litellm")
# Letters, digits and the punctuation model ids use; no "://" so no URL can ride along.
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/:@+]{0,199}$")


class ProviderError(Exception):
    """The model cannot be built or reached; the message tells the user what to do."""


@dataclass(frozen=True)
class ModelRef:
    provider: str
    model_id: str


def parse_model(value: str) -> ModelRef:
    """Parse an agent's model string, or raise ValueError with a message for the user."""
    value = (value or "").strip()
    if not value:
        raise ValueError(
            "Give a model, e.g. 'hf:Qwen/Qwen2.5-Coder-32B-Instruct' or 'openai:gpt-4o-mini'."
        )
    prefix, sep, rest = value.partition(":")
    if sep and "/" not in prefix:
        if prefix not in PROVIDERS:
            raise ValueError(
                f"Unknown model provider '{prefix}:'. Use one of: hf:, openai:, litellm:."
            )
        provider, model_id = prefix, rest.strip()
    else:
        provider, model_id = "hf", value  # a bare Hugging Face repo id
    if "://" in model_id or not _MODEL_ID.match(model_id):
        raise ValueError(
            f"'{model_id}' is not a model id: use letters, digits and . _ - / : @ + only "
            "(base URLs and keys are set by the platform, not per agent)."
        )
    if provider == "litellm" and importlib.util.find_spec("litellm") is None:
        raise ValueError(
            "litellm models are not available here (the litellm extra is not installed)."
        )
    return ModelRef(provider=provider, model_id=model_id)


def build_model(ref: ModelRef, *, timeout: float, environ: dict | None = None):
    """Build the smolagents Model for `ref` with the worker's credentials."""
    env = os.environ if environ is None else environ
    if ref.provider == "hf":
        token = env.get("HF_TOKEN")
        if not token:
            raise ProviderError(
                "Hugging Face models need HF_TOKEN in the worker's environment; ask the "
                "platform operator to set it, or use an openai: model on a configured server."
            )
        from smolagents import InferenceClientModel

        return InferenceClientModel(
            model_id=ref.model_id, token=token, timeout=timeout, retry=False
        )
    if ref.provider == "openai":
        base_url = env.get("OPENAI_BASE_URL") or None
        api_key = env.get("OPENAI_API_KEY") or None
        if not api_key and not base_url:
            raise ProviderError(
                "No OpenAI-compatible server is configured: the worker needs OPENAI_API_KEY "
                "(and OPENAI_BASE_URL for a local server such as Ollama, vLLM or llama.cpp)."
            )
        from smolagents import OpenAIServerModel

        return OpenAIServerModel(
            model_id=ref.model_id,
            api_base=base_url,
            # Local servers ignore the key, but the client refuses to start without one.
            api_key=api_key or "not-needed",
            client_kwargs={"timeout": timeout, "max_retries": 0},
            retry=False,
        )
    if ref.provider == "litellm":
        from smolagents import LiteLLMModel

        return LiteLLMModel(model_id=ref.model_id, timeout=timeout, retry=False)
    raise ProviderError(f"Unknown provider {ref.provider!r}.")
