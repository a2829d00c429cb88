from django_tasks import task


@task()
def rentals_cleanup() -> int:
    """Delete expired rentals. Access already ends at expires_at (checks compare it with
    now), so this is housekeeping: each rental schedules one run at its expiry, and
    `manage.py rentals_cleanup` can run it from cron. Harmless when run twice."""
    from .services import rentals_cleanup as cleanup

    return cleanup()
