"""The traceable form of a LayoutLM token classifier that exporters convert.

LayoutLM's own forward builds its additive attention mask as `(1 - mask) * finfo.min`.
Converted with float16 compute precision, finfo(float32).min becomes -inf, and
`0 * -inf` is NaN for every attended position: the whole output is NaN. This wrapper
builds the mask with -1e4 instead (exp(-1e4) is 0 in float16 too), takes int32 inputs
(what CoreML and ONNX runtimes feed) and returns the logits and their softmax.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from pathlib import Path

import torch
from transformers import LayoutLMForTokenClassification

MASKED_SCORE = -1.0e4
"""Added to the attention scores of padding: far below any real score, far above -65504."""
INPUT_NAMES = ("input_ids", "bbox", "attention_mask")
OUTPUT_NAMES = ("logits", "probabilities")


class ExportableTokenClassifier(torch.nn.Module):
    """(input_ids, bbox, attention_mask) int32 → (logits, probabilities), both
    [batch, sequence, labels]; token types are all 0, positions 0..sequence-1."""

    def __init__(self, model: LayoutLMForTokenClassification) -> None:
        super().__init__()
        self.embeddings = model.layoutlm.embeddings
        self.encoder = model.layoutlm.encoder
        self.classifier = model.classifier
        self.eval()

    def forward(
        self, input_ids: torch.Tensor, bbox: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        embedded = self.embeddings(
            input_ids=input_ids, bbox=bbox, token_type_ids=torch.zeros_like(input_ids)
        )
        keep = attention_mask[:, None, None, :].to(embedded.dtype)
        additive_mask = (1.0 - keep) * MASKED_SCORE
        hidden = self.encoder(embedded, additive_mask)[0]
        logits = self.classifier(hidden)
        return logits, torch.softmax(logits, dim=-1)


def load_for_export(directory: Path) -> LayoutLMForTokenClassification:
    """The checkpoint's model from model.safetensors only, in eval mode, with the eager
    attention (plain matmul + softmax, which every converter handles)."""
    with redirect_stderr(io.StringIO()):  # transformers' "Loading weights" progress bar
        model = LayoutLMForTokenClassification.from_pretrained(
            directory, use_safetensors=True, attn_implementation="eager"
        )
    model.train(False)
    return model


def example_inputs(
    sequence_length: int, vocab_size: int, batch: int = 1, seed: int = 0, padding: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random int32 inputs of the wrapper's shape with valid boxes (x0 <= x1, y0 <= y1),
    the last `padding` positions masked out."""
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, sequence_length)
    input_ids = torch.randint(0, vocab_size, shape, generator=generator, dtype=torch.int32)
    corners = torch.randint(0, 1001, (*shape, 4), generator=generator, dtype=torch.int32)
    low = torch.minimum(corners[..., :2], corners[..., 2:])
    high = torch.maximum(corners[..., :2], corners[..., 2:])
    bbox = torch.cat([low, high], dim=-1)
    attention_mask = torch.ones(shape, dtype=torch.int32)
    if padding:
        attention_mask[:, sequence_length - padding :] = 0
    return input_ids, bbox, attention_mask
