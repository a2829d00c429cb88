from datetime import datetime
from typing import Literal

from ninja import Field, Schema

from agents.schemas import AgentStatsOut
from core.schemas import StrictIn

from .services import COMMENT_MAX


class RatingIn(StrictIn):
    stars: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=COMMENT_MAX)


class RatingOut(Schema):
    id: int
    agent_id: int
    user: str
    stars: int
    comment: str
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_user(rating) -> str:
        return rating.user.username


class LeaderboardFilter(Schema):
    sort: Literal["xp", "rating", "earnings"] = "xp"


class LeaderboardEntryOut(Schema):
    """One ranked agent: its rank in this ordering, who it is, and its AgentStats."""

    rank: int
    id: int = Field(alias="agent_id")
    name: str
    description: str
    model: str
    owner: str
    stats: AgentStatsOut

    @staticmethod
    def resolve_name(stats) -> str:
        return stats.agent.name

    @staticmethod
    def resolve_description(stats) -> str:
        return stats.agent.description

    @staticmethod
    def resolve_model(stats) -> str:
        return stats.agent.model

    @staticmethod
    def resolve_owner(stats) -> str:
        return stats.agent.owner.username

    @staticmethod
    def resolve_stats(stats) -> dict:
        return stats.payload()
