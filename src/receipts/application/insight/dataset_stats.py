"""What a data set holds and what a label policy makes of it (seed 003's dataset stats):
receipts, lines and words; labels by validation status; which labels the presets merge and
the whitelist drops; the O:entity balance before and after the training split is balanced."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from receipts.application.training.datasets import prepare_dataset
from receipts.domain.config import DataConfig
from receipts.domain.errors import InvalidInput
from receipts.domain.labels import OUTSIDE, ValidationStatus
from receipts.domain.receipt import Receipt, count_labels


class LabelPolicyEffect(BaseModel):
    """One raw label: its words by status and what training sees (merged label, or O)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    label: str
    trains_as: str
    valid: int
    invalid: int
    needs_review: int

    @property
    def valid_share(self) -> float:
        total = self.valid + self.invalid + self.needs_review
        return self.valid / total if total else 0.0


class Balance(BaseModel):
    """Words labelled O and with an entity label, and their ratio (None: no entity words)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    outside_words: int
    entity_words: int

    @property
    def o_entity_ratio(self) -> float | None:
        return self.outside_words / self.entity_words if self.entity_words else None


class DatasetInsight(BaseModel):
    """Its JSON has the keys of seed 003's dataset stats (`total_receipts`, `total_lines`,
    `label_counts` of VALID words, `total_valid_labels`, `label_distribution`) beside the
    richer ones."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    source: str
    total_receipts: int
    receipts_without_words: int
    total_lines: int
    total_words: int
    label_counts: dict[str, int]
    """Raw label → VALID words (the seeds' `count_labels_by_category_and_status(label,
    "VALID")`; O excluded)."""
    label_counts_by_status: dict[str, dict[str, int]]
    """Raw label → validation status → words (O excluded)."""
    total_valid_labels: int
    label_distribution: dict[str, float]
    """Each raw label's share of the VALID labelled words."""
    presets: list[str]
    allowed_labels: list[str]
    entity_labels: list[str]
    """The labels a model trains on with this policy."""
    label_policy: list[LabelPolicyEffect]
    training_label_counts: dict[str, int]
    """Trained label → words, after merging and the whitelist (only VALID labels count)."""
    valid_words_dropped_by_whitelist: int
    labelled_words_not_valid: int
    """Words with an INVALID or NEEDS_REVIEW label: O in training."""
    balance: Balance
    validation_split: float
    seed: int
    o_entity_target: float | None = None
    train_receipts: int | None = None
    validation_receipts: int | None = None
    train_balance: Balance | None = None
    """The training split after O-only lines were dropped down to `o_entity_target`."""
    dropped_lines: int = 0
    content_hash: str | None = None
    problem: str | None = None
    """Why this data set cannot train with this policy (None: it can)."""


def dataset_insight(
    receipts: Iterable[Receipt],
    config: DataConfig,
    *,
    source: str,
    seed: int = 42,
    o_entity_ratio: float | None = None,
) -> DatasetInsight:
    raw = list(receipts)
    with_words = [r for r in raw if r.words]
    counts = count_labels(with_words)
    valid = {label: by.get(ValidationStatus.VALID.value, 0) for label, by in counts.items()}
    total_valid = sum(valid.values())
    policy = [
        LabelPolicyEffect(
            label=label,
            trains_as=config.map_label(label),
            valid=by.get(ValidationStatus.VALID.value, 0),
            invalid=by.get(ValidationStatus.INVALID.value, 0),
            needs_review=by.get(ValidationStatus.NEEDS_REVIEW.value, 0),
        )
        for label, by in counts.items()
    ]
    training_counts: dict[str, int] = {}
    for effect in policy:
        if effect.trains_as != OUTSIDE and effect.valid:
            training_counts[effect.trains_as] = training_counts.get(effect.trains_as, 0) + (
                effect.valid
            )
    words = sum(len(r.words) for r in with_words)
    entity_words = sum(training_counts.values())
    insight = DatasetInsight(
        source=source,
        total_receipts=len(with_words),
        receipts_without_words=len(raw) - len(with_words),
        total_lines=sum(len(r.lines()) for r in with_words),
        total_words=words,
        label_counts=valid,
        label_counts_by_status=counts,
        total_valid_labels=total_valid,
        label_distribution={k: v / total_valid for k, v in valid.items()} if total_valid else {},
        presets=list(config.preset_names),
        allowed_labels=list(config.allowed_labels),
        entity_labels=config.entity_labels(),
        label_policy=policy,
        training_label_counts=dict(sorted(training_counts.items())),
        valid_words_dropped_by_whitelist=sum(e.valid for e in policy if e.trains_as == OUTSIDE),
        labelled_words_not_valid=sum(e.invalid + e.needs_review for e in policy),
        balance=Balance(outside_words=words - entity_words, entity_words=entity_words),
        validation_split=config.validation_split,
        seed=seed,
        o_entity_target=o_entity_ratio,
    )
    try:
        prepared = prepare_dataset(
            with_words, config, seed=seed, o_entity_ratio=o_entity_ratio, source=source
        )
    except InvalidInput as error:
        return insight.model_copy(update={"problem": "; ".join(error.problems)})
    train = prepared.train_stats
    return insight.model_copy(
        update={
            "train_receipts": len(prepared.train),
            "validation_receipts": len(prepared.validation),
            "train_balance": Balance(
                outside_words=train.outside_words, entity_words=train.entity_words
            ),
            "dropped_lines": train.dropped_lines,
            "content_hash": prepared.content_hash,
        }
    )
