"""The access matrix: roles × operations → status, on pages and in the API.

One row of OPS is one operation; its `expect` tuple has one column per role, in ROLES order.
Every cell becomes one test case, e.g. `test_access[api-agent_update-renter]`, run against a
fresh scenario (the `scenario` fixture), so a case that deletes or buys cannot affect another.

Cells: an HTTP status; LOGIN (a page's 302 to the login page); or Gap(status, reason) where the
code disagrees with the contract (docs/DESIGN.md "Ownership and access", docs/API.md): the cell
holds the contract's status and the case is a strict xfail, so it turns red once fixed.

To add a role (e.g. `collaborator_editor`): add one entry to ROLES, a function
(scenario, surface) -> client that makes whatever relation the role needs (add the collaborator)
and returns `signed_in(user, surface)` or `anonymous(surface)`; then add one column to every row
of OPS. To add an operation: add one row to OPS; `path` is formatted with Scenario.ids(), `body`
is a dict or a function of the scenario (form data on pages, JSON in the API).
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.test import Client

from accounts.services import token_create
from marketplace.services import listing_create, listing_purchase, listing_withdraw
from social.services import collaborator_set, share_create
from tests.conftest import ApiClient
from tests.factories import AgentFactory, RunFactory, ToolFactory, UserFactory, tool_source
from tools_registry.models import Tool

# --- the scenario ------------------------------------------------------------------------------


@dataclass
class Scenario:
    owner: Any
    renter: Any
    agent: Any  # the owner's agent, running, rented out to `renter` (its rent listing is active)
    private: Any  # the owner's other agent: running, never listed (a withdrawn listing only)
    rent_listing: Any  # active
    closed_listing: Any  # withdrawn, of `private`
    run_owner: Any  # the owner's run on `agent`, in flight
    run_renter: Any  # the renter's finished run on `agent` (so the renter may rate it)
    tool: Any  # a custom tool of the owner
    builtin: str  # a built-in tool's name
    public: Any  # the owner's third agent: public, running, never listed
    editor: Any  # an editor of `agent` and `private`
    user: Any  # a collaborator with role user of `agent` and `private`
    share_token: str  # a live share link of `run_renter`

    def ids(self) -> dict:
        return {
            "agent": self.agent.pk,
            "private": self.private.pk,
            "rent_listing": self.rent_listing.pk,
            "closed_listing": self.closed_listing.pk,
            "run_owner": self.run_owner.pk,
            "run_renter": self.run_renter.pk,
            "tool": self.tool.name,
            "builtin": self.builtin,
            "public": self.public.pk,
            "owner_name": self.owner.username,
            "editor_name": self.editor.username,
            "token": self.share_token,
        }


@pytest.fixture
def scenario(db) -> Scenario:
    owner, renter = UserFactory(), UserFactory()
    agent = AgentFactory(owner=owner, state="running")
    rent_listing = listing_create(
        agent=agent, seller=owner, listing_type="rent", price=Decimal("5.00"), rental_days=7
    )
    listing_purchase(listing=rent_listing, buyer=renter)  # the real rental path
    private = AgentFactory(owner=owner, state="running")
    closed = listing_create(agent=private, seller=owner, listing_type="sale", price=Decimal("9"))
    listing_withdraw(listing=closed, by=owner)
    editor, user = UserFactory(), UserFactory()
    for shared in (agent, private):
        collaborator_set(agent=shared, by=owner, username=editor.username, role="editor")
        collaborator_set(agent=shared, by=owner, username=user.username, role="user")
    run_renter = RunFactory(conversation__agent=agent, conversation__user=renter)
    return Scenario(
        owner=owner,
        renter=renter,
        agent=agent,
        private=private,
        rent_listing=rent_listing,
        closed_listing=closed,
        run_owner=RunFactory(
            conversation__agent=agent, conversation__user=owner, status="running", output=None
        ),
        run_renter=run_renter,
        tool=ToolFactory(owner=owner),
        builtin=Tool.objects.builtin().get(name="web_search").name,
        public=AgentFactory(owner=owner, state="running", visibility="public"),
        editor=editor,
        user=user,
        share_token=share_create(run=run_renter, by=renter)[0].token,
    )


# --- roles ---------------------------------------------------------------------------------------


def signed_in(user, surface: str):
    if surface == "api":
        _token, raw = token_create(user=user, name="access matrix")
        return ApiClient(Client(), raw)
    client = Client()
    client.force_login(user)
    return client


def anonymous(surface: str):
    if surface == "api":
        api = ApiClient(Client(), "")
        api.headers = {}  # no Authorization header at all
        return api
    return Client()


ROLES: dict[str, Callable[[Scenario, str], Any]] = {
    "owner": lambda s, surface: signed_in(s.owner, surface),
    "renter": lambda s, surface: signed_in(s.renter, surface),
    "stranger": lambda s, surface: signed_in(UserFactory(), surface),
    "anonymous": lambda s, surface: anonymous(surface),
    # Collaborators of `agent` and `private` (social): an editor may chat, update, start and
    # stop; a user may chat; neither deletes, lists, forks as owner or manages collaborators.
    "collaborator_editor": lambda s, surface: signed_in(s.editor, surface),
    "collaborator_user": lambda s, surface: signed_in(s.user, surface),
}
# Public agents (social) need no role of their own: every signed-in user without a relation
# to the agent is a public viewer, so the `public_*` rows' "stranger" column is that role.

# --- operations ----------------------------------------------------------------------------------

LOGIN = "302 to the login page"


@dataclass(frozen=True)
class Gap:
    """The contract's status where the code answers something else today."""

    status: int
    reason: str


