from datetime import datetime
from decimal import Decimal
from typing import Literal

from ninja import Schema
from pydantic import Field, field_validator

from agents.schemas import AgentStatsOut, stats_payload
from core.schemas import MAX_ID, NO_NUL, StrictIn

from .auctions import auction_payload
from .models import MAX_PRICE

SORTS = Literal["newest", "oldest", "price", "-price", "rating", "-rating", "level", "-level"]


class ListingAgentOut(Schema):
    id: int
    name: str
    description: str
    tools: list[str]
    model: str
    stats: AgentStatsOut

    @staticmethod
    def resolve_stats(agent) -> dict:
        return stats_payload(agent)


class AuctionOut(Schema):
    current_price: str
    min_next_bid: str
    leader: str | None
    bids_count: int
    ends_at: datetime
    reserve_met: bool


class ListingOut(Schema):
    id: int
    # null only for the history of an agent deleted after it was sold
    agent: ListingAgentOut | None
    listing_type: Literal["sale", "rent", "auction"]
    price: str
    rental_days: int | None
    seller: str | None
    status: Literal["active", "sold", "withdrawn", "unsold"]
    created_at: datetime
    auction: AuctionOut | None

    @staticmethod
    def resolve_auction(listing) -> dict | None:
        return auction_payload(listing)

    @staticmethod
    def resolve_price(listing) -> str:
        return f"{listing.price:.2f}"

    @staticmethod
    def resolve_seller(listing) -> str | None:
        return listing.seller.username if listing.seller_id else None


class ListingIn(StrictIn):
    agent_id: int = Field(ge=1, le=MAX_ID)
    listing_type: Literal["sale", "rent", "auction"]
    # Strings ("12.50") or JSON numbers; more than 2 places is a 422, never rounded.
    price: Decimal = Field(gt=0, le=MAX_PRICE, max_digits=12, decimal_places=2)
    rental_days: int | None = Field(None, ge=1, le=365)
    # Auctions only (docs/API.md "Auctions").
    reserve_price: Decimal | None = Field(None, gt=0, le=MAX_PRICE, max_digits=12, decimal_places=2)
    ends_at: datetime | None = None


class BidIn(StrictIn):
    max_amount: Decimal = Field(gt=0, le=MAX_PRICE, max_digits=12, decimal_places=2)
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)


class BidOut(Schema):
    id: int
    listing_id: int
    max_amount: str
    current_price: str
    leading: bool
    ends_at: datetime


class BidListOut(Schema):
    bidder: str | None
    amount: str
    created_at: datetime

    @staticmethod
    def resolve_bidder(bid) -> str | None:
        return bid.bidder.username if bid.bidder_id else None

    @staticmethod
    def resolve_amount(bid) -> str:
        return f"{bid.amount:.2f}"


class ListingFilter(Schema):
    type: Literal["sale", "rent", "auction"] | None = None
    q: str = Field("", max_length=200, pattern=NO_NUL)
    min_price: Decimal | None = Field(None, ge=0, le=MAX_PRICE)
    max_price: Decimal | None = Field(None, ge=0, le=MAX_PRICE)
    sort: SORTS = "newest"


class PurchaseIn(StrictIn):
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)


class PurchaseOut(Schema):
    transaction_id: int
    listing_id: int
    kind: Literal["purchase", "rental"]
    amount: str
    expires_at: datetime | None


class WalletOut(Schema):
    balance: str
    earned: str
    spent: str
    held: str
    available: str


class LedgerEntryOut(Schema):
    id: int
    kind: str
    amount: str
    transaction_id: int | None
    note: str
    created_at: datetime

    @staticmethod
    def resolve_amount(entry) -> str:
        return f"{entry.amount:.2f}"

    @field_validator("note", mode="before")
    @classmethod
    def _note(cls, value):
        return value or ""
