from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Path, Query, Router, Status
from ninja.pagination import paginate

from core.errors import Forbidden
from core.schemas import ErrorOut, errors

from .models import Tool, ToolVersion
from .schemas import (
    AllowlistIn,
    AllowlistOut,
    ToolDetailOut,
    ToolFilter,
    ToolOut,
    ToolRegisterIn,
    ToolVersionCodeOut,
)
from .services import allowed_modules, allowlist_replace, tool_register

router = Router(tags=["tools"])
ERRORS = errors(403, 404, 409)


@router.get(
    "/tools", response={200: list[ToolOut], **errors()}, summary="Built-in and registered tools"
)
@paginate
def tool_list(request: HttpRequest, filters: Query[ToolFilter]):
    return filters.filter(Tool.objects.for_listing())


@router.post(
    "/tools/register",
    response={201: ToolOut, **ERRORS},
    summary="Register a tool, or the next version of your tool of that name",
)
def tool_register_op(request: HttpRequest, payload: ToolRegisterIn):
    tool = tool_register(owner=request.auth, code=payload.code, description=payload.description)
    return Status(201, tool)


@router.get("/tools/{name}", response={200: ToolDetailOut, **ERRORS}, summary="One tool")
def tool_detail(request: HttpRequest, name: str):
    return (
        Tool.objects.for_listing()
        .prefetch_related("versions__created_by")
        .get_for(request.auth, name)
    )


@router.get(
    "/tools/register",
    response={200: ToolDetailOut, **ERRORS},
    summary="The tool named 'register' (its /tools/{name} path is the one above)",
)
def tool_detail_named_register(request: HttpRequest):
    # Django routes GET /tools/register to the path of the POST above, not to /tools/{name}:
    # without this, a tool named "register" would answer 405 instead of itself.
    return tool_detail(request, "register")


@router.get(
    "/tools/{name}/versions/{version}",
    response={200: ToolVersionCodeOut, **ERRORS},
    summary="One version of a tool, with its code",
)
def tool_version_detail(
    request: HttpRequest, name: str, version: int = Path(..., ge=1, le=2_147_483_647)
):
    tool = Tool.objects.get_for(request.auth, name)
    return get_object_or_404(
        ToolVersion.objects.select_related("created_by"), tool=tool, version=version
    )


@router.get(
    "/imports/allowlist",
    response={200: AllowlistOut, 401: ErrorOut},
    summary="Modules tools may import",
)
def allowlist_get(request: HttpRequest):
    return {"modules": allowed_modules()}


@router.put(
    "/imports/allowlist",
    response={200: AllowlistOut, **ERRORS},
    summary="Replace the allowlist (staff only); tools that lose an import become invalid",
)
def allowlist_put(request: HttpRequest, payload: AllowlistIn):
    if not request.auth.is_staff:
        raise Forbidden("Only staff may change the import allowlist.")
    invalidated = allowlist_replace(modules=payload.modules)
    return {"modules": allowed_modules(), "invalidated": invalidated}
