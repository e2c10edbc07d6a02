"""A tiny LayoutLM checkpoint as SageMaker uploads it (HF layout, safetensors, model.tar.gz)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

TAGS = ["O", "B-AMOUNT", "I-AMOUNT", "B-DATE", "I-DATE"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(59)]


def tiny_model_archive(directory: Path, seed: int = 0) -> bytes:
    """Writes the checkpoint into `directory`; returns it as the bytes of a model.tar.gz."""
    import torch

    from receipts.adapters.torch.models import build_model

    torch.manual_seed(seed)
    model = build_model("tiny", TAGS, len(VOCAB), max_positions=128)
    model.save_pretrained(directory, safe_serialization=True)
    (directory / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(directory.iterdir()):
            tar.add(path, arcname=path.name)
    return buffer.getvalue()
