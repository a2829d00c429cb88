from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import F
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.http import AuthedHttpRequest
from core.errors import Conflict, Invalid
from core.pagecache import Parts, cached_page, related_table, row_version, rows_version

from .forms import EXAMPLE, ToolFilterForm, ToolRegisterForm
from .models import Tool, ToolVersion
from .rendering import diff_lines, highlight_python
from .services import allowed_modules, tool_check
from .services import tool_register as register_tool

PAGE_SIZE = 25
TOOL_ROW = ("id", "name", "description", "builtin", "latest_version", "status", "runnable")


def get_tool(request: AuthedHttpRequest, name: str, *, need: str = "see") -> Tool:
    return Tool.objects.for_listing().get_for(request.user, name, need=need)


def _tool_list_parts(request: AuthedHttpRequest) -> Parts | None:
    """What the registry's first page without filters shows, for the page cache: how many
    tools there are (and whether any is registered), and the page's rows with their owners.
    Searches, filters and later pages render as usual."""
    if request.GET:
        return None
    tools, users = Tool._meta.db_table, related_table(Tool, "owner")
    return [
        f"SELECT count(*)::text || ':' || count(*) FILTER (WHERE NOT t.builtin)::text"
        f" FROM {tools} t",
        rows_version(
            f"SELECT {row_version('t')} || coalesce({row_version('u')}, '') AS v"
            f" FROM {tools} t LEFT JOIN {users} u ON u.id = t.owner_id"
            f" ORDER BY t.builtin DESC, t.name LIMIT {PAGE_SIZE}"
        ),
    ], {}


@require_GET
@cached_page(_tool_list_parts)
@login_required
def tool_list(request: AuthedHttpRequest) -> HttpResponse:
    form = ToolFilterForm(request.GET or None)
    # A row of the table as values: a page of 25 dicts, not 50 model objects (issue 13).
    tools = Tool.objects.values(*TOOL_ROW, owner_name=F("owner__username"))
    if form.is_valid():
        data = form.cleaned_data
        tools = tools.search(data["q"])
        if data["kind"] == "builtin":
            tools = tools.builtin()
        elif data["kind"] == "custom":
            tools = tools.custom()
        elif data["kind"] == "mine":
            tools = tools.owned_by(request.user)
        if data["status"]:
            tools = tools.filter(status=data["status"])
    page = Paginator(tools, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    template = "tools_registry/tool_list.html"
    if request.htmx:
        template += "#tool-results"
    # The built-ins are always listed; say so when nobody has registered a tool yet (no
    # query when this page already shows a registered one).
    none_registered = (
        not request.GET
        and not any(not tool["builtin"] for tool in page.object_list)
        and not Tool.objects.custom().exists()
    )
    return render(
        request,
        template,
        {
            "form": form,
            "page": page,
            # The table's rows are cached under everything they show.
            "rows_key": [tuple(tool.values()) for tool in page.object_list],
            "query": query.urlencode(),
            "filtered": bool(request.GET),
            "none_registered": none_registered,
        },
    )


@require_GET
@login_required
def tool_detail(request: AuthedHttpRequest, name: str) -> HttpResponse:
    tool = get_tool(request, name)
    versions = list(tool.versions.select_related("created_by"))
    by_number = {version.version: version for version in versions}
    selected = _version_param(request.GET.get("version"), by_number) or (
        versions[0] if versions else None
    )
    diff = None
    old = _version_param(request.GET.get("from"), by_number)
    new = _version_param(request.GET.get("to"), by_number)
    if old and new:
        diff = {
            "old": old,
            "new": new,
            "lines": diff_lines(
                old.code,
                new.code,
                old_label=f"version {old.version}",
                new_label=f"version {new.version}",
            ),
        }
    template = "tools_registry/tool_detail.html"
    if request.htmx and request.htmx.target in {"version-code", "version-diff"}:
        template += f"#{request.htmx.target}"
    return render(
        request,
        template,
        {
            "tool": tool,
            "versions": versions,
            "selected": selected,
            "selected_html": highlight_python(selected.code) if selected else "",
            "diff": diff,
            "is_owner": tool.is_owned_by(request.user),
        },
    )


def _version_param(value: str | None, by_number: dict[int, ToolVersion]) -> ToolVersion | None:
    if value is None:
        return None
    try:
        return by_number[int(value)]
    except (ValueError, KeyError, OverflowError):
        raise Http404("No such version.") from None


@require_http_methods(["GET", "POST"])
@login_required
def tool_register(request: AuthedHttpRequest) -> HttpResponse:
    initial = {"code": EXAMPLE}
    base = request.GET.get("from")
    if base:
        # "New version" starts from the caller's own latest code.
        tool = get_tool(request, base, need="own")
        latest = tool.versions.first()
        initial = {"code": latest.code if latest else ""}
    form = ToolRegisterForm(request.POST or None, initial=initial)
    action = request.POST.get("action", "save")
    check, problems, status = None, [], 200
    if request.method == "POST":
        if not form.is_valid():
            status = 422
        elif action == "check":
            check = tool_check(code=form.cleaned_data["code"], owner=request.user)
            problems = check.messages
        else:
            try:
                tool = register_tool(
                    owner=request.user,
                    code=form.cleaned_data["code"],
                    description=form.cleaned_data["description"] or None,
                )
            except (Invalid, Conflict) as exc:
                problems = exc.detail if isinstance(exc.detail, list) else [exc.detail]
                status = exc.status
            else:
                messages.success(request, f"Saved {tool.name} version {tool.latest_version}.")
                return redirect("tools_registry:tool_detail", name=tool.name)
    template = "tools_registry/tool_register.html"
    if request.htmx and action == "check":
        # htmx does not swap 4xx responses; the fragment carries the verdict instead.
        template += "#validation-result"
        status = 200
    return render(
        request,
        template,
        {
            "form": form,
            "check": check,
            "problems": problems,
            "allowed_modules": allowed_modules(),
            "base": base,
        },
        status=status,
    )
