from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from agents.schemas import AgentOut
from core.schemas import StrictIn


class CollaboratorIn(StrictIn):
    username: str = Field(min_length=1, max_length=150)
    role: Literal["editor", "user"]


class CollaboratorOut(Schema):
    username: str
    role: Literal["editor", "user"]
    added_at: datetime

    @staticmethod
    def resolve_username(row) -> str:
        return row.user.username


class ShareOut(Schema):
    token: str
    url: str


class UserProfileOut(Schema):
    username: str
    followers: int
    following: int
    public_agents: list[AgentOut]


class FeedEventOut(Schema):
    id: int
    actor: str
    verb: Literal[
        "published_agent", "forked_agent", "listed_agent", "sold_agent", "won_competition"
    ]
    agent_id: int | None
    listing_id: int | None
    competition_id: int | None
    created_at: datetime

    @staticmethod
    def resolve_actor(event) -> str:
        return event.actor.username
