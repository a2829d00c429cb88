"""Social pages: the public page of a shared run, Explore (public agents), profiles with
follow buttons, the feed, and the POST actions of the agent page's and run card's social
panels (fork, collaborators, share links). Access is the one rule of each resource
(Agent.objects.get_for, Run.objects.get_for); domain refusals are messages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.http import AuthedHttpRequest
from agents.models import Agent, Run, RunStep
from agents.services import agent_fork as agent_fork_service
from core.errors import Conflict, Invalid, NotFound
from core.http import redirect_next

from . import services
from .models import FeedEvent, Follow

PAGE_SIZE = 25


@require_GET
def shared_run(request: HttpRequest, token: str) -> HttpResponse:
    """The public page of a shared run (no login): its message, steps, answer and agent
    name; nothing else of the conversation, nor the agent's configuration. A revoked or
    unknown token is a 404, for visitors too (not the log-in redirect that
    DomainAccessMiddleware gives them for other pages: a link does not need an account)."""
    try:
        run = services.shared_run(token=token)
    except NotFound:
        raise Http404("This link does not exist or was revoked.") from None
    steps = RunStep.objects.filter(run=run).order_by("index")
    response = render(request, "social/shared_run.html", {"run": run, "steps": steps})
    response["X-Robots-Tag"] = "noindex"
    response["Cache-Control"] = "no-store"
    return response


def _page(request: HttpRequest, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


@login_required
@require_GET
def explore(request: AuthedHttpRequest) -> HttpResponse:
    agents = Agent.objects.public().select_related("owner", "stats").with_forks_count()
    return render(request, "social/explore.html", {"page": _page(request, agents)})


@login_required
@require_GET
def profile(request: AuthedHttpRequest, username: str) -> HttpResponse:
    user = services.user_by_username(username)
    agents = Agent.objects.public().filter(owner=user).select_related("stats")
    context = {
        "profile_user": user,
        "followers": Follow.objects.filter(followee=user).count(),
        "following": Follow.objects.filter(follower=user).count(),
        "is_me": user.pk == request.user.pk,
        "i_follow": Follow.objects.filter(follower=request.user, followee=user).exists(),
        "agents": agents[:100],
    }
    return render(request, "social/profile.html", context)


@login_required
@require_POST
def follow(request: AuthedHttpRequest, username: str) -> HttpResponse:
    try:
        services.follow(follower=request.user, username=username)
    except Conflict as exc:
        messages.error(request, exc.message)
    return redirect("social:profile", username=username)


@login_required
@require_POST
def unfollow(request: AuthedHttpRequest, username: str) -> HttpResponse:
    services.unfollow(follower=request.user, username=username)
    return redirect("social:profile", username=username)


@login_required
@require_GET
def feed(request: AuthedHttpRequest) -> HttpResponse:
    events = FeedEvent.objects.for_follower(request.user).select_related("actor")
    return render(request, "social/feed.html", {"page": _page(request, events)})


@login_required
@require_POST
def agent_fork(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    agent = Agent.objects.get_for(request.user, pk)
    fork = agent_fork_service(agent=agent, by=request.user)
    messages.success(request, f"Forked “{agent.name}” as “{fork.name}”. Start it to chat.")
    return redirect("agents:agent_detail", pk=fork.pk)


@login_required
@require_POST
def collaborator_add(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    agent = Agent.objects.get_for(request.user, pk, need="own")
    username = request.POST.get("username", "").strip()
    try:
        row, created = services.collaborator_set(
            agent=agent, by=request.user, username=username, role=request.POST.get("role", "")
        )
    except (Invalid, Conflict) as exc:
        messages.error(request, exc.message)
    except NotFound:
        messages.error(request, f"There is no user “{username}”.")
    else:
        verb = "added as" if created else "is now"
        messages.success(request, f"{row.user.username} {verb} {row.role}.")
    return redirect("agents:agent_detail", pk=agent.pk)


@login_required
@require_POST
def collaborator_remove(request: AuthedHttpRequest, pk: int, username: str) -> HttpResponse:
    agent = Agent.objects.get_for(request.user, pk, need="own")
    try:
        services.collaborator_remove(agent=agent, by=request.user, username=username)
    except NotFound as exc:
        messages.error(request, exc.message)
    return redirect("agents:agent_detail", pk=agent.pk)


@login_required
@require_POST
def run_share(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    run = Run.objects.get_for(request.user, pk)
    services.share_create(run=run, by=request.user)
    return redirect_next(request, reverse("agents:run_detail", args=[run.pk]))


@login_required
@require_POST
def run_unshare(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    run = Run.objects.get_for(request.user, pk)
    services.share_revoke(run=run, by=request.user)
    messages.success(request, "The link is revoked: it no longer opens.")
    return redirect_next(request, reverse("agents:run_detail", args=[run.pk]))
