"""What every app's API schemas share: the error body, the base of request bodies, the
error responses every operation declares, and the bounds of ids (docs/API.md "Errors")."""

from typing import Any, Literal

from ninja import Path, Schema
from pydantic import ConfigDict, Field, field_validator

# PostgreSQL text and jsonb cannot hold NUL characters: a NUL is bad input (422), never a 500.
NO_NUL = r"^[^\x00]*$"
# Ids are PostgreSQL bigints: a larger one is bad input (422), not a database overflow.
MAX_ID = 2**63 - 1

ErrorCode = Literal[
    "bad_request",
    "unauthenticated",
    "insufficient_credits",
    "forbidden",
    "not_found",
    "conflict",
    "validation_error",
    "rate_limited",
    "server_error",
]


class ErrorOut(Schema):
    """Every API error (docs/API.md "Errors"); `code` follows the status (core.errors)."""

    detail: str | list[Any] = Field(
        description="A sentence, or for a 422 the list of field errors {loc, msg, type}."
    )
    code: ErrorCode


def errors(*statuses: int) -> dict[int, type[ErrorOut]]:
    """The error responses of an operation that takes input (a body, a query or a path
    parameter): 400 (malformed), 401 (no or bad credentials), 422 (validation failed), plus
    `statuses`; so the OpenAPI schema documents every status the operation answers. An
    operation that takes no input at all declares `{401: ErrorOut}` (and its own) instead."""
    return dict.fromkeys(sorted({400, 401, 422, *statuses}), ErrorOut)


def IdPath(description: str | None = None) -> Any:
    """A path id: 1 to a bigint's maximum; anything else is a 422."""
    return Path(..., ge=1, le=MAX_ID, description=description)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple | set):
        return any(_has_nul(item) for item in value)
    return False


class StrictIn(Schema):
    """The base of every request body (`<Entity>In`). Unknown fields are a 422, so a misspelt
    field (say `conversation` for `conversation_id`) is never silently ignored; and no string
    anywhere in the body, nested ones included, may hold a NUL character."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("NUL characters (\\u0000) are not allowed.")
        return value
