from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from agents.models import Agent
from core.errors import Invalid
from core.schemas import ErrorOut, IdPath, errors

from . import auctions, services
from .models import Bid, LedgerEntry, Listing
from .schemas import (
    BidIn,
    BidListOut,
    BidOut,
    LedgerEntryOut,
    ListingFilter,
    ListingIn,
    ListingOut,
    PurchaseIn,
    PurchaseOut,
    WalletOut,
)

router = Router(tags=["marketplace"])

ERRORS = errors(402, 403, 404, 409)
ListingId = IdPath()


def _listing(request: HttpRequest, listing_id: int, *, need: str = "see") -> Listing:
    """404 unless the listing is active or the caller is its seller or one of its buyers."""
    return Listing.objects.for_browsing().get_for(request.auth, listing_id, need=need)


def _purchase_out(txn) -> dict:
    return {
        "transaction_id": txn.pk,
        "listing_id": txn.listing_id,
        "kind": txn.kind,
        "amount": f"{txn.amount:.2f}",
        "expires_at": txn.expires_at,
    }


@router.get("/marketplace", response={200: list[ListingOut], **errors()}, summary="Active listings")
@paginate
def listing_list(request: HttpRequest, filters: Query[ListingFilter]):
    listings = Listing.objects.active().for_browsing().search(filters.q)
    if filters.type:
        listings = listings.filter(listing_type=filters.type)
    return listings.price_between(filters.min_price, filters.max_price).sorted_by(filters.sort)


@router.post("/marketplace", response={201: ListingOut, **ERRORS}, summary="List your agent")
def listing_create(request: HttpRequest, payload: ListingIn):
    # Someone else's unlisted agent is a 404, a listed one a 403.
    agent = Agent.objects.get_for(request.auth, payload.agent_id, need="own")
    if payload.listing_type == Listing.Type.AUCTION:
        if payload.rental_days is not None:
            raise Invalid("Only rent listings have rental days.")
        if payload.ends_at is None:
            raise Invalid("An auction needs ends_at.")
        listing = auctions.auction_create(
            agent=agent,
            seller=request.auth,
            price=payload.price,
            reserve_price=payload.reserve_price,
            ends_at=payload.ends_at,
        )
    else:
        if payload.reserve_price is not None or payload.ends_at is not None:
            raise Invalid("Only auctions have reserve_price and ends_at.")
        listing = services.listing_create(
            agent=agent,
            seller=request.auth,
            listing_type=payload.listing_type,
            price=payload.price,
            rental_days=payload.rental_days,
        )
    return Status(201, Listing.objects.for_browsing().get(pk=listing.pk))


@router.get("/marketplace/{listing_id}", response={200: ListingOut, **ERRORS}, summary="A listing")
def listing_detail(request: HttpRequest, listing_id: int = ListingId):
    return _listing(request, listing_id)


@router.delete("/marketplace/{listing_id}", response={204: None, **ERRORS}, summary="Withdraw")
def listing_withdraw(request: HttpRequest, listing_id: int = ListingId):
    listing = _listing(request, listing_id, need="sell")
    services.listing_withdraw(listing=listing, by=request.auth)
    return Status(204, None)


@router.post(
    "/marketplace/{listing_id}/purchase",
    response={201: PurchaseOut, **ERRORS},
    summary="Buy or rent a listing",
)
def listing_purchase(request: HttpRequest, payload: PurchaseIn, listing_id: int = ListingId):
    # Any existing listing: buying a closed one is a 409 (docs/API.md), not a 404. No
    # joins: the service reads what it needs again under the listing's lock.
    listing = Listing.objects.get_for(request.auth, listing_id, need="buy")
    txn = services.listing_purchase(
        listing=listing, buyer=request.auth, idempotency_key=payload.idempotency_key
    )
    return Status(201, _purchase_out(txn))


@router.post(
    "/marketplace/{listing_id}/bids",
    response={201: BidOut, **ERRORS},
    summary="Bid on an auction",
)
def bid_create(request: HttpRequest, payload: BidIn, listing_id: int = ListingId):
    # Any existing listing, as for purchases: bidding on a closed one is a 409.
    listing = Listing.objects.get_for(request.auth, listing_id, need="buy")
    bid = auctions.auction_bid(
        listing=listing,
        bidder=request.auth,
        max_amount=payload.max_amount,
        idempotency_key=payload.idempotency_key,
    )
    ends_at = Listing.objects.values_list("ends_at", flat=True).get(pk=bid.listing_id)
    return Status(
        201,
        {
            "id": bid.pk,
            "listing_id": bid.listing_id,
            "max_amount": f"{bid.max_amount:.2f}",
            "current_price": f"{bid.amount:.2f}",
            "leading": bid.leading,
            "ends_at": ends_at,
        },
    )


@router.get(
    "/marketplace/{listing_id}/bids",
    response={200: list[BidListOut], **ERRORS},
    summary="An auction's bids, newest first",
)
@paginate
def bid_list(request: HttpRequest, listing_id: int = ListingId):
    listing = _listing(request, listing_id)
    return (
        Bid.objects.filter(listing=listing).select_related("bidder").order_by("-created_at", "-id")
    )


@router.get(
    "/wallet",
    response={200: WalletOut, 401: ErrorOut},
    summary="Your balance, earnings and spending",
)
def wallet_detail(request: HttpRequest):
    summary = services.wallet_summary(user=request.auth)
    return {
        "balance": f"{summary.balance:.2f}",
        "earned": f"{summary.earned:.2f}",
        "spent": f"{summary.spent:.2f}",
        "held": f"{summary.held:.2f}",
        "available": f"{summary.available:.2f}",
    }


@router.get(
    "/wallet/transactions",
    response={200: list[LedgerEntryOut], **errors()},
    summary="Your wallet's ledger entries",
)
@paginate
def wallet_transactions(request: HttpRequest):
    wallet = services.wallet_for(user=request.auth)
    return LedgerEntry.objects.filter(wallet=wallet)
