"""The API's list pagination (docs/API.md "Lists"): django-ninja's limit/offset, with the
offset bounded so that a huge one is a 422 rather than a database overflow."""

from ninja import Field
from ninja.pagination import LimitOffsetPagination as NinjaLimitOffsetPagination

from .schemas import MAX_ID


class LimitOffsetPagination(NinjaLimitOffsetPagination):
    class Input(NinjaLimitOffsetPagination.Input):
        offset: int = Field(0, ge=0, le=MAX_ID)
