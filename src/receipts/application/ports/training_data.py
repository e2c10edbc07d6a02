"""What training and inference adapters receive: receipts as the model sees them, and a
prepared data set (split, tags, statistics, lineage). Made by `application/training/datasets.py`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LabelledReceipt(BaseModel):
    """A receipt as the model sees it: word texts, 0..1000 boxes, BIO tags, lines."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    receipt_id: str
    texts: tuple[str, ...]
    boxes: tuple[tuple[int, int, int, int], ...]
    tags: tuple[str, ...]
    lines: tuple[int, ...]
    fields: dict[str, str] = Field(default_factory=dict)


class DatasetStats(BaseModel):
    model_config = ConfigDict(defer_build=True)

    receipts: int = 0
    lines: int = 0
    words: int = 0
    entity_words: int = 0
    outside_words: int = 0
    clamped_boxes: int = 0
    dropped_lines: int = 0
    label_counts: dict[str, dict[str, int]] = Field(default_factory=dict)
    training_label_counts: dict[str, int] = Field(default_factory=dict)

    @property
    def outside_to_entity(self) -> float:
        return self.outside_words / self.entity_words if self.entity_words else float("inf")


class PreparedDataset(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    source: str
    content_hash: str
    tags: tuple[str, ...]
    train: tuple[LabelledReceipt, ...]
    validation: tuple[LabelledReceipt, ...]
    stats: DatasetStats
    train_stats: DatasetStats
