"""The inference report's JSON (seed 002's `LayoutLMInferenceResponse`) as pydantic models.

The seed's keys are all here, spelled and nested as it has them; a few keys are added
beside them (`metrics.evaluated_words`, `metrics.label_map`, `extracted`, ...), which a
client written against the seed ignores. The models validate a cached response on read.

Boxes are pixels of the receipt image, origin top left: `bounding_box` is `{x, y, width,
height}`. A receipt here has one id (one receipt per image), so `image_id` repeats
`receipt_id`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from receipts.domain.aggregate import Timestamp


class ResponsePart(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class PixelBox(ResponsePart):
    x: float
    y: float
    width: float = Field(ge=0)
    height: float = Field(ge=0)


class ReceiptRecord(ResponsePart):
    image_id: str
    receipt_id: str
    width: int
    height: int
    source: str
    image: str | None = None
    """Where the receipt's image is (a path relative to its data set, or a URI), if known."""
    fields: dict[str, str] = Field(default_factory=dict)
    """The fields the data set records for the receipt (its ground truth), if any."""


class LineRecord(ResponsePart):
    image_id: str
    receipt_id: str
    line_id: int
    text: str
    bounding_box: PixelBox


class WordRecord(ResponsePart):
    image_id: str
    receipt_id: str
    line_id: int
    word_id: int
    text: str
    bounding_box: PixelBox


class WordLabelRecord(ResponsePart):
    """One VALID ground-truth label, as stored (before any merge the model was trained with)."""

    image_id: str
    receipt_id: str
    line_id: int
    word_id: int
    label: str
    validation_status: str


class WordPredictionRecord(ResponsePart):
    word_id: int
    line_id: int
    text: str
    predicted_label: str
    predicted_confidence: float = Field(ge=0.0, le=1.0)
    ground_truth_label: str | None = None
    """The word's VALID label as compared (merged like the model's labels); absent when the
    word's label is not VALID, so the word has no verdict."""
    is_correct: bool | None = None


class LinePredictionRecord(ResponsePart):
    line_id: int
    tokens: list[str]
    predicted_labels: list[str]
    confidences: list[float]
    ground_truth_labels: list[str | None] | None = None
    """Aligned with `tokens`; null for a word without a verdict; absent when no word of the
    line has one."""


class OriginalReceipt(ResponsePart):
    receipt: ReceiptRecord
    lines: list[LineRecord]
    words: list[WordRecord]
    ground_truth_labels: list[WordLabelRecord]
    predictions: list[WordPredictionRecord]
    line_predictions: list[LinePredictionRecord]


class InferenceMetrics(ResponsePart):
    overall_accuracy: float = Field(ge=0.0, le=1.0)
    per_label_f1: dict[str, float]
    per_label_precision: dict[str, float]
    per_label_recall: dict[str, float]
    per_label_support: dict[str, int] = Field(default_factory=dict)
    evaluated_words: int = Field(0, ge=0)
    correct_words: int = Field(0, ge=0)
    label_map: dict[str, str] = Field(default_factory=dict)
    """Ground-truth label → the label it is compared as (merges the model was trained with,
    labels it does not know → O)."""


class ResponseModelInfo(ResponsePart):
    model_name: str
    job_id: str
    s3_uri: str
    device: str
    """"cpu" or "cuda" (the seed's two values); another accelerator keeps its own name."""
    runtime: str = "torch"
    quantization: str = "float32"
    labels: list[str] = Field(default_factory=list)


class ExtractedFields(ResponsePart):
    """What the predicted labels spell out (`ReceiptPrediction.fields()` and line items)."""

    fields: dict[str, str] = Field(default_factory=dict)
    line_items: list[dict[str, str]] = Field(default_factory=list)


class InferenceResponse(ResponsePart):
    original: OriginalReceipt
    metrics: InferenceMetrics
    model_info: ResponseModelInfo
    cached_at: Timestamp
    extracted: ExtractedFields = Field(default_factory=ExtractedFields)

    @property
    def receipt_id(self) -> str:
        return self.original.receipt.receipt_id

    def incorrect(self) -> list[WordPredictionRecord]:
        return [p for p in self.original.predictions if p.is_correct is False]

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> InferenceResponse:
        return cls.model_validate_json(data)
