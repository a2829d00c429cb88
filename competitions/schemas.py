from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from core.schemas import MAX_ID, NO_NUL, StrictIn

Status = Literal["open", "judging", "finished", "cancelled"]


class TaskIn(StrictIn):
    prompt: str = Field(min_length=1, max_length=5000, pattern=NO_NUL)
    expected: str = Field(max_length=5000)
    grader: Literal["exact", "contains", "number"]


class CompetitionIn(StrictIn):
    title: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=2000)
    entry_fee: str = Field(max_length=20)
    prize: str = Field(max_length=20)
    closes_at: datetime
    tasks: list[TaskIn] = Field(min_length=1, max_length=50)


class CompetitionFilter(Schema):
    status: Status | None = None


class ResultOut(Schema):
    rank: int
    agent_id: int | None
    agent_name: str
    owner: str
    score: int
    duration_ms: int
    payout: str


class CompetitionOut(Schema):
    id: int
    title: str
    description: str
    organizer: str
    status: Status
    entry_fee: str
    prize_pool: str
    closes_at: datetime
    tasks_count: int
    entries_count: int
    results: list[ResultOut]


class TaskOut(Schema):
    position: int
    prompt: str
    expected: str
    grader: str


class EntryIn(StrictIn):
    agent_id: int = Field(ge=1, le=MAX_ID)


class EntryOut(Schema):
    id: int
    competition_id: int
    agent_id: int | None
