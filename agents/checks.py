"""System checks of the agents app (registered in AgentsConfig.ready)."""

from django.conf import settings
from django.core.checks import CheckMessage, Warning


def sandbox_shared_uid_allowed(app_configs=None, **kwargs) -> list[CheckMessage]:
    """SANDBOX_ALLOW_SHARED_UID lets a worker run agent code without the sandbox's isolation
    when the host cannot give it (no user namespaces): say what that exposes."""
    if not getattr(settings, "SANDBOX_ALLOW_SHARED_UID", False):
        return []
    return [
        Warning(
            "SANDBOX_ALLOW_SHARED_UID is set: where the host cannot isolate sandbox children, "
            "agent and tool code runs with the worker's uid and sees the host's filesystem.",
            hint=(
                "Such code can then signal or kill the worker, its fork server and other runs, "
                "read what the worker's user can read (the project, .env, the SQLite file, "
                "other runs' work directories) and reach Unix sockets such as PostgreSQL's and "
                "Redis's. Enable unprivileged user namespaces or run the worker as root, and "
                "unset SANDBOX_ALLOW_SHARED_UID."
            ),
            id="agents.W001",
        )
    ]
