from django.http import HttpRequest
from django.urls import reverse
from ninja import Router, Status
from ninja.pagination import paginate

from agents.models import Agent, Run
from agents.schemas import RunOut
from core.schemas import IdPath, errors

from . import services
from .models import Collaborator, FeedEvent, Follow
from .schemas import CollaboratorIn, CollaboratorOut, FeedEventOut, ShareOut, UserProfileOut

router = Router(tags=["social"])

ERRORS = errors(403, 404, 409)
AgentId = IdPath()
RunId = IdPath()


def _owned(request: HttpRequest, agent_id: int) -> Agent:
    """The agent, for its owner only (the access rule: 404 to strangers, 403 to those who
    see it, collaborators included)."""
    return Agent.objects.get_for(request.auth, agent_id, need="own")


# --- collaborators -------------------------------------------------------------------------


@router.get(
    "/agents/{agent_id}/collaborators",
    response={200: list[CollaboratorOut], **ERRORS},
    summary="An agent's collaborators (owner)",
)
@paginate
def collaborator_list(request: HttpRequest, agent_id: int = AgentId):
    agent = _owned(request, agent_id)
    return Collaborator.objects.filter(agent=agent).select_related("user")


@router.post(
    "/agents/{agent_id}/collaborators",
    response={200: CollaboratorOut, 201: CollaboratorOut, **ERRORS},
    summary="Add a collaborator or change their role (owner)",
)
def collaborator_set(request: HttpRequest, payload: CollaboratorIn, agent_id: int = AgentId):
    agent = _owned(request, agent_id)
    row, created = services.collaborator_set(
        agent=agent, by=request.auth, username=payload.username, role=payload.role
    )
    return Status(201 if created else 200, row)


@router.delete(
    "/agents/{agent_id}/collaborators/{username}",
    response={204: None, **ERRORS},
    summary="Remove a collaborator (owner)",
)
def collaborator_remove(request: HttpRequest, username: str, agent_id: int = AgentId):
    agent = _owned(request, agent_id)
    services.collaborator_remove(agent=agent, by=request.auth, username=username)
    return Status(204, None)


# --- share links ---------------------------------------------------------------------------


def _share_out(link) -> dict:
    return {"token": link.token, "url": reverse("social:shared_run", args=[link.token])}


@router.post(
    "/runs/{run_id}/share",
    response={200: ShareOut, 201: ShareOut, **ERRORS},
    summary="Share a run by a public link (the user who started it)",
)
def run_share(request: HttpRequest, run_id: int = RunId):
    run = Run.objects.get_for(request.auth, run_id)
    link, created = services.share_create(run=run, by=request.auth)
    return Status(201 if created else 200, _share_out(link))


@router.delete(
    "/runs/{run_id}/share", response={204: None, **ERRORS}, summary="Revoke a run's share link"
)
def run_unshare(request: HttpRequest, run_id: int = RunId):
    run = Run.objects.get_for(request.auth, run_id)
    services.share_revoke(run=run, by=request.auth)
    return Status(204, None)


@router.get(
    "/shared/{token}",
    response={200: RunOut, **errors(404)},
    auth=None,
    summary="A shared run (no authentication)",
)
def shared_run(request: HttpRequest, token: str):
    run = services.shared_run(token=token)
    return Run.objects.prefetch_related("steps").get(pk=run.pk)


# --- follows and profiles ------------------------------------------------------------------


@router.post(
    "/users/{username}/follow",
    response={200: None, 201: None, **ERRORS},
    summary="Follow a user",
)
def user_follow(request: HttpRequest, username: str):
    created = services.follow(follower=request.auth, username=username)
    return Status(201 if created else 200, None)


@router.delete(
    "/users/{username}/follow", response={204: None, **ERRORS}, summary="Unfollow a user"
)
def user_unfollow(request: HttpRequest, username: str):
    services.unfollow(follower=request.auth, username=username)
    return Status(204, None)


@router.get("/users/{username}", response={200: UserProfileOut, **ERRORS}, summary="A profile")
def user_profile(request: HttpRequest, username: str):
    user = services.user_by_username(username)
    agents = (
        Agent.objects.public()
        .filter(owner=user)
        .select_related("owner", "stats")
        .with_forks_count()
    )
    return {
        "username": user.username,
        "followers": Follow.objects.filter(followee=user).count(),
        "following": Follow.objects.filter(follower=user).count(),
        "public_agents": list(agents[:100]),
    }


# --- feed ----------------------------------------------------------------------------------


@router.get(
    "/feed",
    response={200: list[FeedEventOut], **errors()},
    summary="Events by the users you follow, newest first",
)
@paginate
def feed(request: HttpRequest):
    return FeedEvent.objects.for_follower(request.auth).select_related("actor")
