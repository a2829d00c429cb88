from django_tasks import task


@task()
def rentals_cleanup() -> int:
    """Delete expired rentals. Access already ends at expires_at (checks compare it with
    now), so this is housekeeping: each process schedules one run at the whole hour after
    the rentals it sold expire, and `manage.py rentals_cleanup` can run it from cron. It
    also settles purchases left with pending effects. Harmless when run twice."""
    from .services import purchases_settle
    from .services import rentals_cleanup as cleanup

    purchases_settle()
    return cleanup()
