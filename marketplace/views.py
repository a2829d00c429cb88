import hashlib
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import F, QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.http import AuthedHttpRequest
from accounts.models import User
from agents.models import Agent
from core.errors import Conflict, Forbidden, Invalid, NotFound, PaymentRequired
from core.htmx import HtmxHttpRequest
from core.http import redirect_next
from core.pagecache import Parts, cached_page, related_table, row_version, rows_version
from core.paginator import CachedCountPaginator
from gamification.panels import agent_panel_context

from . import auctions, services
from .forms import BidForm, ListingCreateForm, ListingFilterForm, PurchaseForm
from .models import Bid, LedgerEntry, Listing, ListingQuerySet, Rental, Transaction

PAGE_SIZE = 25
# The bid history an auction page shows (the newest; the API lists them all).
BID_HISTORY = 20
# What a row of the listing table shows, as values: a page of 25 dicts, not 100 model
# objects with their JSON and timestamps (issue 13).
LISTING_ROW = {
    "name": F("agent__name"),
    "description": F("agent__description"),
    "tools": F("agent__tools"),
    "model": F("agent__model"),
    "level": F("agent__stats__level"),
    "rating": F("agent__stats__rating"),
    "total_ratings": F("agent__stats__total_ratings"),
    "seller_name": F("seller__username"),
}


def get_listing(request: HtmxHttpRequest, pk: int, *, need: str = "see") -> Listing:
    """The listing through its access rule (Listing.objects.get_for): closed ones only to
    their seller and buyers (404 to anyone else); need="sell": 403 to other viewers."""
    return Listing.objects.for_browsing().get_for(request.user, pk, need=need)


