from django import template

from tools_registry.rendering import highlight_python

register = template.Library()


@register.filter
def python(code: str):
    """Python source highlighted by pygments (which escapes every token)."""
    return highlight_python(code or "")


@register.filter
def counted_steps(steps) -> int:
    """The run's steps as AGENT_MAX_STEPS counts them ("Stopped after 10 steps"): action
    steps and the final answer, not planning steps."""
    return sum(1 for step in steps if step.kind != "planning")


@register.filter
def planning_steps(steps) -> int:
    return sum(1 for step in steps if step.kind == "planning")


@register.filter
def step_groups(steps) -> list[dict]:
    """The steps in order, a run of consecutive steps that failed with the same error
    folded into one group: {"step": the first, "repeats": the others}. A model stuck on
    an error repeats it up to the step limit; the card shows it once and says how often."""
    groups: list[dict] = []
    for step in steps:
        last = groups[-1] if groups else None
        if last is not None and step.error and step.error == last["step"].error:
            last["repeats"].append(step)
        else:
            groups.append({"step": step, "repeats": []})
    return groups


@register.filter
def without_instructions(metadata) -> dict:
    """An agent's metadata minus the instructions, which the agent page shows on their own."""
    if not isinstance(metadata, dict):
        return {}
    return {key: value for key, value in metadata.items() if key != "instructions"}
