"""Application Auto Scaling: moto's scalable targets and policies, with what AWS answers that moto leaves out."""

from __future__ import annotations

from ..services import Service
from .responses import ApplicationAutoScalingResponses


class ApplicationAutoScalingService(Service):
    name = "application-autoscaling"
    responses_class = ApplicationAutoScalingResponses
