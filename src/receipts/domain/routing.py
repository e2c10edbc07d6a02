"""Where a labelled receipt goes next: straight through, or to a reviewer."""

from __future__ import annotations

from pydantic import Field

from receipts.domain.aggregate import ValueObject
from receipts.domain.fields import FIELD_LABELS, normalize_field
from receipts.domain.ocr_job import RoutingDecision
from receipts.domain.predictions import ReceiptPrediction

FIELD_NAMES = tuple(FIELD_LABELS)


class Routing(ValueObject):
    decision: RoutingDecision
    reason: str
    field_confidence: dict[str, float] = Field(default_factory=dict)
    """The lowest word confidence behind each field found."""


class RoutingPolicy(ValueObject):
    """Auto-accept when every required field was found and every word it is read from was
    labelled with at least `min_confidence`; anything else goes to review with the reasons."""

    required_fields: tuple[str, ...] = ("company", "date", "total")
    min_confidence: float = Field(0.9, ge=0.0, le=1.0)

    def decide(self, prediction: ReceiptPrediction) -> Routing:
        unknown = [name for name in self.required_fields if name not in FIELD_LABELS]
        if unknown:
            raise ValueError(f"unknown required fields {unknown}; known: {list(FIELD_NAMES)}")
        if not prediction.words:
            return Routing(decision=RoutingDecision.NEEDS_REVIEW, reason="no words")
        confidence = field_confidence(prediction)
        missing = [name for name in self.required_fields if name not in confidence]
        unsure = [
            name
            for name in self.required_fields
            if name in confidence and confidence[name] < self.min_confidence
        ]
        if not missing and not unsure:
            lowest = min((confidence[n] for n in self.required_fields), default=1.0)
            return Routing(
                decision=RoutingDecision.AUTO_ACCEPT,
                reason=(
                    f"{', '.join(self.required_fields)} found with confidence"
                    f" >= {self.min_confidence:.2f} (lowest {lowest:.2f})"
                ),
                field_confidence=confidence,
            )
        reasons = []
        if missing:
            reasons.append(f"missing {', '.join(missing)}")
        for name in unsure:
            reasons.append(f"{name} confidence {confidence[name]:.2f} < {self.min_confidence:.2f}")
        return Routing(
            decision=RoutingDecision.NEEDS_REVIEW,
            reason="; ".join(reasons),
            field_confidence=confidence,
        )


def field_confidence(prediction: ReceiptPrediction) -> dict[str, float]:
    """For each field the prediction spells out: the lowest confidence of the words it is
    read from (for the total: of the words that carry the chosen value)."""
    fields = prediction.fields()
    confidence: dict[str, float] = {}
    for name, value in fields.items():
        labels = FIELD_LABELS[name]
        words = [w for w in prediction.words if w.label in labels]
        if name == "total":
            if any(w.label == "GRAND_TOTAL" for w in words):
                words = [w for w in words if w.label == "GRAND_TOTAL"]
            wanted = normalize_field(value, "total")
            words = [w for w in words if normalize_field(w.text, "total") == wanted] or words
        elif name in ("date", "time"):
            texts = value.split(" ")
            words = [w for w in words if w.text in texts] or words
        if words:
            confidence[name] = min(w.confidence for w in words)
    return confidence
