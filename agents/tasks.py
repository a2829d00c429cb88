from django_tasks import task


@task()
def execute_run(*, run_id: int) -> None:
    """Execute one chat turn. Harmless when run twice: only one claim of a run succeeds."""
    from .services import run_execute

    run_execute(run_id=run_id)
