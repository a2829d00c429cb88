import functools
import secrets
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from core.errors import Invalid

from .models import ApiToken, Notification, User, hash_token

# last_used_at is informative; writing it on every request would turn every API read into
# a write, so it is refreshed at most once a minute.
LAST_USED_PRECISION = timedelta(minutes=1)

# docs/API.md, Auth: `expires_in_days` is 1–365; without it a token never expires.
TOKEN_MAX_DAYS = 365


def token_create(
    *, user: User, name: str, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """Create a token and return it with its raw value, which is never stored."""
    if expires_in_days is not None and not 1 <= expires_in_days <= TOKEN_MAX_DAYS:
        raise Invalid(f"A token expires in 1 to {TOKEN_MAX_DAYS} days.")
    raw = ApiToken.PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name.strip() or "API token",
        token_hash=hash_token(raw),
        hint=raw[:10],
        expires_at=(timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None),
    )
    return token, raw


def token_revoke(*, token: ApiToken) -> None:
    token.delete()


def token_authenticate(*, raw: str) -> User | None:
    """The active user a raw, unexpired bearer token belongs to, or None."""
    if not raw or not raw.startswith(ApiToken.PREFIX) or len(raw) > 200:
        return None
    now = timezone.now()
    stale, now_value = (
        connection.ops.adapt_datetimefield_value(value)
        for value in (now - LAST_USED_PRECISION, now)
    )
    params = [stale, hash_token(raw), now_value]
    user = next(iter(User.objects.raw(_token_owner_sql(), params)), None)
    if user is None or not user.is_active:
        return None
    if user.token_last_used_stale:  # type: ignore[attr-defined]
        ApiToken.objects.filter(pk=user.token_pk).update(last_used_at=now)  # type: ignore[attr-defined]
    return user


@functools.cache
def _token_owner_sql() -> str:
    """The user of the unexpired token with this hash (ApiTokenQuerySet.unexpired, written
    out), with the token's id and whether its last use is older than the given time. Every
    API request by token asks it, and the ORM took three times as long to build it as the
    database to run it (issue 13)."""
    qn = connection.ops.quote_name
    token, user = ApiToken._meta, User._meta
    t = {field.name: f"t.{qn(field.column)}" for field in token.concrete_fields}
    users = ", ".join(f"u.{qn(field.column)}" for field in user.concrete_fields)
    return (
        f"SELECT {users}, {t['id']} AS token_pk, ({t['last_used_at']} IS NULL"
        f" OR {t['last_used_at']} < %s) AS token_last_used_stale"
        f" FROM {qn(token.db_table)} t JOIN {qn(user.db_table)} u"
        f" ON u.{qn(user.pk.column)} = {t['user']}"
        f" WHERE {t['token_hash']} = %s AND ({t['expires_at']} IS NULL OR {t['expires_at']} > %s)"
    )


# --- notifications -------------------------------------------------------------------------

NOTIFICATION_TEXT_MAX = 300


def notify(*, user: User | None, text: str, url: str = "") -> Notification | None:
    """Tell `user` something (outbid, auction won or ended...). Called by the apps above
    inside their transaction, so the notice commits or rolls back with what it reports.
    A deleted user (None) gets nothing."""
    if user is None or user.pk is None:
        return None
    if url and (not url.startswith("/") or url.startswith("//")):
        # The page renders it as a link: a path on this site, never another site.
        raise ValueError(f"A notification links to a path on this site, not {url!r}.")
    with transaction.atomic():
        notice = Notification.objects.create(
            user_id=user.pk, text=text[:NOTIFICATION_TEXT_MAX], url=(url or "")[:300]
        )
        User.objects.filter(pk=user.pk).update(unread_notifications=F("unread_notifications") + 1)
    return notice


def notifications_mark_read(*, user: User) -> int:
    """Mark every unread notification of the user read; how many were."""
    with transaction.atomic():
        marked = Notification.objects.for_user(user).unread().update(read_at=timezone.now())
        if marked:
            User.objects.filter(pk=user.pk).update(
                unread_notifications=Greatest(F("unread_notifications") - marked, 0)
            )
    return marked
