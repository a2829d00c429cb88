import time

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status
from ninja.pagination import paginate
from ninja.renderers import JSONRenderer

from core.pagecache import serve
from core.pagination import LimitOffsetPagination
from core.schemas import IdPath, errors

from . import services
from .models import Agent, Run, usable_page_sql
from .schemas import (
    ActivityOut,
    AgentFilter,
    AgentForkIn,
    AgentIn,
    AgentOut,
    ChatIn,
    ConversationOut,
    PagedAgentOut,
    RunOut,
)
from .validation import AgentConfig

router = Router(tags=["agents"])

ERRORS = errors(403, 404, 409)
AgentId = IdPath()
RunId = IdPath()


def _agents():
    return Agent.objects.select_related("owner", "stats").with_forks_count()


def _agent(request: HttpRequest, agent_id: int, *, need: str = "see") -> Agent:
    """The agent through its access rule (Agent.objects.get_for): 404 to strangers (it
    exists for them only if owned, rented or listed), 403 beyond what they may do."""
    return _agents().get_for(request.auth, agent_id, need=need)


def _config(payload: AgentIn) -> AgentConfig:
    return AgentConfig(**payload.dict(exclude={"visibility"}))


@router.post("/agents", response={201: AgentOut, **ERRORS}, summary="Create an agent")
def agent_create(request: HttpRequest, payload: AgentIn):
    agent = services.agent_create(
        owner=request.auth, config=_config(payload), visibility=payload.visibility or "private"
    )
    return Status(201, _agents().get(pk=agent.pk))


# The largest page end the page cache keeps (its fingerprint reads that many rows).
KEPT_PAGE_END = 200


@router.get(
    "/agents",
    response={200: PagedAgentOut, **errors()},
    summary="Agents you own, rent or collaborate on; or every public agent (scope=public)",
)
def agent_list(
    request: HttpRequest,
    filters: Query[AgentFilter],
    page: Query[LimitOffsetPagination.Input],
):
    # Paginated as django-ninja's @paginate does (the same parameters, bounded by their
    # schema, and output), by hand: a page of the caller's own agents is kept under its
    # fingerprint (core.pagecache).
    limit = page.limit

    def render() -> HttpResponse:
        public = filters.scope == "public"
        agents = _agents().public() if public else _agents().usable_by(request.auth)
        if filters.state:
            agents = agents.filter(state=filters.state)
        if filters.owned is True:
            agents = agents.filter(owner=request.auth)
        elif filters.owned is False:
            agents = agents.exclude(owner=request.auth)
        items = list(agents[page.offset : page.offset + limit])
        data = PagedAgentOut.model_validate({"items": items, "count": agents.count()})
        # Encoded as the API's renderer encodes every response (django-ninja's default).
        return HttpResponse(
            JSONRenderer().render(request, data.model_dump(), response_status=200),
            content_type="application/json; charset=utf-8",
        )

    def parts_of():
        mine = filters.scope == "mine" and filters.state is None and filters.owned is None
        if not mine or page.offset + limit > KEPT_PAGE_END:
            return None
        return usable_page_sql(limit=limit, offset=page.offset), {}

    return serve(
        request,
        view_id="agents.api.agent_list",
        parts_of=parts_of,
        render=render,
        authenticated=True,
    )


@router.get("/agents/{agent_id}", response={200: AgentOut, **ERRORS})
def agent_detail(request: HttpRequest, agent_id: int = AgentId):
    return _agent(request, agent_id)


@router.put("/agents/{agent_id}", response={200: AgentOut, **ERRORS}, summary="Replace the config")
def agent_update(request: HttpRequest, payload: AgentIn, agent_id: int = AgentId):
    agent = _agent(request, agent_id, need="edit")
    services.agent_update(
        agent=agent, by=request.auth, config=_config(payload), visibility=payload.visibility
    )
    return _agents().get(pk=agent.pk)


@router.post("/agents/{agent_id}/fork", response={201: AgentOut, **ERRORS}, summary="Fork an agent")
def agent_fork(request: HttpRequest, payload: AgentForkIn, agent_id: int = AgentId):
    agent = _agent(request, agent_id)  # 404 unless the caller may see it
    fork = services.agent_fork(agent=agent, by=request.auth, name=payload.name)
    return Status(201, _agents().get(pk=fork.pk))


@router.delete("/agents/{agent_id}", response={204: None, **ERRORS})
def agent_delete(request: HttpRequest, agent_id: int = AgentId):
    services.agent_delete(agent=_agent(request, agent_id, need="own"), by=request.auth)
    return Status(204, None)


@router.post("/agents/{agent_id}/start", response={200: AgentOut, **ERRORS})
def agent_start(request: HttpRequest, agent_id: int = AgentId):
    agent = services.agent_start(agent=_agent(request, agent_id, need="edit"), by=request.auth)
    return _agents().get(pk=agent.pk)


@router.post("/agents/{agent_id}/stop", response={200: AgentOut, **ERRORS})
def agent_stop(request: HttpRequest, agent_id: int = AgentId):
    agent = services.agent_stop(agent=_agent(request, agent_id, need="edit"), by=request.auth)
    return _agents().get(pk=agent.pk)


@router.get(
    "/agents/{agent_id}/activity", response={200: list[ActivityOut], **ERRORS}, summary="Feed"
)
@paginate
def agent_activity(request: HttpRequest, agent_id: int = AgentId):
    agent = _agent(request, agent_id, need="own")
    return agent.activities.select_related("actor")


def _runs():
    return Run.objects.prefetch_related("steps")


@router.post("/agents/{agent_id}/chat", response={200: RunOut, 202: RunOut, **ERRORS})
def agent_chat(request: HttpRequest, payload: ChatIn, agent_id: int = AgentId):
    agent = _agent(request, agent_id, need="use")
    run = services.run_start(
        agent=agent,
        user=request.auth,
        message=payload.message,
        conversation_id=payload.conversation_id,
    )
    if payload.wait:
        deadline = time.monotonic() + settings.AGENT_CHAT_WAIT_SECONDS
        delay = 0.05
        while time.monotonic() < deadline:
            run.refresh_from_db(fields=["status"])
            if run.is_final:
                return Status(200, _runs().get(pk=run.pk))
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
    return Status(202, _runs().get(pk=run.pk))


@router.get("/runs/{run_id}", response={200: RunOut, **ERRORS})
def run_detail(request: HttpRequest, run_id: int = RunId):
    return _runs().get_for(request.auth, run_id)


@router.post("/runs/{run_id}/cancel", response={200: RunOut, **ERRORS}, summary="Cancel a run")
def run_cancel(request: HttpRequest, run_id: int = RunId):
    run = Run.objects.select_related("agent").get_for(request.auth, run_id)
    services.run_cancel(run=run, by=request.auth)
    return _runs().get(pk=run.pk)


@router.get("/agents/{agent_id}/conversations", response={200: list[ConversationOut], **ERRORS})
@paginate
def conversation_list(request: HttpRequest, agent_id: int = AgentId):
    agent = _agent(request, agent_id)
    return agent.conversations.filter(user=request.auth).annotate(run_count=Count("runs"))
