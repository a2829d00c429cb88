from typing import Any

from ninja import Schema


class ErrorOut(Schema):
    detail: Any
