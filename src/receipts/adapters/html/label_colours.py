"""One colour per label, the same on every page: known labels from a fixed palette."""

from __future__ import annotations

import hashlib

from receipts.domain.labels import KNOWN_LABELS, OUTSIDE

OUTSIDE_COLOUR = "#9aa0a6"
MISMATCH_COLOUR = "#e0115f"
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#17becf",
    "#bcbd22",
    "#e377c2",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#636363",
    "#fd8d3c",
    "#6baed6",
)
_KNOWN = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(KNOWN_LABELS))}


def label_colour(label: str) -> str:
    if label == OUTSIDE:
        return OUTSIDE_COLOUR
    if label in _KNOWN:
        return _KNOWN[label]
    hue = int(hashlib.sha256(label.encode()).hexdigest()[:4], 16) % 360
    return f"hsl({hue}, 60%, 42%)"
