"""Panels that apps above agents add to agents' pages.

The agent page shows the agent's stats (gamification) and its listing (marketplace), and a
finished run shows what it earned; agents must not import those apps (docs/DESIGN.md,
Layout). Each app registers its panel here from its AppConfig.ready: a template it owns
and a function that builds that template's context from the request and the object, or
returns None to show nothing. Agents' views render the slot and never learn who filled it.

A panel on the agent page also says what it shows, for the page cache (core.pagecache): SQL
expressions over the parameters `agent`, `viewer` and `now`, each returning the version of
rows the panel reads. A slot with a panel that says nothing is never kept.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

# slot → what the context function receives
SLOTS = {
    "dashboard": "the signed-in User, on their dashboard",
    "agent_detail": "the Agent, on its page",
    "run_final": "a final Run, under its card (chat and run page)",
}

ContextBuilder = Callable[[HttpRequest, Any], dict | None]
# Contexts for many objects at once, by pk (a page listing many runs stays a constant number
# of queries); a missing or None entry shows nothing for that object.
BatchContextBuilder = Callable[[HttpRequest, list[Any]], dict[Any, dict | None]]


@dataclass(frozen=True)
class Panel:
    slot: str
    name: str
    template: str
    context: ContextBuilder
    order: int
    batch: BatchContextBuilder | None = None
    fingerprint: tuple[str, ...] | None = None


_registry: dict[str, list[Panel]] = {slot: [] for slot in SLOTS}


def register(
    slot: str,
    *,
    name: str,
    template: str,
    context: ContextBuilder,
    order: int = 100,
    batch: BatchContextBuilder | None = None,
    fingerprint: list[str] | None = None,
) -> None:
    """Add (or replace, by name: ready() may run twice in tests) a panel to a slot."""
    if slot not in SLOTS:
        raise ValueError(f"Unknown panel slot {slot!r}; slots: {', '.join(SLOTS)}")
    panels = [panel for panel in _registry[slot] if panel.name != name]
    panels.append(
        Panel(
            slot=slot,
            name=name,
            template=template,
            context=context,
            order=order,
            batch=batch,
            fingerprint=None if fingerprint is None else tuple(fingerprint),
        )
    )
    _registry[slot] = sorted(panels, key=lambda panel: (panel.order, panel.name))


def fingerprint_parts(slot: str) -> list[str] | None:
    """Every panel's fingerprint parts for the slot, or None if a panel gave none."""
    parts: list[str] = []
    for panel in _registry[slot]:
        if panel.fingerprint is None:
            return None
        parts.extend(panel.fingerprint)
    return parts


def render(slot: str, request: HttpRequest, obj: Any) -> list[SafeString]:
    """The slot's panels as HTML, in order; panels whose builder returns None are left out."""
    html = []
    for panel in _registry[slot]:
        context = panel.context(request, obj)
        if context is not None:
            html.append(render_to_string(panel.template, context, request=request))
    return html


def render_many(slot: str, request: HttpRequest, objs: list[Any]) -> dict[Any, list[SafeString]]:
    """render() for each of `objs`, by pk; panels with a batch builder ask once for all."""
    html: dict[Any, list[SafeString]] = {obj.pk: [] for obj in objs}
    for panel in _registry[slot]:
        if panel.batch is not None:
            contexts = panel.batch(request, objs)
        else:
            contexts = {obj.pk: panel.context(request, obj) for obj in objs}
        for obj in objs:
            context = contexts.get(obj.pk)
            if context is not None:
                html[obj.pk].append(render_to_string(panel.template, context, request=request))
    return html
