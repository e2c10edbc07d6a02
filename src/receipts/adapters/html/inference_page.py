"""One inference report as a single self-contained HTML file.

The receipt (its image as a data URI, or a blank canvas of its size with the words written
in their boxes) under an SVG overlay: one box per word, coloured by the predicted label;
a word whose prediction disagrees with its ground truth gets a dashed outline in the
mismatch colour and the tooltip "predicted X, truth Y". Beside it: accuracy, the per-label
precision / recall / F1 table, the mismatches, the extracted fields, the model and when
the report was made. Inline CSS and JS only: the page makes no request.
"""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass

from receipts.adapters.html import PAGES
from receipts.adapters.html.label_colours import MISMATCH_COLOUR, OUTSIDE_COLOUR, label_colour
from receipts.application.inference.response import InferenceResponse
from receipts.domain.aggregate import iso
from receipts.domain.labels import OUTSIDE


@dataclass(frozen=True)
class EmbeddedImage:
    data: bytes
    media_type: str
    """image/png, image/jpeg, ..."""

    def data_uri(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode()}"


def render_inference_page(response: InferenceResponse, image: EmbeddedImage | None = None) -> str:
    original = response.original
    counts = Counter(p.predicted_label for p in original.predictions)
    return PAGES.get_template("inference_page.html").render(
        title=f"LayoutLM inference · {original.receipt.receipt_id}",
        response=response,
        image=image,
        cached_at=iso(response.cached_at),
        words={w.word_id: w for w in original.words},
        legend=sorted(counts.items(), key=lambda item: (item[0] == OUTSIDE, item[0])),
        wrong=response.incorrect(),
        fields=sorted(set(response.extracted.fields) | set(original.receipt.fields)),
        colour=label_colour,
        outside=OUTSIDE,
        outside_colour=OUTSIDE_COLOUR,
        mismatch_colour=MISMATCH_COLOUR,
    )
