from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from core.schemas import MAX_ID, StrictIn


class AgentStatsOut(Schema):
    total_requests: int = 0
    successful_requests: int = 0
    failed_requests: int = 0
    average_response_time: float = 0.0
    rating: float = 0.0
    total_ratings: int = 0
    earnings: str = "0.00"
    tasks_completed: int = 0
    level: int = 1
    experience_points: int = 0
    achievements: list[str] = []
    # docs/API.md "Stats" also implemented: competitions won (rank 1) and placed in (1–3).
    competitions_won: int = 0
    competition_podiums: int = 0


def stats_payload(agent) -> dict:
    """The agent's AgentStats payload. The stats live in gamification (above agents), read
    through the agent's reverse one-to-one `stats`; zeros before its first count. No query
    when the agent was fetched with select_related("stats")."""
    stats = getattr(agent, "stats", None)
    return stats.payload() if stats is not None else AgentStatsOut().dict()


class AgentIn(StrictIn):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=2000)
    tools: list[str] = Field(default_factory=list, max_length=50)
    model: str = Field(min_length=1, max_length=200)
    allowed_imports: list[str] = Field(default_factory=list, max_length=100)
    metadata: dict = Field(default_factory=dict)
    # null: private on create, unchanged on update.
    visibility: Literal["private", "public"] | None = None


class AgentForkIn(StrictIn):
    name: str | None = Field(None, min_length=1, max_length=100)


class ForkedFromOut(Schema):
    id: int | None
    name: str
    owner: str


class AgentOut(Schema):
    id: int
    name: str
    description: str
    tools: list[str]
    model: str
    allowed_imports: list[str]
    metadata: dict
    state: Literal["created", "running", "stopped", "error"]
    state_reason: str
    owner: str
    visibility: Literal["private", "public"]
    forked_from: ForkedFromOut | None
    forks_count: int
    created_at: datetime
    updated_at: datetime
    stats: AgentStatsOut

    @staticmethod
    def resolve_owner(agent) -> str:
        return agent.owner.username

    @staticmethod
    def resolve_forked_from(agent) -> dict | None:
        if not agent.is_fork:
            return None
        return {
            "id": agent.forked_from_id,
            "name": agent.forked_from_name,
            "owner": agent.forked_from_owner,
        }

    @staticmethod
    def resolve_forks_count(agent) -> int:
        # Annotated by AgentQuerySet.with_forks_count(); one query otherwise.
        total = getattr(agent, "forks_total", None)
        return total if total is not None else agent.forks.count()

    @staticmethod
    def resolve_stats(agent) -> dict:
        return stats_payload(agent)


class AgentFilter(Schema):
    state: Literal["created", "running", "stopped", "error"] | None = None
    owned: bool | None = None
    # "public": every public agent instead of those you own, rent or collaborate on.
    scope: Literal["mine", "public"] = "mine"


class PagedAgentOut(Schema):
    """A page of agents (docs/API.md "Lists"), as django-ninja's @paginate would name it."""

    items: list[AgentOut]
    count: int


class ChatIn(StrictIn):
    message: str = Field(min_length=1, max_length=20000)
    conversation_id: int | None = Field(None, ge=1, le=MAX_ID)
    wait: bool = False


class RunStepOut(Schema):
    index: int
    kind: str
    text: str
    code: str | None
    observation: str | None
    error: str | None
    duration_ms: int


class RunOut(Schema):
    id: int
    # null once the agent was deleted: the run stays its starter's, under agent_name.
    agent_id: int | None
    agent_name: str
    conversation_id: int
    status: Literal["queued", "running", "succeeded", "failed", "cancelled", "timed_out"]
    message: str
    output: str | None
    error: str | None
    steps: list[RunStepOut]
    duration_ms: int | None
    input_tokens: int
    output_tokens: int
    created_at: datetime
    finished_at: datetime | None


class ConversationOut(Schema):
    id: int
    agent_id: int
    title: str
    created_at: datetime
    updated_at: datetime
    runs: int = Field(alias="run_count")


class ActivityOut(Schema):
    verb: str
    detail: str
    actor: str | None
    created_at: datetime

    @staticmethod
    def resolve_actor(activity) -> str | None:
        return activity.actor.username if activity.actor else None
