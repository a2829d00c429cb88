from django.apps import AppConfig


class SocialConfig(AppConfig):
    name = "social"
    verbose_name = "Social"

    def ready(self) -> None:
        from agents import signals
        from competitions import signals as competitions
        from marketplace import signals as market

        from . import panels, receivers

        signals.agent_transferred.connect(
            receivers.agent_transferred, dispatch_uid="social_transfer"
        )
        signals.agent_published.connect(receivers.agent_published, dispatch_uid="social_publish")
        signals.agent_forked.connect(receivers.agent_forked, dispatch_uid="social_fork")
        market.listing_created.connect(receivers.listing_created, dispatch_uid="social_listed")
        competitions.competition_won.connect(
            receivers.competition_won, dispatch_uid="social_competition_won"
        )
        panels.register()
