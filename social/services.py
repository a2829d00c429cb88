"""Social services: the only writers of collaborators, follows, feed events and share links."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from agents.models import Agent, Run
from core.errors import Conflict, Forbidden, Invalid, NotFound

from .models import Collaborator, FeedEvent, Follow, ShareLink

# --- collaborators -------------------------------------------------------------------------


def _check_owner(agent: Agent, by: User) -> None:
    if agent.owner_id != by.pk:
        raise Forbidden("Only the agent's owner can manage its collaborators.")


def user_by_username(username: str) -> User:
    if "\x00" in username:  # no user has one, and PostgreSQL refuses it in a query
        raise NotFound("User not found.")
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound("User not found.")
    return user


@transaction.atomic
def collaborator_set(
    *, agent: Agent, by: User, username: str, role: str
) -> tuple[Collaborator, bool]:
    """Add `username` as a collaborator with `role`, or change their role; (row, created).
    The owner only; the owner cannot collaborate on their own agent."""
    _check_owner(agent, by)
    if role not in Collaborator.Role.values:
        raise Invalid("The role is editor or user.")
    user = user_by_username(username)
    if user.pk == agent.owner_id:
        raise Conflict("The owner cannot be a collaborator of their own agent.")
    row, created = Collaborator.objects.select_for_update().get_or_create(
        agent=agent, user=user, defaults={"role": role}
    )
    if not created and row.role != role:
        row.role = role
        row.save(update_fields=["role"])
    return row, created


@transaction.atomic
def collaborator_remove(*, agent: Agent, by: User, username: str) -> None:
    _check_owner(agent, by)
    deleted, _ = Collaborator.objects.filter(agent=agent, user__username=username).delete()
    if not deleted:
        raise NotFound("This user is not a collaborator of this agent.")


def collaborators_clear(*, agent: Agent) -> int:
    """Remove every collaborator (a sale: the new owner chooses their own)."""
    deleted, _ = Collaborator.objects.filter(agent=agent).delete()
    return deleted


# --- follows -------------------------------------------------------------------------------


def follow(*, follower: User, username: str) -> bool:
    """Follow `username`; True when this created the follow (False: already following)."""
    followee = user_by_username(username)
    if followee.pk == follower.pk:
        raise Conflict("You cannot follow yourself.")
    try:
        with transaction.atomic():
            _, created = Follow.objects.get_or_create(follower=follower, followee=followee)
    except IntegrityError:  # a concurrent follow won the race
        created = False
    return created


def unfollow(*, follower: User, username: str) -> None:
    followee = user_by_username(username)
    Follow.objects.filter(follower=follower, followee=followee).delete()


# --- feed ----------------------------------------------------------------------------------


def feed_record(
    *,
    actor: User | None,
    verb: str,
    agent_id: int | None = None,
    listing_id: int | None = None,
    competition_id: int | None = None,
) -> FeedEvent | None:
    if actor is None or actor.pk is None:
        return None
    return FeedEvent.objects.create(
        actor=actor,
        verb=verb,
        agent_id=agent_id,
        listing_id=listing_id,
        competition_id=competition_id,
    )


# --- share links ---------------------------------------------------------------------------


@transaction.atomic
def share_create(*, run: Run, by: User) -> tuple[ShareLink, bool]:
    """The run's live share link, created if there is none; (link, created). Only the user
    who started the run shares it."""
    if run.user_id != by.pk:
        raise NotFound("Run not found.")
    Run.objects.select_for_update().filter(pk=run.pk).first()  # serialises sharing of a run
    link = ShareLink.objects.active().filter(run=run).first()
    if link is not None:
        return link, False
    return ShareLink.objects.create(run=run, created_by=by), True


@transaction.atomic
def share_revoke(*, run: Run, by: User) -> int:
    """Revoke the run's live share link at once; how many were revoked (0 or 1)."""
    if run.user_id != by.pk:
        raise NotFound("Run not found.")
    return ShareLink.objects.active().filter(run=run).update(revoked_at=timezone.now())


def shared_run(*, token: str) -> Run:
    """The run behind a live share link; NotFound for a revoked or unknown token."""
    if "\x00" in token:  # no link has one, and PostgreSQL refuses it in a query
        raise NotFound("This link does not exist or was revoked.")
    link = ShareLink.objects.active().filter(token=token).select_related("run").first()
    if link is None or not token:
        raise NotFound("This link does not exist or was revoked.")
    return link.run
