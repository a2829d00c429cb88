"""Agent memory as JSON rows, so a conversation continues in another process.

smolagents has no memory restore API (docs/smolagents-notes.md §2.4); these helpers store
what the next prompt needs (`ActionStep.to_messages` reads model_output, tool_calls,
observations and error) and rebuild the steps so the model sees the same history. Executor
variables do not survive between turns; the agent's instructions say so.
"""

from smolagents.memory import ActionStep, PlanningStep, TaskStep, ToolCall
from smolagents.models import ChatMessage
from smolagents.monitoring import AgentLogger, LogLevel, Timing, TokenUsage
from smolagents.utils import AgentError

_QUIET = AgentLogger(level=LogLevel.OFF)
# Long observations are cut when replayed: every step re-sends the whole history.
MAX_REPLAYED_OBSERVATION = 4000


def dump_step(step) -> dict:
    """A JSON-safe snapshot of one ActionStep or PlanningStep (without the O(n²) inputs)."""
    if isinstance(step, PlanningStep):
        data = step.dict()
        return {
            "kind": "planning",
            "plan": step.plan,
            "model_output_message": data["model_output_message"],
            "timing": step.timing.dict(),
            "token_usage": data["token_usage"],
        }
    data = step.dict()
    data.pop("model_input_messages", None)
    data.pop("observations_images", None)
    # action_output may be any object the code produced; keep the text only.
    data["action_output"] = None if step.action_output is None else str(step.action_output)[:4000]
    return {"kind": "action", **data}


def _timing(data: dict) -> Timing:
    return Timing(start_time=data["start_time"], end_time=data.get("end_time"))


def _usage(data: dict | None) -> TokenUsage | None:
    if not data:
        return None
    return TokenUsage(input_tokens=data["input_tokens"], output_tokens=data["output_tokens"])


def load_steps(turns: list[tuple[str, list[dict]]]) -> list:
    """Rebuild memory steps from earlier turns: [(user message, [dumped steps])]."""
    steps = []
    for task, dumped in turns:
        steps.append(TaskStep(task=task))
        for data in dumped:
            if not data:
                continue
            if data["kind"] == "planning":
                steps.append(
                    PlanningStep(
                        model_input_messages=[],
                        model_output_message=ChatMessage.from_dict(data["model_output_message"]),
                        plan=data["plan"],
                        timing=_timing(data["timing"]),
                        token_usage=_usage(data["token_usage"]),
                    )
                )
                continue
            error = data.get("error")
            observations = data.get("observations")
            if observations and len(observations) > MAX_REPLAYED_OBSERVATION:
                observations = observations[:MAX_REPLAYED_OBSERVATION] + "\n[… truncated]"
            output_message = data.get("model_output_message")
            steps.append(
                ActionStep(
                    step_number=data["step_number"],
                    timing=_timing(data["timing"]),
                    tool_calls=[
                        ToolCall(
                            name=call["function"]["name"],
                            arguments=call["function"]["arguments"],
                            id=call["id"],
                        )
                        for call in data.get("tool_calls") or []
                    ]
                    or None,
                    error=AgentError(error["message"], _QUIET) if error else None,
                    model_output_message=ChatMessage.from_dict(output_message)
                    if output_message
                    else None,
                    model_output=data.get("model_output"),
                    code_action=data.get("code_action"),
                    observations=observations,
                    action_output=data.get("action_output"),
                    token_usage=_usage(data.get("token_usage")),
                    is_final_answer=data.get("is_final_answer", False),
                )
            )
    return steps
