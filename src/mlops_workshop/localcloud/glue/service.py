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

    def reset(self) -> None:
        self.runner.reset()

    def recover(self) -> None:
        """A run the local cloud was running when it stopped ends FAILED (STOPPED if it was being stopped)."""
        from moto.glue.models import glue_backends
        from moto.core.utils import utcnow

        from .models import LocalJobRun
        for regions in list(glue_backends.values()):
            for backend in list(regions.values()):
                for job in list(backend.jobs.values()):
                    for run in job.job_runs:
                        if isinstance(run, LocalJobRun) and run.status in ("STARTING", "RUNNING", "STOPPING"):
                            stopping = run.status == "STOPPING"
                            run.error_message = None if stopping else (
                                "The local cloud stopped while the job ran; start a new run")
                            run.finished_on = utcnow()
                            run.status = "STOPPED" if stopping else "FAILED"
