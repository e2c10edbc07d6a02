"""The HTML view of one report, in headless Chromium: self-contained, one box per word,
one marker per wrong prediction."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image
from tests.browser.chromium import rendered
from tests.integration.report.fakes import EchoPredictor

from receipts.adapters.html.inference_page import render_inference_page
from receipts.adapters.html.receipt_image import receipt_image
from receipts.adapters.synthetic.generator import generate_receipt
from receipts.application.inference.report import build_inference_response
from receipts.application.inference.response import InferenceResponse
from receipts.domain.receipt import Receipt

SCREENSHOTS_VARIABLE = "RECEIPTS_TEST_SCREENSHOTS"
"""A folder to keep the screenshots in (to look at them); a temporary one by default."""


def report(receipt: Receipt) -> InferenceResponse:
    predictor = EchoPredictor(wrong_every=7)
    [prediction] = predictor.predict([receipt])
    return build_inference_response(receipt, prediction, predictor.info)


@pytest.mark.parametrize("with_image", [True, False], ids=["image", "blank-canvas"])
def test_the_page_draws_every_word_and_marks_each_mismatch(
    tmp_path: Path, with_image: bool
) -> None:
    receipt, _ = generate_receipt(31, 4)
    receipt = receipt.model_copy(
        update={
            "words": (receipt.words[0].model_copy(update={"text": "<b>&'x\""}), *receipt.words[1:])
        }
    )
    response = report(receipt)
    image = receipt_image(receipt.model_copy(update={"words": generate_receipt(31, 4)[0].words}))
    assert image is not None and image.media_type == "image/png"
    page_file = tmp_path / "report.html"
    page_file.write_text(render_inference_page(response, image if with_image else None))
    folder = Path(os.environ.get(SCREENSHOTS_VARIABLE) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    screenshot = folder / f"inference-page-{'image' if with_image else 'canvas'}.png"

    with rendered(page_file, screenshot) as view:
        page = view.page
        boxes = page.locator("svg#receipt rect.word")
        assert boxes.count() == len(receipt.words)
        wrong = len(response.incorrect())
        assert wrong > 0
        assert page.locator("svg#receipt rect.word.mismatch").count() == wrong
        assert page.locator("table.mismatches tbody tr").count() == wrong
        first_wrong = response.incorrect()[0]
        tip = page.locator(
            f'svg#receipt rect[data-word-id="{first_wrong.word_id}"] title'
        ).text_content()
        assert (
            f"predicted {first_wrong.predicted_label}, truth {first_wrong.ground_truth_label}"
            in str(tip)
        )
        stroke = page.locator("svg#receipt rect.word.mismatch").first.evaluate(
            "e => getComputedStyle(e).strokeDasharray"
        )
        assert stroke not in ("none", "")
        assert page.locator("svg#receipt image").count() == int(with_image)
        assert page.locator("svg#receipt text.ink").count() == (
            0 if with_image else len(receipt.words)
        )
        accuracy = f"{response.metrics.overall_accuracy:.1%}"
        assert page.locator(".summary .big").text_content() == accuracy
        assert page.locator("table.metrics tbody tr").count() == len(response.metrics.per_label_f1)
        page.check("#only-mismatches")
        assert page.locator("svg#receipt rect.word:visible").count() == wrong
        assert view.console_errors == []
        assert view.failed_requests == []
    assert "<b>&'x\"" not in page_file.read_text()
    png = Image.open(screenshot)
    assert png.width >= 1000 and png.height > 400
