from ninja import Schema
from pydantic import Field


class TokenIn(Schema):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=4096)
    name: str = Field("API token", max_length=100, description="A label shown in the token list.")


class TokenOut(Schema):
    token: str


class MeOut(Schema):
    username: str
    email: str
    is_staff: bool
