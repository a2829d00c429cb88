"""Social: collaborators on agents, follows between users, the feed, and share links of
runs. The agents app reads collaborators through the reverse relation `collaborators`
(its one access rule, agents.models.AgentQuerySet.get_for); it never imports social."""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from agents.models import Agent, Run


class Collaborator(models.Model):
    class Role(models.TextChoices):
        EDITOR = "editor"  # chat, update, start, stop
        USER = "user"  # chat

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="collaborators")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collaborations"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "user"], name="unique_collaborator")
        ]
        # The access rule looks collaborators up by user (agents.models).
        indexes = [models.Index(fields=["user", "role"], name="collaborator_user_role")]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.agent}"


class Follow(models.Model):
    follower = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="following"
    )
    followee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="followers"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="unique_follow"),
            models.CheckConstraint(
                condition=~models.Q(follower=models.F("followee")), name="follow_not_self"
            ),
        ]
        indexes = [models.Index(fields=["followee"], name="follow_followee")]

    def __str__(self) -> str:
        return f"{self.follower} follows {self.followee}"


class FeedEventQuerySet(models.QuerySet):
    def for_follower(self, user) -> "FeedEventQuerySet":
        """Events by the users `user` follows, newest first (one query on the actor index)."""
        followed = Follow.objects.filter(follower=user).values("followee_id")
        return self.filter(actor_id__in=followed).order_by("-created_at", "-id")


class FeedEvent(models.Model):
    class Verb(models.TextChoices):
        PUBLISHED_AGENT = "published_agent", "published"
        FORKED_AGENT = "forked_agent", "forked"
        LISTED_AGENT = "listed_agent", "listed"
        SOLD_AGENT = "sold_agent", "sold"
        WON_COMPETITION = "won_competition", "won a competition with"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feed_events"
    )
    verb = models.CharField(max_length=20, choices=Verb.choices)
    # Plain ids, not foreign keys: an event is history and outlives what it names.
    agent_id = models.BigIntegerField(null=True, blank=True)
    listing_id = models.BigIntegerField(null=True, blank=True)
    competition_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = FeedEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["actor", "-created_at"], name="feed_actor_created")]

    def __str__(self) -> str:
        return f"{self.actor} {self.verb}"


def new_token() -> str:
    return secrets.token_urlsafe(32)


class ShareLinkQuerySet(models.QuerySet):
    def active(self) -> "ShareLinkQuerySet":
        return self.filter(revoked_at__isnull=True)


class ShareLink(models.Model):
    """A public, read-only link to one run (its message, steps and answer). One live link
    per run at most; revoking it ends access at once."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="share_links")
    token = models.CharField(max_length=64, unique=True, default=new_token)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ShareLinkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run"], condition=models.Q(revoked_at__isnull=True), name="one_live_share"
            )
        ]

    def __str__(self) -> str:
        return f"Share of run {self.run_id}"
