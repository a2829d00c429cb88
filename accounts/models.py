import hashlib

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.errors import NotFound


class User(AbstractUser):
    """Agentbay's user. Custom from the first migration so fields can be added later."""

    # The header's unread count on every signed-in page, kept on the row the session already
    # loads instead of a COUNT per page (issue 13). Written only by accounts.services
    # (notify: +1, notifications_mark_read: minus what it marked), with F() in the
    # notice's own transaction, so concurrent writers never lose a count.
    unread_notifications = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username


def hash_token(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast unsalted hash is enough: there is
    # nothing to brute-force, and lookups stay a single indexed equality.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def for_user(self, user: User) -> "ApiTokenQuerySet":
        return self.filter(user=user)

    def unexpired(self) -> "ApiTokenQuerySet":
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))

    def get_for(self, user: User, pk) -> "ApiToken":
        """The access rule for tokens, shared by pages and the API: a token is its owner's
        alone; anyone else's (or an unknown id) raises NotFound."""
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            raise NotFound("Token not found.") from None
        token = self.for_user(user).filter(pk=pk).first()
        if token is None:
            raise NotFound("Token not found.")
        return token


class ApiToken(models.Model):
    """A bearer token for scripts. Only the hash is stored; the raw token is shown once."""

    PREFIX = "ab_"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What this token is for, e.g. 'CI script'.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters of the raw token, so a user can tell tokens apart.
    hint = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Refreshed at most once a minute (accounts.services.LAST_USED_PRECISION).
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    # None: never expires. From then on the token authenticates nobody (401).
    expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class NotificationQuerySet(models.QuerySet):
    def for_user(self, user: User) -> "NotificationQuerySet":
        return self.filter(user=user)

    def unread(self) -> "NotificationQuerySet":
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """A notice for one user (outbid, won, sold...): written by accounts.services.notify,
    which the apps above call; shown in the header's count and on the notifications page."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    text = models.CharField(max_length=300)
    # A path on this site (e.g. the auction's page), or empty.
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_user_created"),
            # The header's unread count: one index-only look-up per signed-in page.
            models.Index(
                fields=["user"], condition=Q(read_at__isnull=True), name="notification_unread"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.text[:50]}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