@dataclass(frozen=True)
class Op:
    surface: str  # "page" or "api"
    name: str
    method: str
    path: str
    expect: tuple  # one cell per role, in ROLES order
    body: Any = None


AGENT_FORM = {"name": "Renamed", "model": "openai:echo", "metadata": "{}"}
AGENT_JSON = {"name": "Renamed", "model": "openai:echo"}
CHAT = {"message": "What is 6 times 7?"}
RATING = {"stars": 4, "comment": "Useful."}


def new_version(s: Scenario) -> dict:
    """A second version of the owner's tool: the owner's, and a taken name to anyone else."""
    return {"code": tool_source(s.tool.name, body="return text.lower()")}


def builtin_code(s: Scenario) -> dict:
    return {"code": tool_source(s.builtin)}


A, P = "/dashboard/agents/{agent}", "/dashboard/agents/{private}"
API_A, API_P = "/api/v1/agents/{agent}", "/api/v1/agents/{private}"
ML, MC = "/marketplace/{rent_listing}", "/marketplace/{closed_listing}"
API_ML, API_MC = "/api/v1/marketplace/{rent_listing}", "/api/v1/marketplace/{closed_listing}"

# fmt: off
OPS = [
    #  surface, name, method, path,  (owner, renter, stranger, anonymous, collaborator_editor,
    #  collaborator_user)
    # Listed: public to visitors, read-only; any other id sends them to log in.
    Op("page", "agent_detail", "get", A + "/", (200, 200, 200, 200, 200, 200)),
    Op("page", "private_agent_detail", "get", P + "/", (200, 404, 404, LOGIN, 200, 200)),
    Op("page", "agent_edit", "get", A + "/edit/", (200, 403, 403, LOGIN, 200, 403)),
    Op("page", "agent_edit_post", "post", A + "/edit/", (302, 403, 403, LOGIN, 302, 403),
       AGENT_FORM),
    Op("page", "private_agent_edit", "get", P + "/edit/", (200, 404, 404, LOGIN, 200, 403)),
    Op("page", "agent_start", "post", A + "/start/", (302, 403, 403, LOGIN, 302, 403)),
    Op("page", "agent_stop", "post", A + "/stop/", (302, 403, 403, LOGIN, 302, 403)),
    Op("page", "agent_delete", "get", A + "/delete/", (200, 403, 403, LOGIN, 403, 403)),
    # The owner is refused (a renter's unexpired rental) with a redirect back and a message.
    Op("page", "agent_delete_post", "post", A + "/delete/", (302, 403, 403, LOGIN, 403, 403)),
    Op("page", "private_agent_delete_post", "post", P + "/delete/",
       (302, 404, 404, LOGIN, 403, 403)),
    Op("page", "chat", "get", A + "/chat/", (200, 200, 403, LOGIN, 200, 200)),
    Op("page", "chat_post", "post", A + "/chat/", (302, 302, 403, LOGIN, 302, 302),
       CHAT),
    Op("page", "private_chat_post", "post", P + "/chat/", (302, 404, 404, LOGIN, 302, 302),
       CHAT),
    Op("page", "run_detail", "get", "/dashboard/runs/{run_owner}/",
       (200, 404, 404, LOGIN, 404, 404)),
    Op("page", "renter_run_detail", "get", "/dashboard/runs/{run_renter}/",
       (404, 200, 404, LOGIN, 404, 404)),
    Op("page", "run_cancel", "post", "/dashboard/runs/{run_owner}/cancel/",
       (302, 404, 404, LOGIN, 404, 404)),
    Op("page", "renter_run_cancel", "post", "/dashboard/runs/{run_renter}/cancel/",
       (404, 302, 404, LOGIN, 404, 404)),
    Op("page", "agent_stats", "get", "/leaderboard/agents/{agent}/",
       (200, 200, 200, LOGIN, 200, 200)),
    Op("page", "private_agent_stats", "get", "/leaderboard/agents/{private}/",
       (200, 404, 404, LOGIN, 200, 200)),
    Op("page", "rating_post", "post", "/leaderboard/agents/{agent}/rating/",
       (403, 302, 403, LOGIN, 403, 403), RATING),
    Op("page", "listing_detail", "get", ML + "/", (200, 200, 200, 200, 200, 200)),
    Op("page", "closed_listing_detail", "get", MC + "/", (200, 404, 404, LOGIN, 404, 404)),
    Op("page", "listing_purchase", "post", ML + "/purchase/", (409, 302, 302, LOGIN, 302, 302)),
    # The page answers with the listing page, so it asks need="see": a closed listing stays
    # 404 to those who never saw it. The API's purchase asks need="buy" (409, docs/API.md).
    Op("page", "closed_listing_purchase", "post", MC + "/purchase/",
       (409, 404, 404, LOGIN, 404, 404)),
    Op("page", "listing_withdraw", "post", ML + "/withdraw/", (302, 403, 403, LOGIN, 403, 403)),
    # The seller gets a redirect with "already withdrawn" (the API: 409).
    Op("page", "closed_listing_withdraw", "post", MC + "/withdraw/",
       (302, 404, 404, LOGIN, 404, 404)),
    Op("page", "my_listings", "get", "/marketplace/mine/", (200, 200, 200, LOGIN, 200, 200)),
    Op("page", "wallet", "get", "/marketplace/wallet/", (200, 200, 200, LOGIN, 200, 200)),
    # Bids (issue 15): the page asks need="see", then the service refuses what is not an
    # auction (409); a closed listing stays 404 to those who never saw it.
    Op("page", "listing_bid", "post", ML + "/bid/", (409, 409, 409, LOGIN, 409, 409),
       {"max_amount": "50.00"}),
    Op("page", "closed_listing_bid", "post", MC + "/bid/", (409, 404, 404, LOGIN, 404, 404),
       {"max_amount": "50.00"}),
    Op("page", "notifications", "get", "/account/notifications/",
       (200, 200, 200, LOGIN, 200, 200)),
    Op("page", "notifications_read", "post", "/account/notifications/read/",
       (302, 302, 302, LOGIN, 302, 302)),
    Op("page", "tool_detail", "get", "/tools/{tool}/", (200, 200, 200, LOGIN, 200, 200)),
    Op("page", "builtin_tool_detail", "get", "/tools/{builtin}/", (200, 200, 200, LOGIN, 200, 200)),
    Op("page", "tool_register", "get", "/tools/register/", (200, 200, 200, LOGIN, 200, 200)),
    Op("page", "tool_new_version", "get", "/tools/register/?from={tool}",
       (200, 403, 403, LOGIN, 403, 403)),
    Op("page", "tool_register_post", "post", "/tools/register/", (302, 409, 409, LOGIN, 409, 409),
       new_version),

    Op("api", "agent_get", "get", API_A, (200, 200, 200, 401, 200, 200)),
    Op("api", "private_agent_get", "get", API_P, (200, 404, 404, 401, 200, 200)),
    Op("api", "agent_update", "put", API_A, (200, 403, 403, 401, 200, 403),
       AGENT_JSON),
    Op("api", "private_agent_update", "put", API_P, (200, 404, 404, 401, 200, 403),
       AGENT_JSON),
    Op("api", "agent_delete", "delete", API_A, (409, 403, 403, 401, 403, 403)),
    Op("api", "private_agent_delete", "delete", API_P, (204, 404, 404, 401, 403, 403)),
    Op("api", "agent_start", "post", API_A + "/start", (200, 403, 403, 401, 200, 403)),
    Op("api", "agent_stop", "post", API_A + "/stop", (200, 403, 403, 401, 200, 403)),
    Op("api", "agent_chat", "post", API_A + "/chat", (202, 202, 403, 401, 202, 202),
       CHAT),
    Op("api", "private_agent_chat", "post", API_P + "/chat", (202, 404, 404, 401, 202, 202),
       CHAT),
    Op("api", "agent_activity", "get", API_A + "/activity", (200, 403, 403, 401, 403, 403)),
    Op("api", "agent_conversations", "get", API_A + "/conversations",
       (200, 200, 200, 401, 200, 200)),
    Op("api", "private_agent_conversations", "get", API_P + "/conversations",
       (200, 404, 404, 401, 200, 200)),
    Op("api", "run_get", "get", "/api/v1/runs/{run_owner}", (200, 404, 404, 401, 404, 404)),
    Op("api", "renter_run_get", "get", "/api/v1/runs/{run_renter}",
       (404, 200, 404, 401, 404, 404)),
    Op("api", "run_cancel", "post", "/api/v1/runs/{run_owner}/cancel",
       (200, 404, 404, 401, 404, 404)),
    Op("api", "renter_run_cancel", "post", "/api/v1/runs/{run_renter}/cancel",
       (404, 200, 404, 401, 404, 404)),
    Op("api", "agent_stats", "get", API_A + "/stats", (200, 200, 200, 401, 200, 200)),
    Op("api", "private_agent_stats", "get", API_P + "/stats", (200, 404, 404, 401, 200, 200)),
    Op("api", "ratings_get", "get", API_A + "/ratings", (200, 200, 200, 401, 200, 200)),
    Op("api", "rating_post", "post", API_A + "/ratings", (403, 201, 403, 401, 403, 403),
       RATING),
    Op("api", "private_rating_post", "post", API_P + "/ratings", (403, 404, 404, 401, 403, 403),
       RATING),
    Op("api", "listing_get", "get", API_ML, (200, 200, 200, 401, 200, 200)),
    Op("api", "closed_listing_get", "get", API_MC, (200, 404, 404, 401, 404, 404)),
    Op("api", "listing_withdraw", "delete", API_ML, (204, 403, 403, 401, 403, 403)),
    Op("api", "closed_listing_withdraw", "delete", API_MC, (409, 404, 404, 401, 404, 404)),
    Op("api", "listing_purchase", "post", API_ML + "/purchase", (409, 201, 201, 401, 201, 201)),
    Op("api", "closed_listing_purchase", "post", API_MC + "/purchase",
       (409, 409, 409, 401, 409, 409)),
    Op("api", "wallet", "get", "/api/v1/wallet", (200, 200, 200, 401, 200, 200)),
    Op("api", "tool_get", "get", "/api/v1/tools/{tool}", (200, 200, 200, 401, 200, 200)),
    Op("api", "builtin_tool_get", "get", "/api/v1/tools/{builtin}", (200, 200, 200, 401, 200, 200)),
    Op("api", "tool_register", "post", "/api/v1/tools/register", (201, 409, 409, 401, 409, 409),
       new_version),
    Op("api", "builtin_tool_register", "post", "/api/v1/tools/register",
       (409, 409, 409, 401, 409, 409), builtin_code),
    Op("api", "allowlist_put", "put", "/api/v1/imports/allowlist", (403, 403, 403, 401, 403, 403),
       {"modules": ["math"]}),
    # Monitoring: the ops board and /metrics are for staff (none of these roles), a run's trace
    # for whoever may read the run.
    Op("page", "ops_board", "get", "/ops/", (403, 403, 403, LOGIN, 403, 403)),
    Op("page", "metrics", "get", "/metrics", (403, 403, 403, 403, 403, 403)),
    Op("api", "ops", "get", "/api/v1/ops", (403, 403, 403, 401, 403, 403)),
    Op("api", "run_trace", "get", "/api/v1/runs/{run_owner}/trace", (200, 404, 404, 401, 404, 404)),
    Op("api", "renter_run_trace", "get", "/api/v1/runs/{run_renter}/trace",
       (404, 200, 404, 401, 404, 404)),
    # A run's event stream: whoever may read the run (a finished run: it ends at once). An
    # agent's health: its owner; who may only see the agent gets 403.
    Op("api", "renter_run_events", "get", "/api/v1/runs/{run_renter}/events",
       (404, 200, 404, 401, 404, 404)),
    Op("api", "agent_metrics", "get", API_A + "/metrics", (200, 403, 403, 401, 200, 403)),
    Op("api", "private_agent_metrics", "get", API_P + "/metrics", (200, 404, 404, 401, 200, 403)),
    Op("page", "agent_health", "get", A + "/health/", (200, 403, 403, LOGIN, 200, 403)),
    Op("page", "private_agent_health", "get", P + "/health/", (200, 404, 404, LOGIN, 200, 403)),
    # Social. Collaborators (docs/API.md, Social): the owner alone manages them.
    Op("api", "collaborators_get", "get", API_A + "/collaborators",
       (200, 403, 403, 401, 403, 403)),
    Op("api", "private_collaborators_get", "get", API_P + "/collaborators",
       (200, 404, 404, 401, 403, 403)),
    Op("api", "collaborators_post", "post", API_A + "/collaborators",
       (201, 403, 403, 401, 403, 403), lambda s: {"username": s.renter.username, "role": "user"}),
    Op("api", "collaborator_delete", "delete", API_A + "/collaborators/{editor_name}",
       (204, 403, 403, 401, 403, 403)),
    # Forks: the owner, or anyone for a public agent; a private agent stays 404 to strangers.
    Op("api", "agent_fork", "post", API_A + "/fork",
       (201, 403, 403, 401, 403, 403), {}),
    Op("api", "private_agent_fork", "post", API_P + "/fork",
       (201, 404, 404, 401, 403, 403), {}),
    # A public agent: read-only to every signed-in user (the "stranger" column: a public viewer).
    Op("api", "public_agent_get", "get", "/api/v1/agents/{public}",
       (200, 200, 200, 401, 200, 200)),
    Op("api", "public_agent_stats", "get", "/api/v1/agents/{public}/stats",
       (200, 200, 200, 401, 200, 200)),
    Op("api", "public_agent_update", "put", "/api/v1/agents/{public}",
       (200, 403, 403, 401, 403, 403), AGENT_JSON),
    Op("api", "public_agent_chat", "post", "/api/v1/agents/{public}/chat",
       (202, 403, 403, 401, 403, 403), CHAT),
    Op("api", "public_agent_fork", "post", "/api/v1/agents/{public}/fork",
       (201, 201, 201, 401, 201, 201), {}),
    Op("api", "public_agents", "get", "/api/v1/agents?scope=public",
       (200, 200, 200, 401, 200, 200)),
    Op("page", "public_agent_detail", "get", "/dashboard/agents/{public}/",
       (200, 200, 200, LOGIN, 200, 200)),
    # Share links: the user who started the run; the shared run is public, read-only.
    Op("api", "run_share", "post", "/api/v1/runs/{run_owner}/share",
       (201, 404, 404, 401, 404, 404)),
    Op("api", "renter_run_share", "post", "/api/v1/runs/{run_renter}/share",
       (404, 200, 404, 401, 404, 404)),
    Op("api", "renter_run_unshare", "delete", "/api/v1/runs/{run_renter}/share",
       (404, 204, 404, 401, 404, 404)),
    Op("api", "shared_run", "get", "/api/v1/shared/{token}",
       (200, 200, 200, 200, 200, 200)),
    Op("page", "shared_run_page", "get", "/s/{token}/",
       (200, 200, 200, 200, 200, 200)),
    # Follows, profiles, the feed: every signed-in user; following oneself is a 409.
    Op("api", "follow_owner", "post", "/api/v1/users/{owner_name}/follow",
       (409, 201, 201, 401, 201, 201)),
    Op("api", "unfollow_owner", "delete", "/api/v1/users/{owner_name}/follow",
       (204, 204, 204, 401, 204, 204)),
    Op("api", "user_profile", "get", "/api/v1/users/{owner_name}",
       (200, 200, 200, 401, 200, 200)),
    Op("api", "feed", "get", "/api/v1/feed",
       (200, 200, 200, 401, 200, 200)),
    # Social pages and the POST actions of the social panels.
    Op("page", "explore", "get", "/explore/", (200, 200, 200, LOGIN, 200, 200)),
    Op("page", "profile", "get", "/u/{owner_name}/", (200, 200, 200, LOGIN, 200, 200)),
    Op("page", "feed", "get", "/feed/", (200, 200, 200, LOGIN, 200, 200)),
    Op("page", "agent_fork_post", "post", "/social/agents/{agent}/fork/",
       (302, 403, 403, LOGIN, 403, 403)),
    Op("page", "private_agent_fork_post", "post", "/social/agents/{private}/fork/",
       (302, 404, 404, LOGIN, 403, 403)),
    Op("page", "public_agent_fork_post", "post", "/social/agents/{public}/fork/",
       (302, 302, 302, LOGIN, 302, 302)),
    Op("page", "collaborator_add_post", "post", "/social/agents/{agent}/collaborators/",
       (302, 403, 403, LOGIN, 403, 403), lambda s: {"username": s.renter.username, "role": "user"}),
    Op("page", "private_collaborator_remove_post", "post",
       "/social/agents/{private}/collaborators/{editor_name}/remove/",
       (302, 404, 404, LOGIN, 403, 403)),
    Op("page", "run_share_post", "post", "/social/runs/{run_owner}/share/",
       (302, 404, 404, LOGIN, 404, 404)),
    Op("page", "renter_run_unshare_post", "post", "/social/runs/{run_renter}/unshare/",
       (404, 302, 404, LOGIN, 404, 404)),
]
# fmt: on


def cases():
    for op in OPS:
        assert len(op.expect) == len(ROLES), f"{op.name}: one expectation per role in ROLES"
        for role, cell in zip(ROLES, op.expect, strict=True):
            marks = ()
            if isinstance(cell, Gap):
                marks = pytest.mark.xfail(strict=True, reason=cell.reason)
                cell = cell.status
            yield pytest.param(op, role, cell, id=f"{op.surface}-{op.name}-{role}", marks=marks)


def send(client, method: str, path: str, body):
    if method == "delete":
        return client.delete(path)
    return getattr(client, method)(path, body or {})


@pytest.mark.django_db
@pytest.mark.parametrize(("op", "role", "expected"), list(cases()))
def test_access(scenario, op, role, expected):
    client = ROLES[role](scenario, op.surface)
    body = op.body(scenario) if callable(op.body) else op.body

    response = send(client, op.method, op.path.format(**scenario.ids()), body)

    to_login = response.status_code == 302 and response["Location"].startswith(
        resolve_url(settings.LOGIN_URL)
    )
    got = LOGIN if to_login else response.status_code
    assert got == expected, (got, response.content[:300])
