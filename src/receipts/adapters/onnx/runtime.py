"""ONNX Runtime inference on an exported bundle: LayoutLM.onnx + label_map.json.

`ONNXPredictor` feeds encoded windows (token ids and 0..1000 boxes, as
`adapters/torch/encoding.py` builds them) and returns each window's logits; the caller
merges windows back onto words (`domain/windows.py`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from receipts.adapters.export_bundle.checkpoint import labels_in_id_order

MODEL_FILE = "LayoutLM.onnx"
LABEL_MAP = "label_map.json"
CONFIG = "config.json"

IntArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float32]


class EncodedWindow(Protocol):
    """What a window must offer: its token ids and one box per token."""

    @property
    def input_ids(self) -> Sequence[int]: ...

    @property
    def bbox(self) -> Sequence[tuple[int, int, int, int]]: ...


class BundleUnusable(ValueError):
    """The directory is not an ONNX bundle this predictor can run."""


def open_session(path: Path, threads: int | None = None) -> ort.InferenceSession:
    """A CPU session; `threads` caps intra-op parallelism (None: ONNX Runtime's default)."""
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_logits(
    session: ort.InferenceSession, input_ids: IntArray, bbox: IntArray, attention_mask: IntArray
) -> FloatArray:
    """logits [B, T, labels] of int32 inputs ids [B, T], bbox [B, T, 4], mask [B, T]."""
    feeds = {
        "input_ids": np.ascontiguousarray(input_ids, dtype=np.int32),
        "bbox": np.ascontiguousarray(bbox, dtype=np.int32),
        "attention_mask": np.ascontiguousarray(attention_mask, dtype=np.int32),
    }
    logits = session.run(["logits"], feeds)[0]
    return np.asarray(logits, dtype=np.float32)


class ONNXPredictor:
    """A loaded bundle: `labels` in id order, `logits` of padded batches of windows."""

    def __init__(self, bundle_dir: Path, threads: int | None = None) -> None:
        model_path = bundle_dir / MODEL_FILE
        if not model_path.is_file():
            raise BundleUnusable(f"{bundle_dir}: no {MODEL_FILE}, so not an ONNX bundle")
        self.labels = read_labels(bundle_dir / LABEL_MAP)
        self.pad_id = read_pad_id(bundle_dir / CONFIG)
        self.session = open_session(model_path, threads)
        outputs = self.session.get_outputs()[0].shape
        if isinstance(outputs[-1], int) and outputs[-1] != len(self.labels):
            raise BundleUnusable(
                f"{bundle_dir}: the model has {outputs[-1]} labels, {LABEL_MAP} {len(self.labels)}"
            )

    def logits(self, windows: Sequence[EncodedWindow]) -> list[FloatArray]:
        """One [tokens, labels] array per window; the windows run as one padded batch."""
        if not windows:
            return []
        for index, window in enumerate(windows):
            if not window.input_ids:
                raise ValueError(f"window {index} has no tokens")
            if len(window.bbox) != len(window.input_ids):
                raise ValueError(
                    f"window {index} has {len(window.input_ids)} tokens"
                    f" but {len(window.bbox)} boxes"
                )
        width = max(len(window.input_ids) for window in windows)
        input_ids = np.full((len(windows), width), self.pad_id, dtype=np.int32)
        bbox = np.zeros((len(windows), width, 4), dtype=np.int32)
        mask = np.zeros((len(windows), width), dtype=np.int32)
        for row, window in enumerate(windows):
            n = len(window.input_ids)
            input_ids[row, :n] = window.input_ids
            bbox[row, :n] = window.bbox
            mask[row, :n] = 1
        logits = run_logits(self.session, input_ids, bbox, mask)
        return [logits[row, : len(window.input_ids)] for row, window in enumerate(windows)]

    def predict(self, windows: Sequence[EncodedWindow]) -> list[list[str]]:
        """The arg-max tag of every token of every window."""
        return [
            [self.labels[i] for i in window_logits.argmax(axis=-1)]
            for window_logits in self.logits(windows)
        ]


def read_labels(path: Path) -> list[str]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleUnusable(f"{path} is missing: the labels are unknown") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleUnusable(f"{path} is not valid JSON: {error}") from None
    if not isinstance(raw, dict) or not raw:
        raise BundleUnusable(f"{path} must map label ids to tags")
    return labels_in_id_order(raw, path, BundleUnusable)


def read_pad_id(path: Path) -> int:
    """The padding token id of the bundle's config.json (0, BERT's, when absent)."""
    if not path.is_file():
        return 0
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleUnusable(f"{path} is not valid JSON: {error}") from None
    pad = config.get("pad_token_id") if isinstance(config, dict) else None
    return pad if isinstance(pad, int) else 0
