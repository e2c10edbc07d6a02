"""A JobConfig as SageMaker hyperparameters (the seeds' string map) and back.

SageMaker passes hyperparameters as strings: `"epochs": "10"`, `"merge_amounts": "true"`,
lists comma-joined. The names are the seeds' (`learning_rate`, not the CLI's `--lr`). The
mapping is the domain's (`JobConfig.hyperparameter_map`, `JobConfig.from_hyperparameter_map`);
here the names the SageMaker SDK and toolkit add are set aside.
"""

from __future__ import annotations

from collections.abc import Mapping

from receipts.domain.config import JobConfig

IGNORED_PREFIX = "sagemaker_"
"""Hyperparameters the SageMaker SDK and toolkit add (sagemaker_program, ...)."""


def to_hyperparameters(config: JobConfig) -> dict[str, str]:
    """Every set field of the config as a string."""
    return config.hyperparameter_map()


def from_hyperparameters(values: Mapping[str, object]) -> JobConfig:
    """The JobConfig of a hyperparameter map. Values may be strings (CreateTrainingJob,
    hyperparameters.json) or JSON values (the toolkit's SM_HPS decodes them). Unknown names
    are refused, naming each; `sagemaker_*` names are ignored."""
    return JobConfig.from_hyperparameter_map(
        {name: value for name, value in values.items() if not name.startswith(IGNORED_PREFIX)}
    )
