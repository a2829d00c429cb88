from datetime import datetime

from ninja import Schema
from pydantic import Field

from core.schemas import StrictIn

from .services import TOKEN_MAX_DAYS


class TokenIn(StrictIn):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=4096)
    name: str = Field("API token", max_length=100, description="A label shown in the token list.")
    expires_in_days: int | None = Field(
        None,
        ge=1,
        le=TOKEN_MAX_DAYS,
        description="The token stops working after this many days; omit it to never expire.",
    )


class TokenOut(Schema):
    id: int
    token: str = Field(description="The secret: shown this once, never stored.")
    expires_at: datetime | None


class ApiTokenOut(Schema):
    """A token as listed: never the secret."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


class MeOut(Schema):
    username: str
    email: str
    is_staff: bool
