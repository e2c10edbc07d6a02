"""The routing policy: auto-accept exactly when every required field is found with enough
confidence; the reason names what is missing or unsure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receipts.domain.ocr_job import RoutingDecision
from receipts.domain.predictions import ReceiptPrediction, WordPrediction
from receipts.domain.routing import RoutingPolicy, field_confidence


def receipt(*words: tuple[str, str, float, int]) -> ReceiptPrediction:
    return ReceiptPrediction(
        receipt_id="r",
        words=tuple(
            WordPrediction(word_id=i, line_id=line, text=text, label=label, confidence=conf)
            for i, (text, label, conf, line) in enumerate(words)
        ),
    )


FULL = receipt(
    ("ACME", "MERCHANT_NAME", 0.99, 0),
    ("Foods", "MERCHANT_NAME", 0.95, 0),
    ("2024-01-02", "DATE", 0.97, 1),
    ("Milk", "PRODUCT_NAME", 0.9, 2),
    ("3.50", "LINE_TOTAL", 0.9, 2),
    ("TOTAL", "O", 0.99, 3),
    ("3.50", "GRAND_TOTAL", 0.93, 3),
)


def test_every_required_field_found_with_confidence_is_auto_accepted() -> None:
    routing = RoutingPolicy(min_confidence=0.9).decide(FULL)
    assert routing.decision is RoutingDecision.AUTO_ACCEPT
    assert routing.field_confidence == {"company": 0.95, "date": 0.97, "total": 0.93}
    assert "lowest 0.93" in routing.reason


def test_a_missing_or_unsure_field_goes_to_review_with_the_reasons() -> None:
    routing = RoutingPolicy(min_confidence=0.96).decide(FULL)
    assert routing.decision is RoutingDecision.NEEDS_REVIEW
    assert routing.reason == "company confidence 0.95 < 0.96; total confidence 0.93 < 0.96"
    no_date = receipt(("ACME", "MERCHANT_NAME", 0.99, 0), ("9.00", "GRAND_TOTAL", 0.99, 1))
    assert RoutingPolicy().decide(no_date).reason == "missing date"
    assert RoutingPolicy().decide(receipt()).reason == "no words"


def test_the_total_is_judged_by_the_words_that_carry_the_chosen_value() -> None:
    amounts = receipt(
        ("12.00", "AMOUNT", 0.51, 0), ("20.00", "AMOUNT", 0.98, 1), ("20.00", "AMOUNT", 0.97, 2)
    )
    assert field_confidence(amounts) == {"total": 0.97}


def test_unknown_required_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown required fields"):
        RoutingPolicy(required_fields=("colour",)).decide(FULL)


LABELS = ["O", "MERCHANT_NAME", "DATE", "GRAND_TOTAL", "ADDRESS_LINE", "PRODUCT_NAME"]


@given(
    words=st.lists(
        st.tuples(
            st.sampled_from(["ACME", "1.00", "2.50", "01/02/24", "x"]),
            st.sampled_from(LABELS),
            st.floats(0, 1),
        ),
        max_size=12,
    ),
    threshold=st.floats(0, 1),
)
def test_auto_accept_exactly_when_all_required_fields_clear_the_threshold(
    words: list[tuple[str, str, float]], threshold: float
) -> None:
    prediction = receipt(*[(t, label, c, i) for i, (t, label, c) in enumerate(words)])
    policy = RoutingPolicy(min_confidence=threshold)
    routing = policy.decide(prediction)
    confidence = field_confidence(prediction)
    clears = bool(words) and all(
        name in confidence and confidence[name] >= threshold for name in policy.required_fields
    )
    assert (routing.decision is RoutingDecision.AUTO_ACCEPT) == clears
    assert routing.reason
    for name, value in confidence.items():
        assert 0 <= value <= 1
        assert name in prediction.fields()
