"""Where a report's receipt image comes from, as bytes to embed in the page.

1. `Receipt.image`: a file path, relative to the data set's folder (WildReceipt's
   `images/<id>.jpg`) or absolute (`receipts synthesize --images`).
2. A synthetic receipt (`synthetic-<seed>-<index>`) is rendered again: the generator is a
   pure function of (seed, index), so the pixels match its boxes. It is rendered only when
   the stored words are the generated ones.
3. Otherwise none: the page draws a blank canvas of the receipt's size.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from receipts.adapters.html.inference_page import EmbeddedImage
from receipts.domain.receipt import Receipt

_SYNTHETIC_ID = re.compile(r"synthetic-(\d+)-(\d+)")
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
)
MAX_IMAGE_BYTES = 20_000_000


def receipt_image(receipt: Receipt, dataset_dir: Path | None = None) -> EmbeddedImage | None:
    if receipt.image:
        found = image_file(Path(receipt.image), dataset_dir)
        if found is not None:
            return found
    return synthetic_image(receipt)


def image_file(path: Path, dataset_dir: Path | None = None) -> EmbeddedImage | None:
    """The file's bytes when it is a PNG, JPEG, GIF or WebP image; None otherwise."""
    if not path.is_absolute() and dataset_dir is not None:
        path = dataset_dir / path
    if not path.is_file() or path.stat().st_size > MAX_IMAGE_BYTES:
        return None
    data = path.read_bytes()
    media_type = media_type_of(data)
    return EmbeddedImage(data, media_type) if media_type else None


def media_type_of(data: bytes) -> str | None:
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def synthetic_image(receipt: Receipt) -> EmbeddedImage | None:
    match = _SYNTHETIC_ID.fullmatch(receipt.receipt_id)
    if receipt.source != "synthetic" or match is None:
        return None
    from receipts.adapters.synthetic.generator import generate_receipt, render

    seed, index = int(match[1]), int(match[2])
    generated, _ = generate_receipt(seed, index)
    same = [(w.text, w.box) for w in generated.words] == [(w.text, w.box) for w in receipt.words]
    if not same or (generated.width, generated.height) != (receipt.width, receipt.height):
        return None
    buffer = io.BytesIO()
    render(seed, index).save(buffer, format="PNG", optimize=True)
    return EmbeddedImage(buffer.getvalue(), "image/png")
