"""The inference page's HTML escapes what a receipt and a model say (untrusted text)."""

from __future__ import annotations

from tests.integration.report.fakes import EchoPredictor

from receipts.adapters.html.inference_page import render_inference_page
from receipts.adapters.synthetic.generator import generate_receipt
from receipts.application.inference.report import build_inference_response

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_words_labels_ids_and_fields_are_escaped() -> None:
    receipt, _ = generate_receipt(8, 2)
    first = receipt.words[0].model_copy(update={"text": SCRIPT, "label": f"X{SCRIPT}"})
    receipt = receipt.model_copy(
        update={
            "receipt_id": SCRIPT,
            "words": (first, *receipt.words[1:]),
            "fields": {SCRIPT: SCRIPT},
        }
    )
    predictor = EchoPredictor(wrong_every=0)
    [prediction] = predictor.predict([receipt])

    html = render_inference_page(build_inference_response(receipt, prediction, predictor.info))

    assert "<script>alert" not in html
    assert f'data-label="X{ESCAPED}"' in html
    assert html.count(ESCAPED) >= 8
