"""Whole pages kept in each process's memory, under a fingerprint of what they show (issue 13).

A rich page costs more in Python than in the database: the agent page gathers 13 queries from
six apps, and building those queries and rendering their templates takes most of its time.
So a GET to such a page first asks PostgreSQL one question, a fingerprint: the version of
each row the page shows, read from the row's system columns `xmin` (the transaction that
wrote this version) and `ctid` (where the version lies). Every write makes a new version of
the row, whatever wrote it: a service, a queryset `update()`, an F() counter, the admin or
raw SQL. The page's HTML is kept under the view, the path, the viewer, that fingerprint
and the current minute; a request whose fingerprint matches gets the kept HTML with its
own CSRF token put in, and nothing else of the view runs.

What a page shows is its owner's to say: the view lists SQL expressions (`parts`), one per
thing shown, each returning text (`row_version`, `rows_version`). A part that is missing
shows as a stale page until the minute turns: the minute in the key bounds that, and also
keeps times ("3 minutes ago", "expires in…") and anything computed from the clock right.
Access checks that depend on time (an unexpired rental) go into the parts with `%(now)s`.

A signed-in hit asks nothing else: not the session, not the user. The process remembers
which user each session it has served belongs to, and the fingerprint holds the session's
row (gone or expired: NULL) and the user's row with the page's. A page is kept only after
Django's own authentication passed for it, under the versions of the session and user rows
it read, so any change that could change that answer (a log-out, an expiry, a new password,
a deactivated account) changes the key, and the next request is authenticated as usual.

Not kept: other methods, htmx requests (partial swaps), requests with flash messages to
show, responses other than 200, and every database but PostgreSQL (SQLite has no row
versions, and the development server caches nothing anyway). The
cache is the "fragments" one: per process, cleared by a deploy, off in development.
`PAGE_CACHE=0` turns it off.
"""

import hashlib
import secrets
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.utils import timezone

# What the CSRF context processor gives templates while a page is rendered for keeping; each
# response gets its own token in its place (core.context_processors.csrf). Random per process
# (kept pages are too), so no text a user writes on a page can be taken for it.
CSRF_PLACEHOLDER = f"pagecache-csrf-{secrets.token_hex(16)}"
_PLACEHOLDER = CSRF_PLACEHOLDER.encode()
# A kept page outlives its minute by a little, never longer: the key changes with the minute.
TIMEOUT = 90
# How long the process remembers a session's user (each use checks the session's row).
SESSION_TIMEOUT = 600
# Session engines whose sessions are rows a fingerprint can read.
_DATABASE_SESSIONS = {
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
}

Parts = tuple[list[str], dict[str, Any]]


def row_version(*aliases: str) -> str:
    """The version of a row of each table aliased in a part's FROM, as one text."""
    return " || ".join(f"{alias}.xmin::text || {alias}.ctid::text" for alias in aliases)


def related_table(model: Any, relation: str) -> str:
    """The table behind `model`'s `relation`: a part may read a table of an app above the
    view's own, which the view must not import (docs/DESIGN.md, Layout)."""
    related: Any = model._meta.get_field(relation).related_model
    return related._meta.db_table


def rows_version(select: str) -> str:
    """The versions of the rows a subquery selects (its column `v`, a `row_version()`, and
    its own ORDER BY and LIMIT: the rows the page shows), and how many there are."""
    return f"SELECT count(*)::text || ':' || coalesce(string_agg(v.v, ','), '') FROM ({select}) v"


def fingerprint(parts: list[str], params: dict[str, Any]) -> str:
    """One query (PostgreSQL's: other databases have no row versions): every part's text,
    hashed.

    The query is a prepared statement on its connection: its parts take PostgreSQL well
    under a millisecond to run but several to plan, so each pooled connection plans it once.
    """
    sql = "SELECT " + ", ".join(f"({part})" for part in parts)
    connection.ensure_connection()
    raw = connection.connection
    if settings.PAGE_CACHE_PREPARED and raw.prepare_threshold is None:
        raw.prepare_threshold = 1 << 30  # Django turns preparing off; only what asks is prepared
    # Django's cursors bind parameters on the client, which cannot prepare; this one binds
    # on the server, still through Django's wrapper (query logging, execute_wrapper).
    with cast(Any, connection)._prepare_cursor(_PreparedCursor(raw)) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return hashlib.sha256(repr(row).encode()).hexdigest()


class _PreparedCursor(psycopg.Cursor):
    """A cursor whose statements are prepared (with the connection's threshold set)."""

    def execute(self, query: Any, params: Any = None, *, prepare: Any = None, binary: Any = None):
        return super().execute(query, params, prepare=True, binary=binary)


def _viewer_part() -> str:
    # The frame shows the viewer's name and unread count, both on their user row.
    table = connection.ops.quote_name(get_user_model()._meta.db_table)
    return f"SELECT {row_version('u')} FROM {table} u WHERE u.id = %(viewer)s"


