"""Glue: `StartJobRun` runs the job's Python-shell script; `GetJobRun`/`GetJobRuns` show the run's real states.

moto records the run (so its checks hold: an unknown job, MaxConcurrentRuns, the job's DefaultArguments merged with
the run's Arguments and NonOverridableArguments); the runner then swaps moto's run record for a `LocalJobRun` whose
state is the child process's. UpdateJob (which moto lacks) overwrites the job's definition, as Glue does; its runs
are kept.
"""

from __future__ import annotations

from ..services import Service
from .responses import GlueResponses
from .runner import GlueJobRunner


class GlueService(Service):
    name = "glue"
    responses_class = GlueResponses

    def start(self) -> None:
        self.runner = GlueJobRunner(self)
