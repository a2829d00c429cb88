from datetime import datetime
from typing import Annotated, Any

from ninja import Field, FilterLookup, FilterSchema, Schema

from core.schemas import NO_NUL, StrictIn

from .validation import MAX_SOURCE_BYTES


class ToolOut(Schema):
    name: str
    description: str
    inputs: dict[str, Any]
    output_type: str
    builtin: bool
    owner: str | None
    latest_version: int
    status: str = Field(description="valid, or invalid (see status_reason)")
    status_reason: str
    needs_network: bool
    requires: list[str]
    runnable: bool = Field(description="Whether an agent may select it on this platform.")
    runnable_note: str

    @staticmethod
    def resolve_owner(obj) -> str | None:
        return obj.owner.username if obj.owner_id else None


class ToolVersionOut(Schema):
    version: int
    created_at: datetime
    code_sha256: str = Field(alias="sha256")
    created_by: str | None

    @staticmethod
    def resolve_created_by(obj) -> str | None:
        return obj.created_by.username if obj.created_by_id else None


class ToolDetailOut(ToolOut):
    versions: list[ToolVersionOut]

    @staticmethod
    def resolve_versions(obj) -> list:
        return list(obj.versions.all())


class ToolVersionCodeOut(ToolVersionOut):
    code: str
    description: str
    inputs: dict[str, Any]
    output_type: str
    imports: list[str]


class ToolRegisterIn(StrictIn):
    # Characters here; the service enforces the 100 KB byte limit with a line-1 message.
    code: str = Field(max_length=MAX_SOURCE_BYTES, description="Python source of one tool.")
    description: str | None = Field(
        None,
        max_length=5000,
        description="Overrides the description written in the code.",
    )


class ToolFilter(FilterSchema):
    q: Annotated[
        str | None,
        FilterLookup(["name__icontains", "description__icontains"]),
        Field(max_length=200, pattern=NO_NUL, description="Search names and descriptions."),
    ] = None
    builtin: bool | None = None
    owner: Annotated[
        str | None,
        FilterLookup("owner__username"),
        Field(max_length=150, pattern=NO_NUL, description="Username of the owner."),
    ] = None
    status: Annotated[str | None, Field(pattern="^(valid|invalid)$")] = None


class AllowlistIn(StrictIn):
    modules: list[str]


class AllowlistOut(Schema):
    modules: list[str]
    invalidated: list[str] = Field(
        default_factory=list, description="Tools the change marked invalid."
    )