def _session_part() -> str:
    # The session's row while it lasts: NULL once logged out, flushed or expired.
    table = connection.ops.quote_name(Session._meta.db_table)
    return (
        f"SELECT {row_version('s')} FROM {table} s"
        " WHERE s.session_key = %(session)s AND s.expire_date > %(now)s"
    )


def _session_key(request: HttpRequest) -> str | None:
    if settings.SESSION_ENGINE not in _DATABASE_SESSIONS:
        return None
    return request.COOKIES.get(settings.SESSION_COOKIE_NAME) or None


def _memo_key(session: str) -> str:
    return "page-session:" + hashlib.sha256(session.encode()).hexdigest()


def _keepable(request: HttpRequest) -> bool:
    if request.method != "GET" or request.headers.get("HX-Request"):
        return False
    # Flash messages show once, on the next page: that page is rendered, not kept.
    return not len(get_messages(request))  # counting does not mark them shown


def serve(
    request: HttpRequest,
    *,
    view_id: str,
    parts_of: Callable[[], Parts | None],
    render: Callable[[], HttpResponse],
    authenticated: bool = False,
) -> HttpResponse:
    """The response kept for this request, if the fingerprint of `parts_of()` still matches;
    else `render()`'s, kept. `parts_of` returns the parts and their parameters (`viewer`,
    `session` and `now` are added), or None to render this request as usual; `view_id` names
    the view. `authenticated`: the caller has authenticated the request already (the API, by
    token); its user is the viewer, whatever session cookie comes with it."""
    if not settings.PAGE_CACHE or connection.vendor != "postgresql" or not _keepable(request):
        return render()
    cache = caches["fragments"]
    session = None if authenticated else _session_key(request)
    # The session's user, as the process last found it (checked by the fingerprint's session
    # part); else Django's authentication, which a visitor without a session costs nothing.
    viewer = cache.get(_memo_key(session)) if session else None
    if viewer is None:
        viewer = request.user.pk
    request.page_cache_viewer = viewer  # type: ignore[attr-defined]
    spec = parts_of()
    if spec is None:
        return render()
    parts, params = spec
    params = {**params, "viewer": viewer, "session": session, "now": timezone.now()}
    identity_parts = [_viewer_part(), _session_part()] if session else [_viewer_part()]
    version = fingerprint([*identity_parts, *parts], params)
    minute = int(time.time() // 60)
    identity = repr((view_id, request.get_full_path(), viewer, version, minute))
    key = "page:" + hashlib.sha256(identity.encode()).hexdigest()
    kept = cache.get(key)
    if kept is not None:
        headers, body = kept
        response = HttpResponse(_with_token(request, body), headers=headers)
        response.page_cache = "hit"  # type: ignore[attr-defined]
        return response
    request.page_cache_rendering = True  # type: ignore[attr-defined]
    try:
        response = render()
    finally:
        del request.page_cache_rendering  # type: ignore[attr-defined]
    # Rendering authenticated the request (or found a visitor): what it found is kept only
    # for the viewer the key names, and the session's user is remembered.
    user_pk = request.user.pk
    if session and user_pk is not None and request.session.session_key == session:
        cache.set(_memo_key(session), user_pk, SESSION_TIMEOUT)
    elif session:
        cache.delete(_memo_key(session))  # logged out, flushed or expired
    if (
        response.status_code == 200
        and not response.streaming
        and not response.cookies
        and user_pk == viewer
    ):
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        cache.set(key, (headers, response.content), TIMEOUT)
        response.page_cache = "miss"  # type: ignore[attr-defined]
    if not response.streaming:
        response.content = _with_token(request, response.content)
    return response


def viewer_pk(request: HttpRequest) -> int | None:
    """The pk of the user a request comes from (None: a visitor), for a view's `parts_of`:
    as serve() found it, without authenticating the request when the process knows its
    session (the fingerprint checks that session)."""
    if hasattr(request, "page_cache_viewer"):
        return request.page_cache_viewer
    return request.user.pk


def cached_page(parts_of: Callable[..., Parts | None]) -> Callable:
    """Keep a GET view's pages (serve()) under the fingerprint of
    `parts_of(request, *args, **kwargs)`. Put it outside `login_required`: a kept page is
    served without authenticating the request again (serve())."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        view_id = f"{view.__module__}.{view.__qualname__}"

        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return serve(
                request,
                view_id=view_id,
                parts_of=lambda: parts_of(request, *args, **kwargs),
                render=lambda: view(request, *args, **kwargs),
            )

        return wrapper

    return decorator


def _with_token(request: HttpRequest, body: bytes) -> bytes:
    if _PLACEHOLDER not in body:
        return body
    return body.replace(_PLACEHOLDER, get_token(request).encode())
