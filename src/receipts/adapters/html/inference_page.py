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
from dataclasses import dataclass
from html import escape

from receipts.adapters.html.label_colours import MISMATCH_COLOUR, OUTSIDE_COLOUR, label_colour
from receipts.application.inference_response import (
    InferenceResponse,
    WordPredictionRecord,
    WordRecord,
)
from receipts.domain.aggregate import iso
from receipts.domain.labels import OUTSIDE

DASH = "-"


@dataclass(frozen=True)
class EmbeddedImage:
    data: bytes
    media_type: str
    """image/png, image/jpeg, ..."""

    def data_uri(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode()}"


def render_inference_page(response: InferenceResponse, image: EmbeddedImage | None = None) -> str:
    receipt = response.original.receipt
    title = f"LayoutLM inference · {receipt.receipt_id}"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
  <h1>{escape(title)}</h1>
  <p class="sub">{escape(receipt.source)} receipt, {receipt.width}&times;{receipt.height} px ·
  model <b>{escape(response.model_info.model_name)}</b> ·
  cached at <time datetime="{iso(response.cached_at)}">{escape(iso(response.cached_at))}</time></p>
</header>
<main>
  <section class="receipt">
    <div class="controls">
      <label><input type="checkbox" id="only-mismatches"> only mismatches</label>
      <span class="hint">hover a label to pick out its words</span>
    </div>
    {_legend(response)}
    {_svg(response, image)}
  </section>
  <aside>
    {_summary(response)}
    {_metrics_table(response)}
    {_mismatches(response)}
    {_extracted(response)}
    {_model_info(response)}
  </aside>
