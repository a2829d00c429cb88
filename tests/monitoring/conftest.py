# The agents tests' fake OpenAI server and in-process worker, for streams of real turns.
from tests.agents.conftest import fake_llm, worker  # noqa: F401
