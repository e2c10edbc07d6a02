"""A JobConfig as SageMaker hyperparameters (the seeds' string map) and back.

SageMaker passes hyperparameters as strings: `"epochs": "10"`, `"merge_amounts": "true"`,
lists comma-joined. The names are the seeds' (`learning_rate`, not the CLI's `--lr`). A value
that is None or an empty list is left out and comes back as the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from receipts.domain.config import DataConfig, Hyperparameters, JobConfig, ModelConfig
from receipts.domain.errors import InvalidInput

_SECTIONS: dict[str, type[Hyperparameters | DataConfig | ModelConfig]] = {
    "hyperparameters": Hyperparameters,
    "data": DataConfig,
    "model": ModelConfig,
}
SECTION_OF: dict[str, str] = {
    name: section for section, model in _SECTIONS.items() for name in model.model_fields
}
"""Which JobConfig section each hyperparameter belongs to (names are unique across them)."""
LIST_FIELDS = frozenset({"allowed_labels", "presets"})
IGNORED_PREFIX = "sagemaker_"
"""Hyperparameters the SageMaker SDK and toolkit add (sagemaker_program, ...)."""


def to_hyperparameters(config: JobConfig) -> dict[str, str]:
    """Every set field of the config as a string; the seeds' `hyperparameter_map` is a subset."""
    flat: dict[str, str] = {}
    for section in _SECTIONS:
        for name, value in getattr(config, section).model_dump(mode="json").items():
            text = _text(value)
            if text is not None:
                flat[name] = text
    return flat


def from_hyperparameters(values: Mapping[str, Any]) -> JobConfig:
    """The JobConfig of a hyperparameter map. Values may be strings (CreateTrainingJob,
    hyperparameters.json) or JSON values (the toolkit's SM_HPS decodes them). Unknown names
    are refused, naming each; `sagemaker_*` names are ignored."""
    sections: dict[str, dict[str, Any]] = {section: {} for section in _SECTIONS}
    unknown: list[str] = []
    for name, value in values.items():
        if name.startswith(IGNORED_PREFIX):
            continue
        section = SECTION_OF.get(name)
        if section is None:
            unknown.append(name)
            continue
        text = _text(value)
        if text is None:
            continue
        sections[section][name] = _split(text) if name in LIST_FIELDS else text
    if unknown:
        known = ", ".join(sorted(SECTION_OF))
        raise InvalidInput(
            "hyperparameters",
            [f"unknown hyperparameter {name!r} (known: {known})" for name in unknown],
        )
    return JobConfig.parse(sections)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or None
    return str(value)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