</main>
<script>{_JS}</script>
</body>
</html>
"""


def _svg(response: InferenceResponse, image: EmbeddedImage | None) -> str:
    receipt = response.original.receipt
    width, height = receipt.width, receipt.height
    words = {(w.word_id): w for w in response.original.words}
    if image is not None:
        background = (
            f'<image href="{image.data_uri()}" x="0" y="0" width="{width}" height="{height}"'
            ' preserveAspectRatio="none"/>'
        )
    else:
        background = f'<rect class="canvas" x="0" y="0" width="{width}" height="{height}"/>' + (
            "".join(_word_text(w) for w in response.original.words)
        )
    boxes = "".join(_box(p, words[p.word_id]) for p in response.original.predictions)
    kind = "image" if image is not None else "blank canvas"
    return (
        f'<svg id="receipt" data-background="{kind}" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" role="img"'
        f' aria-label="receipt {escape(receipt.receipt_id)} with predicted labels">'
        f'{background}<g class="boxes">{boxes}</g></svg>'
    )


def _box(prediction: WordPredictionRecord, word: WordRecord) -> str:
    box = word.bounding_box
    label = prediction.predicted_label
    classes = ["word", "outside" if label == OUTSIDE else "entity"]
    if prediction.is_correct is False:
        classes.append("mismatch")
        tip = f"predicted {label}, truth {prediction.ground_truth_label}"
    elif prediction.is_correct:
        tip = f"predicted {label} (correct)"
    else:
        tip = f"predicted {label} (no VALID label to compare)"
    tip = f"{word.text!r}: {tip}, confidence {prediction.predicted_confidence:.2f}"
    colour = label_colour(label)
    return (
        f'<rect class="{" ".join(classes)}" data-word-id="{prediction.word_id}"'
        f' data-label="{escape(label)}" x="{box.x:.1f}" y="{box.y:.1f}"'
        f' width="{box.width:.1f}" height="{box.height:.1f}" style="--c:{colour}">'
        f"<title>{escape(tip)}</title></rect>"
    )


def _word_text(word: WordRecord) -> str:
    box = word.bounding_box
    size = max(1.0, box.height * 0.8)
    return (
        f'<text class="ink" x="{box.x:.1f}" y="{box.y + box.height * 0.82:.1f}"'
        f' font-size="{size:.1f}" textLength="{max(box.width, 1.0):.1f}"'
        f' lengthAdjust="spacingAndGlyphs">{escape(word.text)}</text>'
    )


def _legend(response: InferenceResponse) -> str:
    counts: dict[str, int] = {}
    for p in response.original.predictions:
        counts[p.predicted_label] = counts.get(p.predicted_label, 0) + 1
    items = [
        f'<li data-filter-label="{escape(label)}"><span class="swatch"'
        f' style="background:{label_colour(label)}"></span>{escape(label)}'
        f" <small>{counts[label]}</small></li>"
        for label in sorted(counts, key=lambda name: (name == OUTSIDE, name))
    ]
    items.append(
        f'<li class="mismatch-key"><span class="swatch dashed"'
        f' style="border-color:{MISMATCH_COLOUR}"></span>mismatch'
        f" <small>{len(response.incorrect())}</small></li>"
    )
    return f'<ul class="legend">{"".join(items)}</ul>'


def _summary(response: InferenceResponse) -> str:
    metrics = response.metrics
    return (
        '<div class="summary">'
        f'<div class="big">{metrics.overall_accuracy:.1%}</div>'
        f"<div>word accuracy<br><small>{metrics.correct_words} of {metrics.evaluated_words}"
        " words with a VALID label</small></div></div>"
    )


def _metrics_table(response: InferenceResponse) -> str:
    metrics = response.metrics
    rows = "".join(
        f'<tr><th scope="row"><span class="swatch" style="background:{label_colour(label)}">'
        f"</span>{escape(label)}</th>"
        f"<td>{metrics.per_label_precision.get(label, 0.0):.3f}</td>"
        f"<td>{metrics.per_label_recall.get(label, 0.0):.3f}</td>"
        f'<td class="f1">{f1:.3f}</td>'
        f"<td>{metrics.per_label_support.get(label, 0)}</td></tr>"
        for label, f1 in sorted(metrics.per_label_f1.items())
    )
    mapped = ""
    if metrics.label_map:
        pairs = ", ".join(
            f"{escape(source)} → {escape(target)}"
            for source, target in sorted(metrics.label_map.items())
        )
        mapped = f'<p class="note">ground truth compared as the model was trained: {pairs}</p>'
    return (
        "<h2>Per label</h2>"
        '<table class="metrics"><thead><tr><th>label</th><th>precision</th><th>recall</th>'
        f"<th>F1</th><th>support</th></tr></thead><tbody>{rows}</tbody></table>{mapped}"
    )


def _mismatches(response: InferenceResponse) -> str:
    wrong = response.incorrect()
    if not wrong:
        return "<h2>Mismatches</h2><p>none: every word with a VALID label is right.</p>"
    rows = "".join(
        f'<tr data-word-id="{p.word_id}"><td>{escape(p.text)}</td>'
        f"<td>{escape(_shown(p.predicted_label))}</td>"
        f"<td>{escape(_shown(str(p.ground_truth_label)))}</td>"
        f"<td>{p.predicted_confidence:.2f}</td></tr>"
        for p in wrong
    )
    return (
        f"<h2>Mismatches ({len(wrong)})</h2>"
        '<table class="mismatches"><thead><tr><th>word</th><th>predicted</th><th>truth</th>'
        f"<th>conf.</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _shown(label: str) -> str:
    return "O (outside)" if label == OUTSIDE else label


def _extracted(response: InferenceResponse) -> str:
    fields = response.extracted.fields
    truth = response.original.receipt.fields
    if not fields and not truth:
        return ""
    rows = "".join(
        f"<tr><th scope='row'>{escape(name)}</th><td>{escape(fields.get(name, DASH))}</td>"
        f"<td>{escape(truth.get(name, DASH))}</td></tr>"
        for name in sorted(set(fields) | set(truth))
    )
    return (
        "<h2>Fields</h2><table class='fields'><thead><tr><th></th><th>predicted</th>"
        f"<th>receipt</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _model_info(response: InferenceResponse) -> str:
    info = response.model_info
    entries = [
        ("model", info.model_name),
        ("job", info.job_id or "-"),
        ("from", info.s3_uri or "-"),
        ("runs on", f"{info.runtime}, {info.device}, {info.quantization}"),
        ("labels", ", ".join(info.labels) or "-"),
        ("cached at", iso(response.cached_at)),
    ]
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in entries)
    return f"<h2>Model</h2><dl class='model'>{items}</dl>"


_CSS = f"""
:root {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #202124; }}
body {{ margin: 0; background: #f4f5f7; }}
header {{ padding: 16px 24px 8px; }}
h1 {{ font-size: 20px; margin: 0 0 4px; word-break: break-all; }}
h2 {{ font-size: 15px; margin: 20px 0 6px; }}
.sub {{ margin: 0; color: #5f6368; font-size: 13px; }}
main {{ display: flex; gap: 24px; padding: 8px 24px 24px; align-items: flex-start; }}
.receipt {{ flex: 0 1 auto; background: #fff; padding: 12px; border-radius: 8px;
  box-shadow: 0 1px 3px rgba(0,0,0,.15); max-width: 62%; width: fit-content; }}
aside {{ flex: 1 1 360px; min-width: 320px; background: #fff; padding: 12px 16px;
  border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.15); }}
svg#receipt {{ display: block; max-width: 100%; height: auto; border: 1px solid #dadce0; }}
rect.canvas {{ fill: #fff; }}
text.ink {{ fill: #5f6368; font-family: ui-monospace, monospace; }}
rect.word {{ fill: var(--c); fill-opacity: .28; stroke: var(--c); stroke-width: 1.5; }}
rect.word.outside {{ fill: none; stroke: {OUTSIDE_COLOUR}; stroke-opacity: .7; stroke-width: 1; }}
rect.word.mismatch {{ stroke: {MISMATCH_COLOUR}; stroke-width: 3; stroke-dasharray: 6 3;
  stroke-opacity: 1; }}
rect.word:hover, rect.word.lit {{ fill-opacity: .55; stroke-width: 3; }}
svg.focus rect.word:not(.lit) {{ opacity: .12; }}
svg.only-mismatches rect.word:not(.mismatch) {{ display: none; }}
.controls {{ display: flex; gap: 16px; align-items: center; font-size: 13px; margin-bottom: 6px; }}
.hint {{ color: #80868b; }}
ul.legend {{ list-style: none; padding: 0; margin: 0 0 10px; display: flex; flex-wrap: wrap;
  gap: 4px 12px; font-size: 12px; }}
ul.legend li {{ cursor: default; display: flex; align-items: center; gap: 4px; }}
ul.legend small {{ color: #80868b; }}
.swatch {{ display: inline-block; width: 12px; height: 12px; border-radius: 2px;
  margin-right: 4px; vertical-align: -1px; }}
.swatch.dashed {{ border: 2px dashed; width: 9px; height: 9px; background: none; }}
.summary {{ display: flex; gap: 12px; align-items: center; }}
.summary .big {{ font-size: 36px; font-weight: 700; }}
table {{ border-collapse: collapse; width: 100%; font-size: 13px; }}
th, td {{ padding: 3px 6px; border-bottom: 1px solid #eceff1; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
table.mismatches td {{ font-family: ui-monospace, monospace; font-size: 12px; }}
table.mismatches tr:hover {{ background: #fde7ef; }}
td.f1 {{ font-weight: 600; }}
.note {{ font-size: 12px; color: #5f6368; }}
dl.model {{ display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px;
  font-size: 13px; margin: 0; }}
dl.model dt {{ color: #5f6368; }}
dl.model dd {{ margin: 0; word-break: break-all; }}
"""

_JS = """
(function () {
  var svg = document.getElementById("receipt");
  var boxes = Array.prototype.slice.call(svg.querySelectorAll("rect.word"));
  function light(match) {
    svg.classList.add("focus");
    boxes.forEach(function (box) { box.classList.toggle("lit", match(box)); });
  }
  function unlight() {
    svg.classList.remove("focus");
    boxes.forEach(function (box) { box.classList.remove("lit"); });
  }
  document.querySelectorAll("[data-filter-label]").forEach(function (item) {
    var label = item.getAttribute("data-filter-label");
    item.addEventListener("mouseenter", function () {
      light(function (box) { return box.getAttribute("data-label") === label; });
    });
    item.addEventListener("mouseleave", unlight);
  });
  document.querySelectorAll("table.mismatches tr[data-word-id]").forEach(function (row) {
    var id = row.getAttribute("data-word-id");
    row.addEventListener("mouseenter", function () {
      light(function (box) { return box.getAttribute("data-word-id") === id; });
    });
    row.addEventListener("mouseleave", unlight);
  });
  var only = document.getElementById("only-mismatches");
  only.addEventListener("change", function () {
    svg.classList.toggle("only-mismatches", only.checked);
  });
})();
"""
