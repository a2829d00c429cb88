"""Monitoring's reactions to the agents app's domain events (agents/signals.py).

`run_finished` is sent inside the run's transaction; the trace is built and handed to the
exporter once that commits (so a rolled-back outcome is never exported), in the process that
finalised the run, and nothing here may fail or slow the turn (monitoring/tracing.py).
"""

from functools import partial

from django.db import transaction

from . import tracing


def run_finished(sender, *, run, **kwargs) -> None:
    if tracing.exporting():
        transaction.on_commit(partial(tracing.export_run, run.pk), robust=True)
