import hashlib

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.errors import NotFound


class User(AbstractUser):
    """Agentbay's user. Custom from the first migration so fields can be added later."""

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
