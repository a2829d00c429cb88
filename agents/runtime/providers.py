"""Model providers: the agent's `model` string → a smolagents Model, built in the worker.

`hf:<repo_id>` (or a bare repo id) → InferenceClientModel with HF_TOKEN;
`openai:<model>` → OpenAIServerModel with OPENAI_BASE_URL / OPENAI_API_KEY (any
OpenAI-compatible server); `litellm:<model>` → LiteLLMModel when litellm is installed.

Credentials and base URLs come from the worker's environment only. An agent's config can
name a model, never where to send the platform's key (that would hand it to any host).
Every client gets a timeout and no automatic retries: smolagents' rate-limit retry sleeps
for minutes, and the Hugging Face client waits forever by default.
"""

import functools
import importlib.util
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
                f"Unknown model provider '{prefix}:'. Use one of: hf:, openai:, litellm: "
                f"(e.g. 'openai:{value}')."
            )
        provider, model_id = prefix, rest.strip()
    elif "/" in value:
        provider, model_id = "hf", value  # a bare Hugging Face repo id, <org>/<repo>
    else:
        # "gpt-4" alone would be sent to Hugging Face as a repo id and fail every turn.
        raise ValueError(
            f"'{value}' names no provider. Start it with one of: hf:, openai:, litellm: "
            f"(e.g. 'openai:{value}'); without a prefix only a Hugging Face repo id "
            "<org>/<repo> is accepted."
        )
    if "://" in model_id or not _MODEL_ID.match(model_id):
        raise ValueError(
            f"'{model_id}' is not a model id: use letters, digits and . _ - / : @ + only "
            "(base URLs and keys are set by the platform, not per agent)."
        )
    if provider == "litellm" and not litellm_installed():
        raise ValueError(
            "litellm models are not available here (the litellm extra is not installed)."
        )
    return ModelRef(provider=provider, model_id=model_id)


def build_model(ref: ModelRef, *, timeout: float, environ: dict | None = None):
    """Build the smolagents Model for `ref` with the worker's credentials."""
    env = os.environ if environ is None else environ
    if ref.provider in ("hf", "openai"):
        problem = provider_problem(ref.provider, env)
        if problem:
            raise ProviderError(problem)
    if ref.provider == "hf":
        from smolagents import InferenceClientModel

        return InferenceClientModel(
            model_id=ref.model_id, token=env["HF_TOKEN"], timeout=timeout, retry=False
        )
    if ref.provider == "openai":
        base_url = env.get("OPENAI_BASE_URL") or None
        api_key = env.get("OPENAI_API_KEY") or None
        from smolagents import OpenAIServerModel

        # Local servers ignore the key, but the client refuses to start without one.
        api_key = api_key or "not-needed"
        return OpenAIServerModel(
            model_id=ref.model_id,
            api_base=base_url,
            api_key=api_key,
            client=openai_client(base_url=base_url, api_key=api_key, timeout=timeout),
            retry=False,
        )
    if ref.provider == "litellm":
        from smolagents import LiteLLMModel

        return LiteLLMModel(model_id=ref.model_id, timeout=timeout, retry=False)
    raise ProviderError(f"Unknown provider {ref.provider!r}.")


@functools.lru_cache(maxsize=16)
def openai_client(*, base_url: str | None, api_key: str, timeout: float) -> Any:
    """One OpenAI client per server, key and timeout in this worker process, shared by every
    turn (the client is thread-safe). Building one per turn built an httpx client and its
    SSL context every time: 37–50 ms of a turn's overhead (bench/run_overhead.py). Its
    connection pool also keeps the connection to the server warm between turns."""
    import openai

    return openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)


# --- what this server can serve (the agent editor's provider list and warnings) ------------


@dataclass(frozen=True)
class ProviderStatus:
    prefix: str  # "openai"
    label: str
    example: str  # a model string to start from
    available: bool
    detail: str  # what it uses, or what is missing


def litellm_installed() -> bool:
    return importlib.util.find_spec("litellm") is not None


def provider_problem(
    provider: str, environ: Mapping[str, str], *, litellm: bool | None = None
) -> str | None:
    """Why the worker cannot build a model of `provider` with this environment, or None.
    The same rules build_model applies, so the editor warns exactly when turns would fail."""
    if provider == "hf" and not environ.get("HF_TOKEN"):
        return (
            "Hugging Face models need HF_TOKEN in the worker's environment; ask the "
            "platform operator to set it, or use an openai: model on a configured server."
        )
    if provider == "openai" and not (
        environ.get("OPENAI_API_KEY") or environ.get("OPENAI_BASE_URL")
    ):
        return (
            "No OpenAI-compatible server is configured: the worker needs OPENAI_API_KEY "
            "(and OPENAI_BASE_URL for a local server such as Ollama, vLLM or llama.cpp)."
        )
    if provider == "litellm" and not (litellm_installed() if litellm is None else litellm):
        return "litellm models are not available here (the litellm extra is not installed)."
    return None


def configured_providers(
    environ: Mapping[str, str] | None = None, *, litellm: bool | None = None
) -> list[ProviderStatus]:
    """Every provider prefix and whether this server can serve it (docs/DESIGN.md, Models).

    Reads only whether variables are set, never their values: the page shows no key or
    address. The web process reads its own environment, which `make run` and the Procfile
    share with the worker; an operator who configures only the worker sees "not set" here.
    """
    env = os.environ if environ is None else environ
    has_litellm = litellm_installed() if litellm is None else litellm
    rows = [
        (
            "openai",
            "OpenAI-compatible server (OpenAI, Ollama, vLLM, llama.cpp)",
            "openai:gpt-4o-mini",
            "Uses the platform's server.",
        ),
        (
            "hf",
            "Hugging Face Inference",
            "hf:Qwen/Qwen2.5-Coder-32B-Instruct",
            "Uses the platform's HF_TOKEN.",
        ),
        (
            "litellm",
            "LiteLLM (many hosted providers)",
            "litellm:anthropic/claude-3-5-sonnet-latest",
            "Installed; uses the provider's own variables on the worker.",
        ),
    ]
    statuses = []
    for prefix, label, example, ok_detail in rows:
        problem = provider_problem(prefix, env, litellm=has_litellm)
        statuses.append(
            ProviderStatus(
                prefix=prefix,
                label=label,
                example=example,
                available=problem is None,
                detail=ok_detail if problem is None else problem,
            )
        )
    return statuses
