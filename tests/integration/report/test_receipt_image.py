"""Where the inference page's receipt image comes from: the data set's folder, else the
synthetic renderer; nothing for an unreadable or edited receipt."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from receipts.adapters.html.inference_page import EmbeddedImage
from receipts.adapters.html.receipt_image import receipt_image
from receipts.adapters.synthetic.generator import generate_receipt


def test_the_image_comes_from_the_dataset_folder_or_the_synthetic_renderer(tmp_path: Path) -> None:
    receipt, _ = generate_receipt(5, 0)
    (tmp_path / "images").mkdir()
    jpeg = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(jpeg, format="JPEG")
    (tmp_path / "images" / "r.jpg").write_bytes(jpeg.getvalue())
    wild = receipt.model_copy(
        update={"receipt_id": "r", "source": "wildreceipt", "image": "images/r.jpg"}
    )

    assert receipt_image(wild, tmp_path) == EmbeddedImage(jpeg.getvalue(), "image/jpeg")
    assert receipt_image(wild, tmp_path / "elsewhere") is None
    assert receipt_image(wild.model_copy(update={"image": str(tmp_path / "images" / "r.jpg")}))
    (tmp_path / "images" / "bad.jpg").write_text("not an image")
    assert receipt_image(wild.model_copy(update={"image": "images/bad.jpg"}), tmp_path) is None
    rendered_png = receipt_image(receipt)
    assert rendered_png is not None
    assert Image.open(io.BytesIO(rendered_png.data)).size == (receipt.width, receipt.height)
    edited = receipt.model_copy(update={"words": receipt.words[1:]})
    assert receipt_image(edited) is None
