"""SageMaker as the training backend of a Runtime (aws mode).

The start-training Lambda picks it with
`RECEIPTS_TRAINING_BACKEND=receipts.entrypoints.sagemaker_wiring:sagemaker_backend`;
`RECEIPTS_SAGEMAKER_*` variables give the role, image and instances.
"""

from __future__ import annotations

from typing import Any

from receipts.adapters.sagemaker.settings import SageMakerSettings
from receipts.adapters.sagemaker.training_backend import (
    SageMakerTrainingBackend,
    container_environment,
)
from receipts.bootstrap import Runtime


def sagemaker_backend(runtime: Runtime, request: Any = None) -> SageMakerTrainingBackend:
    """A backend writing to the runtime's bucket; the container gets the runtime's settings
    so it records into the same event store. A request's `use_spot` (the seeds' payload)
    turns managed spot training on."""
    if runtime.settings.mode != "aws":
        raise ValueError(
            f"the SageMaker backend needs RECEIPTS_MODE=aws (the container must reach the"
            f" event store), not {runtime.settings.mode!r}"
        )
    settings = SageMakerSettings.from_env()
    if getattr(request, "use_spot", False):
        settings = settings.model_copy(update={"use_spot": True})
    runs = runtime.runs_prefix()
    return SageMakerTrainingBackend(
        settings, runs, runtime.artifacts, container_environment(runtime.settings, runs)
    )
