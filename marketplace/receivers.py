"""The marketplace's reactions to other apps' events: a wallet for every new user
(accounts), and the agents app's domain events (agents/signals.py). Each receiver only
calls a marketplace service, inside the sender's transaction."""

from . import services


def user_saved(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    # A signal is the one hook that every way of creating a user passes through (sign-up,
    # the admin, create_user/createsuperuser, factories, other apps' code), and docs/API.md
    # promises a wallet "from the moment the user exists". Fixtures being loaded (raw)
    # bring their own rows.
    if created and not raw:
        services.wallet_create(user=instance)


def agent_delete_check(sender, *, agent, **kwargs) -> list[str]:
    return services.agent_delete_blockers(agent=agent)


def agent_deleting(sender, *, agent, by, **kwargs) -> None:
    services.agent_listing_withdraw(agent=agent, by=by)


def agent_transferred(sender, *, agent, **kwargs) -> None:
    # Raising aborts the transfer (agents/signals.py): no owner change under an auction.
    services.agent_transfer_check(agent=agent)
