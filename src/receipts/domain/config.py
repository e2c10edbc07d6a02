"""A training job's configuration: hyperparameters, data and model, with the seeds' defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple, Self

from pydantic import Field, ValidationError, field_validator, model_validator

from receipts.domain.aggregate import ValueObject
from receipts.domain.errors import InvalidInput
from receipts.domain.labels import (
    CORE_LABELS,
    MERGE_PRESETS,
    OUTSIDE,
    bio_tags,
    merge_map,
    unknown_labels,
)

ModelSize = Literal["tiny", "small", "base"]
MixedPrecision = Literal["auto", "no", "fp16", "bf16"]


class Hyperparameters(ValueObject):
    epochs: int = Field(10, ge=1, le=1000)
    batch_size: int = Field(8, ge=1, le=4096)
    learning_rate: float = Field(5e-5, gt=0, le=1)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    o_entity_ratio: float | None = Field(None, gt=0)
    early_stopping_patience: int = Field(2, ge=0)
    early_stopping_threshold: float = Field(0.0, ge=0)
    gradient_accumulation_steps: int = Field(1, ge=1)
    weight_decay: float = Field(0.01, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = Field(42, ge=0)
    num_workers: int = Field(0, ge=0)
    mixed_precision: MixedPrecision = "auto"


class DataConfig(ValueObject):
    """Where the receipts come from and how their labels are merged and filtered."""

    allowed_labels: tuple[str, ...] = ()
    merge_amounts: bool = False
    merge_date_time: bool = False
    merge_address_phone: bool = False
    presets: tuple[str, ...] = ()
    validation_split: float = Field(0.2, gt=0, lt=1)
    dataset: str | None = None
    dynamo_table: str | None = None
    dataset_snapshot_load: str | None = None
    dataset_snapshot_save: str | None = None

    @field_validator("presets")
    @classmethod
    def _known_presets(cls, presets: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [p for p in presets if p not in MERGE_PRESETS]
        if unknown:
            raise ValueError(
                f"unknown preset {', '.join(unknown)}; known: {', '.join(sorted(MERGE_PRESETS))}"
            )
        return presets

    @field_validator("allowed_labels")
    @classmethod
    def _known_labels(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        unknown = unknown_labels(labels)
        if unknown:
            raise ValueError(f"unknown label {', '.join(unknown)}")
        if OUTSIDE in labels:
            raise ValueError("'O' is implicit; list only entity labels")
        return tuple(dict.fromkeys(labels))

    @model_validator(mode="after")
    def _whitelist_reachable(self) -> Self:
        reachable = set(self.entity_labels_before_whitelist())
        unreachable = [label for label in self.allowed_labels if label not in reachable]
        if unreachable:
            raise ValueError(
                f"allowed label {', '.join(unreachable)} cannot occur with the chosen presets"
                f" ({', '.join(self.preset_names) or 'none'}): merged labels need their preset"
            )
        return self

    @property
    def preset_names(self) -> tuple[str, ...]:
        names = list(self.presets)
        for flag, name in (
            (self.merge_amounts, "amounts"),
            (self.merge_date_time, "date_time"),
            (self.merge_address_phone, "address_phone"),
        ):
            if flag and name not in names:
                names.append(name)
        return tuple(names)

    def merge_map(self) -> dict[str, str]:
        return merge_map(self.preset_names)

    def entity_labels_before_whitelist(self) -> list[str]:
        mapping = self.merge_map()
        return sorted({mapping.get(label, label) for label in CORE_LABELS})

    def entity_labels(self) -> list[str]:
        labels = self.entity_labels_before_whitelist()
        if self.allowed_labels:
            labels = [label for label in labels if label in self.allowed_labels]
        return labels

    def map_label(self, label: str) -> str:
        """The training label of a raw word label: merged, then whitelisted, else `O`."""
        if label == OUTSIDE:
            return OUTSIDE
        merged = self.merge_map().get(label, label)
        return merged if merged in self.entity_labels() else OUTSIDE

    def bio_tags(self) -> list[str]:
        return bio_tags(self.entity_labels())


class ModelConfig(ValueObject):
    model_size: ModelSize = "base"
    pretrained: str | None = None
    max_seq_length: int = Field(512, ge=16, le=512)
    stride: int = Field(128, ge=0)

    @model_validator(mode="after")
    def _stride_fits(self) -> Self:
        if self.stride >= self.max_seq_length - 2:
            raise ValueError(
                f"stride {self.stride} must be smaller than max_seq_length - 2"
                f" ({self.max_seq_length - 2})"
            )
        return self


_SECTIONS: dict[str, type[ValueObject]] = {
    "hyperparameters": Hyperparameters,
    "data": DataConfig,
    "model": ModelConfig,
}
SECTION_OF: dict[str, str] = {
    name: section for section, model in _SECTIONS.items() for name in model.model_fields
}
"""The JobConfig section of each hyperparameter name (names are unique across sections)."""
LIST_HYPERPARAMETERS = frozenset({"allowed_labels", "presets"})
"""Comma-joined in a hyperparameter map."""


class JobConfig(ValueObject):
    # factories, not instances: an instance would build the schemas at import
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)

    @classmethod
    def parse(cls, data: dict[str, Any]) -> JobConfig:
        """Validates raw input, collecting one `field: reason` problem per bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise InvalidInput("job config", validation_problems(error)) from None

    def hyperparameter_map(self) -> dict[str, str]:
        """The seeds' string map (SageMaker hyperparameters), lossless: every set field as a
        string under its own name (`"epochs": "10"`, `"merge_amounts": "true"`), lists
        comma-joined. None and empty lists are left out (they come back as the defaults)."""
        flat: dict[str, str] = {}
        for section in _SECTIONS:
            for name, value in getattr(self, section).model_dump(mode="json").items():
                text = _hyperparameter_text(value)
                if text is not None:
                    flat[name] = text
        return flat

    @classmethod
    def from_hyperparameter_map(cls, values: Mapping[str, object]) -> JobConfig:
        """The config of a hyperparameter map, whose values may be strings or JSON values
        (10, true, 5e-05). Unknown names are refused, naming each; then bad values are."""
        split = split_hyperparameter_map(values)
        if split.unknown:
            known = ", ".join(sorted(SECTION_OF))
            raise InvalidInput(
                "hyperparameters",
                [f"unknown hyperparameter {name!r} (known: {known})" for name in split.unknown],
            )
        return cls.parse(split.sections)


class SplitHyperparameters(NamedTuple):
    sections: dict[str, dict[str, Any]]
    """Unvalidated JobConfig input: `{"data": {"presets": ["amounts"]}, ...}`."""
    unknown: list[str]
    """The names no section has."""


def split_hyperparameter_map(values: Mapping[str, object]) -> SplitHyperparameters:
    """A hyperparameter map's values by JobConfig section, as strings (lists split)."""
    split = SplitHyperparameters({section: {} for section in _SECTIONS}, [])
    for name, value in values.items():
        section = SECTION_OF.get(name)
        if section is None:
            split.unknown.append(name)
            continue
        text = _hyperparameter_text(value)
        if text is None:
            continue
        split.sections[section][name] = (
            [part.strip() for part in text.split(",") if part.strip()]
            if name in LIST_HYPERPARAMETERS
            else text
        )
    return split


def _hyperparameter_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or None
    return str(value)


def validation_problems(error: ValidationError) -> list[str]:
    """A pydantic error as one line per problem: where, what, and the value given."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "config"
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message} (got {item.get('input')!r})")
    return problems