def _query_without_page(request: HtmxHttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


# The first page's order for the sorts the page cache keeps (_listing_list_parts), as
# ListingQuerySet.SORTS orders them; a stats sort's rated listings in the stats index's order.
_KEPT_ORDERS = {
    "newest": "l.created_at DESC, l.id DESC",
    "price": "l.price, l.id DESC",
    "-price": "l.price DESC, l.id DESC",
    "-rating": "s.rating DESC, s.agent_id DESC",
    "-level": "s.level DESC, s.agent_id DESC",
}


def _listing_list_parts(request: HtmxHttpRequest) -> Parts | None:
    """What the first page of the listings shows for a sort without filters, for the page
    cache: the total (while it is kept: a large list's, core.paginator) and the page's
    rows (listing, agent, its stats, seller). A descending stats sort lists the rated
    listings first; only if fewer than a page are rated do the others count. Filters,
    searches, ascending stats sorts and later pages render as usual."""
    if set(request.GET) - {"sort"}:
        return None
    sort = request.GET.get("sort") or "newest"
    order = _KEPT_ORDERS.get(sort)
    total = CachedCountPaginator.kept_count(_listings_count_key(request))
    if order is None or total is None:
        return None
    listings, stats = Listing._meta.db_table, related_table(Agent, "stats")
    agents, users = related_table(Listing, "agent"), related_table(Listing, "seller")

    def rows(join: str, order: str, where: str = "") -> str:
        return (
            f"SELECT {row_version('l', 'a', 'u')} || coalesce({row_version('s')}, '') AS v"
            f" FROM {listings} l JOIN {agents} a ON a.id = l.agent_id"
            f" JOIN {users} u ON u.id = l.seller_id {join} {stats} s ON s.agent_id = l.agent_id"
            f" WHERE l.status = 'active'{where} ORDER BY {order} LIMIT {PAGE_SIZE}"
        )

    parts = ["SELECT %(total)s::bigint"]
    if sort.lstrip("-") in ("rating", "level"):
        rated = rows("JOIN", order)
        unrated = rows("LEFT JOIN", "l.agent_id DESC", " AND s.id IS NULL")
        parts += [
            rows_version(rated),
            f"SELECT CASE WHEN (SELECT count(*) FROM ({rated}) x) < {PAGE_SIZE}"
            f" THEN ({rows_version(unrated)}) ELSE '' END",
        ]
    else:
        parts.append(rows_version(rows("LEFT JOIN", order)))
    return parts, {"total": total}


@require_GET
@cached_page(_listing_list_parts)
def listing_list(request: HtmxHttpRequest) -> HttpResponse:
    """Open to visitors: active listings are public (Listing.objects.visible_to)."""
    form = ListingFilterForm(request.GET or None)
    listings = Listing.objects.active()
    sort = "newest"
    if form.is_valid():
        data = form.cleaned_data
        listings = listings.search(data["q"]).price_between(data["min_price"], data["max_price"])
        if data["type"]:
            listings = listings.filter(listing_type=data["type"])
        sort = data["sort"] or sort
    query = _query_without_page(request)
    rows = cast(
        ListingQuerySet,
        listings.values(
            "id",
            "price",
            "listing_type",
            "rental_days",
            "current_price",
            "ends_at",
            **LISTING_ROW,
        ),
    )
    paginator = CachedCountPaginator(
        rows.for_pages(sort), PAGE_SIZE, count_key=_listings_count_key(request)
    )
    page = paginator.get_page(request.GET.get("page"))
    template = "marketplace/listing_list.html"
    if request.htmx:
        template += "#listing-results"
    return render(
        request,
        template,
        {
            "form": form,
            "page": page,
            # The table's rows are cached under everything they show.
            "rows_key": [tuple(row.values()) for row in page.object_list],
            "query": query,
            "filtered": any(value for key, value in request.GET.items() if key != "page"),
        },
    )


def _listings_count_key(request: HtmxHttpRequest) -> str:
    # Active listings are the same for everyone: the total is keyed by the filters alone.
    return f"listings:{_digest(_query_without_page(request))}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _detail_context(request: HtmxHttpRequest, listing: Listing, **extra) -> dict:
    agent = listing.agent
    user = request.user
    context = {
        "listing": listing,
        "agent": agent,
        "is_seller": listing.is_sold_by(user),
        "gamification": agent_panel_context(agent=agent, user=user) if agent else {},
        "rental_expires_at": Rental.objects.expiry_for(user=user, agent_id=listing.agent_id),
        "owns_agent": agent is not None and agent.is_owned_by(user),
        **extra,
    }
    if listing.is_auction:
        context.update(_auction_context(request, listing, context))
    # The confirmation shows the buyer's balance; visitors never get it (listing_detail).
    elif extra.get("confirm") and isinstance(user, User):
        balance = services.wallet_for(user=user).balance
        context["balance"] = balance
        context["balance_after"] = balance - listing.price
        context["purchase_form"] = PurchaseForm(initial={"idempotency_key": uuid.uuid4().hex})
        if listing.is_rent:
            context["expires_preview"] = _rental_expiry_preview(listing, context)
    return context


def _auction_context(request: HtmxHttpRequest, listing: Listing, context: dict) -> dict:
    """What an auction's page shows: the price, the next bid, the history (amounts, never
    maxima), and for a signed-in bidder their own maximum and whether they lead."""
    user = request.user
    leading = listing.leading_bid if listing.leading_bid_id else None
    bids = (
        Bid.objects.filter(listing=listing)
        .select_related("bidder")
        .only("amount", "created_at", "leading", "bidder__username")[:BID_HISTORY]
    )
    auction: dict[str, object] = {
        "min_next_bid": auctions.min_next_bid(listing),
        "bids": bids,
        "leader": leading.bidder if leading is not None else None,
        "my_max": None,
        "i_lead": False,
        "ended": listing.ends_at is not None and listing.ends_at <= timezone.now(),
    }
    if isinstance(user, User):
        my_max = (
            Bid.objects.filter(listing=listing, bidder=user)
            .order_by("-max_amount")
            .values_list("max_amount", flat=True)
            .first()
        )
        auction["my_max"] = my_max
        auction["i_lead"] = leading is not None and leading.bidder_id == user.pk
        bid_form = context.get("bid_form")
        if context.get("confirm_bid") and bid_form is not None and bid_form.is_valid():
            amount = bid_form.cleaned_data["max_amount"]
            wallet = services.wallet_for(user=user)
            # Raising one's own lead holds the new maximum instead of the old one.
            held_now = leading.max_amount if auction["i_lead"] and leading else Decimal(0)
            auction.update(
                bid_amount=amount,
                available=wallet.available,
                available_after=wallet.available + held_now - amount,
                confirm_form=BidForm(
                    initial={"max_amount": amount, "idempotency_key": uuid.uuid4().hex}
                ),
            )
    return {"auction": auction}


def _rental_expiry_preview(listing: Listing, context: dict) -> datetime | None:
    if listing.rental_days is None:
        return None
    # Renting again extends the current rental (see services.listing_purchase).
    start = context["rental_expires_at"] or timezone.now()
    return start + timedelta(days=listing.rental_days)


@require_GET
def listing_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    # Open to visitors: an active listing is public (any other id sends them to log in:
    # core.middleware).
    polling = bool(request.htmx and request.htmx.target == "auction-status")
    try:
        listing = get_listing(request, pk)
    except NotFound:
        if not polling:
            raise
        # A bidder who did not win may not see the closed auction (docs/API.md: closed
        # listings to their seller and buyer): the poll stops (286) and says so, the same
        # for any id it may not see, so it tells nothing a 404 would not.
        return render(request, "marketplace/_auction_gone.html", status=286)
    # The confirmation shows the buyer's balance: visitors get "Log in to buy" instead.
    confirm = (
        request.GET.get("confirm") == "1" and listing.is_active and request.user.is_authenticated
    )
    template = "marketplace/listing_detail.html"
    extra: dict[str, object] = {"confirm": confirm}
    status = 200
    if listing.is_auction:
        # The bid's confirmation step: GET ?max_amount=N shows what the bid holds, and the
        # confirmation POSTs it (listing_bid).
        extra["confirm"] = False
        if "max_amount" in request.GET and listing.is_active and request.user.is_authenticated:
            bid_form = BidForm(request.GET)
            extra.update(bid_form=bid_form, confirm_bid=True)
            if not bid_form.is_valid():
                status = 422
        else:
            extra["bid_form"] = BidForm()
        if polling:
            # The live part, polled while the auction runs.
            template = "marketplace/_auction.html#auction-status"
    elif request.htmx and request.htmx.target == "purchase-panel":
        template += "#purchase-panel"
    return render(request, template, _detail_context(request, listing, **extra), status=status)


@require_POST
@login_required
def listing_bid(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """The confirmed bid: POST/redirect/GET; the service's refusals (402, 409, 422) show in
    the page with their status."""
    listing = get_listing(request, pk)
    form = BidForm(request.POST)
    error: tuple[str, int] | None = None
    if form.is_valid():
        try:
            bid = auctions.auction_bid(
                listing=listing,
                bidder=request.user,
                max_amount=form.cleaned_data["max_amount"],
                idempotency_key=form.cleaned_data["idempotency_key"],
            )
        except (PaymentRequired, Conflict, Invalid) as exc:
            error = (exc.message, exc.status)
        else:
            if bid.leading:
                note = (
                    f"You lead the auction of {listing.agent_name} at {bid.amount} credits "
                    f"(your maximum: {bid.max_amount})."
                )
            else:
                note = (
                    f"Another bidder's maximum is higher: the price is now {bid.amount} credits. "
                    "Bid again to lead."
                )
            messages.success(request, note)
            return redirect("marketplace:listing_detail", pk=listing.pk)
    else:
        error = ("Enter a maximum bid like 12.50.", 422)
    listing = Listing.objects.for_browsing().get(pk=listing.pk)
    message, status = error
    context = _detail_context(
        request, listing, bid_form=form, bid_error=message, error_status=status
    )
    return render(request, "marketplace/listing_detail.html", context, status=status)


@require_POST
@login_required
def listing_purchase(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    listing = get_listing(request, pk)
    form = PurchaseForm(request.POST)
    key = form.cleaned_data["idempotency_key"] if form.is_valid() else None
    template = "marketplace/listing_detail.html"
    try:
        txn = services.listing_purchase(listing=listing, buyer=request.user, idempotency_key=key)
    except (PaymentRequired, Conflict) as exc:
        listing = Listing.objects.for_browsing().get(pk=listing.pk)
        status = exc.status
        if request.htmx:
            # htmx does not swap 4xx responses; the fragment carries the error instead.
            template += "#purchase-panel"
            status = 200
        context = _detail_context(request, listing, error=exc.detail, error_status=exc.status)
        return render(request, template, context, status=status)
    if txn.kind == Transaction.Kind.RENTAL:
        note = f"You rent {listing.agent_name} until {txn.expires_at:%Y-%m-%d %H:%M} UTC."
    else:
        note = f"You bought {listing.agent_name}. It is yours now."
    messages.success(request, note)
    if request.htmx:
        listing = Listing.objects.for_browsing().get(pk=listing.pk)
        context = _detail_context(request, listing, done=note)
        return render(request, template + "#purchase-panel", context)
    return redirect("marketplace:listing_detail", pk=listing.pk)


@require_POST
@login_required
def listing_withdraw(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    listing = get_listing(request, pk, need="sell")
    try:
        services.listing_withdraw(listing=listing, by=request.user)
    except (Conflict, Forbidden) as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Withdrew the listing of {listing.agent_name}.")
    if request.htmx and request.htmx.target == "my-listings":
        return _render_mine(request, ListingCreateForm(agents=_listable(request)), fragment=True)
    if request.htmx and request.htmx.target == "purchase-panel":
        listing = Listing.objects.for_browsing().get(pk=listing.pk)
        return render(
            request,
            "marketplace/listing_detail.html#purchase-panel",
            _detail_context(request, listing),
        )
    return redirect_next(request, reverse("marketplace:listing_mine"))


def _listable(request: AuthedHttpRequest) -> QuerySet:
    """The caller's agents that have no active listing."""
    return (
        Agent.objects.owned_by(request.user)
        .exclude(pk__in=Listing.objects.active().values("agent_id"))
        .order_by("name", "id")
    )


def _listing_terms(form: ListingCreateForm) -> dict:
    """What the listing form says before anything is listed: the fee rule, and for the
    price entered so far the fee and what the seller receives (services.fee_for, the
    rule purchases apply)."""
    terms: dict[str, object] = {"percent": settings.MARKETPLACE_FEE_PERCENT}
    price = form.entered_price()
    if price is not None:
        fee = services.fee_for(price)
        terms.update(price=price, fee=fee, income=price - fee)
    terms["is_rent"] = form.entered_type() == Listing.Type.RENT
    terms["is_auction"] = form.entered_type() == Listing.Type.AUCTION
    return terms


def _render_mine(
    request: AuthedHttpRequest,
    form: ListingCreateForm,
    *,
    status: int = 200,
    fragment: bool = False,
) -> HttpResponse:
    listings = Listing.objects.by_seller(request.user).select_related("agent__stats")
    page = Paginator(listings, PAGE_SIZE).get_page(request.GET.get("page"))
    sales = (
        Transaction.objects.filter(listing__seller=request.user)
        .select_related("buyer", "listing")
        .order_by("-created_at", "-id")[:50]
    )
    template = "marketplace/listing_mine.html"
    if fragment:
        template += "#my-listings"
    return render(
        request,
        template,
        {
            "form": form,
            "terms": _listing_terms(form),
            "page": page,
            "sales": sales,
            "query": _query_without_page(request),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@login_required
def listing_mine(request: AuthedHttpRequest) -> HttpResponse:
    agents = _listable(request)
    if request.method == "POST":
        form = ListingCreateForm(request.POST, agents=agents)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if data["listing_type"] == Listing.Type.AUCTION:
                    listing = auctions.auction_create(
                        agent=data["agent"],
                        seller=request.user,
                        price=data["price"],
                        reserve_price=data["reserve_price"],
                        ends_at=data["ends_at"],
                    )
                else:
                    listing = services.listing_create(
                        agent=data["agent"],
                        seller=request.user,
                        listing_type=data["listing_type"],
                        price=data["price"],
                        rental_days=data["rental_days"],
                    )
            except (Conflict, Forbidden, Invalid) as exc:
                form.add_error(None, exc.message)
            else:
                what = "an auction from" if listing.is_auction else "for"
                messages.success(request, f"Listed {listing.agent_name} {what} {listing.price}.")
                return redirect("marketplace:listing_detail", pk=listing.pk)
        return _render_mine(request, form, status=422)
    initial: dict[str, object] = {}
    if request.GET.get("agent", "").isdigit():
        initial["agent"] = int(request.GET["agent"])
    if request.GET.get("type") in Listing.Type.values:
        initial["listing_type"] = request.GET["type"]
    if request.htmx and request.htmx.target == "listing-terms":
        # The form's live preview of the fee and the seller's share as the price is typed.
        form = ListingCreateForm(request.GET, agents=agents)
        return render(
            request, "marketplace/listing_mine.html#listing-terms", {"terms": _listing_terms(form)}
        )
    form = ListingCreateForm(agents=agents, initial=initial)
    fragment = bool(request.htmx and request.htmx.target == "my-listings")
    return _render_mine(request, form, fragment=fragment)


@require_GET
@login_required
def wallet_detail(request: AuthedHttpRequest) -> HttpResponse:
    summary = services.wallet_summary(user=request.user)
    entries = LedgerEntry.objects.filter(wallet__user=request.user).select_related(
        "transaction__listing"
    )
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    template = "marketplace/wallet_detail.html"
    if request.htmx:
        template += "#ledger-entries"
    rentals = (
        Rental.objects.unexpired()
        .filter(renter=request.user)
        .select_related("agent")
        .order_by("expires_at")
    )
    # What holds credits: the active auctions whose leading bid is the user's.
    holds = (
        Listing.objects.active()
        .filter(leading_bid__wallet__user=request.user)
        .select_related("leading_bid")
        .order_by("ends_at", "id")
    )
    return render(
        request,
        template,
        {
            "summary": summary,
            "page": page,
            "rentals": rentals,
            "holds": holds,
            "query": _query_without_page(request),
        },
    )
