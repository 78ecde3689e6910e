"""CodePipeline: an engine that runs pipelines, and the API calls moto lacks for it.

moto keeps the pipeline definitions (CreatePipeline, GetPipeline, UpdatePipeline); the engine (engine.py) runs them,
each action through its provider (actions/). Creating a pipeline starts an execution, as on AWS; so does an
EventBridge rule that targets it (StartPipelineExecution with the target's role: events/delivery.py), and a source
that changes (polled). Each execution records how it started (`trigger`): CreatePipeline, StartPipelineExecution
(with the caller's ARN), CloudWatchEvent (with the rule's ARN) or PollForSourceChanges.
"""

from __future__ import annotations

from typing import Any

from ..services import Service
from . import patches
from .engine import PipelineEngine
from .responses import CodePipelineResponses


class CodePipelineService(Service):
    name = "codepipeline"
    responses_class = CodePipelineResponses

    def start(self) -> None:
        patches.apply(self)
        self.engine = PipelineEngine(self)
        self.cloud.spawn("codepipeline-poll", self.engine.poll_sources)

    def stop(self) -> None:
        self.engine.shutdown()
        super().stop()

    def snapshot(self) -> Any:
        with self.engine.cond:
            return dict(self.engine.pipelines)

    def restore(self, state: Any) -> None:
        if state:
            self.engine.pipelines.update(state)

    def reset(self) -> None:
        self.engine.reset()

    def recover(self) -> None:
        self.engine.interrupted("The local cloud stopped while this execution ran; start the pipeline again")
