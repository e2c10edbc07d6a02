"""CoreML export: seconds and bundle size per model size and quantization, and the entity
F1 change of int8 and int4 against float32.

    .venv/bin/python bench/export.py [--sizes tiny,small,base] [--quantizations float16,int8,int4]
        [--f1-models tiny,minilm] [--checkpoint DIR ...] [--validation-data JSONL]
        [--validation-receipts 64] [--train-receipts 160] [--train-epochs 4] [--json FILE]

Sizes and times: each size is built from its config with random weights and the BERT
vocabulary size (30,522 tokens, as LayoutLM-base), saved as a checkpoint and exported
through the CoreMLExporter (float16 check included, F1 skipped: random weights have none).
"export s" is the whole export, "convert s" the coremltools part of it.

F1: trained models, because the F1 change of random weights means nothing. `tiny` is
trained from scratch and `minilm` warm-started from the pretrained MiniLM-L6 (the
`pretrained` extra; real pretrained weight distributions) on seeded synthetic receipts,
with the project's trainer; `--checkpoint DIR` adds checkpoints trained elsewhere (a base
model, say). Each is exported int8 and int4; the exporter applies the same weight
quantization to the torch model and scores entity F1 on the validation receipts
(synthetic, another seed, unless --validation-data). A delta is quantized - float32;
the `_fp16` deltas run the quantized weights with float16 activations, as the device does.

Targets (LayoutLM-base): float16 <= 220 MB, int8 <= 110 MB, int4 <= 60 MB, read as MiB
(2^20 bytes, the unit the seeds' ~220 MB float16 figure matches: 112.6M weights x 2
bytes = 214.8 MiB = 225 decimal MB); int8 |F1 delta| <= 0.5 point on every trained model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import torch

from machine import cpu_pressure
from receipts.adapters.coreml.exporter import CoreMLExporter
from receipts.adapters.synthetic.generator import generate_receipts
from receipts.adapters.torch.checkpoints import save_checkpoint
from receipts.adapters.torch.models import SIZES, build_model
from receipts.adapters.torch.tokenization import SPECIAL, load_tokenizer
from receipts.adapters.torch.trainer import LayoutLMTrainer, SilentReporter
from receipts.application.ports.training_backend import TrainingReporter, TrainingSpec
from receipts.application.ports.training_data import PreparedDataset
from receipts.application.training.datasets import prepare_dataset
from receipts.domain.config import JobConfig
from receipts.domain.quantization import Quantization

MIB = 2**20
BERT_VOCAB = 30_522
SIZE_TARGETS_MIB = {Quantization.FLOAT16: 220, Quantization.INT8: 110, Quantization.INT4: 60}
INT8_F1_TARGET_POINTS = 0.5
TAGS = ["O", "B-AMOUNT", "I-AMOUNT", "B-DATE", "I-DATE", "B-MERCHANT_NAME", "I-MERCHANT_NAME"]


@dataclass
class SizeRow:
    size: str
    parameters_m: float
    quantization: str
    export_seconds: float
    conversion_seconds: float
    bundle_mib: float
    bundle_mb: float
    fp16_max_activation: float
    verdict: str


@dataclass
class F1Row:
    model: str
    validation: str
    f1_float32: float
    int8_delta_points: float | None
    int4_delta_points: float | None
    int8_delta_fp16_points: float | None
    int4_delta_fp16_points: float | None
    int8_word_agreement: float | None
    int4_word_agreement: float | None
    verdict: str


def random_checkpoint(size: str, directory: Path) -> tuple[Path, float]:
    """A checkpoint of `size` with random weights and a 30,522-token vocabulary."""
    torch.manual_seed(0)
    model = build_model(size, TAGS, BERT_VOCAB)
    vocab_dir = directory / f"{size}-vocab"
    vocab_dir.mkdir(parents=True)
    tokens = SPECIAL + [f"[unused{i}]" for i in range(BERT_VOCAB - len(SPECIAL))]
    (vocab_dir / "vocab.txt").write_text("\n".join(tokens) + "\n")
    checkpoint = directory / f"{size}-random"
    save_checkpoint(checkpoint, model, load_tokenizer(vocab_dir), {"job_name": f"bench-{size}"})
    return checkpoint, sum(p.numel() for p in model.parameters()) / 1e6


def bundle_bytes(bundle: Path) -> int:
    return sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())


def measure_sizes(sizes: list[str], quantizations: list[Quantization], work: Path) -> list[SizeRow]:
    rows = []
    exporter = CoreMLExporter(synthetic_receipts=4, validate_f1=False)
    for size in sizes:
        checkpoint, parameters = random_checkpoint(size, work)
        for quantization in quantizations:
            bundle = work / f"bundle-{size}-{quantization.value}"
            bundle.mkdir()
            started = time.perf_counter()
            exporter.export(checkpoint, bundle, quantization)
            seconds = time.perf_counter() - started
            manifest = json.loads((bundle / "manifest.json").read_text())
            total = bundle_bytes(bundle)
            target = SIZE_TARGETS_MIB[quantization]
            verdict = (
                ("PASS" if total / MIB <= target else "MISS") + f" (<= {target} MiB)"
                if size == "base"
                else "-"
            )
            row = SizeRow(
                size=size,
                parameters_m=round(parameters, 1),
                quantization=quantization.value,
                export_seconds=round(seconds, 1),
                conversion_seconds=manifest["model"]["conversion_seconds"],
                bundle_mib=round(total / MIB, 1),
                bundle_mb=round(total / 1e6, 1),
                fp16_max_activation=manifest["validation"]["fp16_max_activation"],
                verdict=verdict,
            )
            print_row(asdict(row))
            rows.append(row)
            shutil.rmtree(bundle)
        shutil.rmtree(checkpoint)
    return rows


def train_checkpoint(kind: str, work: Path, receipts: int, epochs: int) -> Path:
    """The best checkpoint of a short run on seeded synthetic receipts."""
    model: dict[str, Any] = {"max_seq_length": 128, "stride": 32}
    if kind == "minilm":
        model["pretrained"] = "minilm"
        learning_rate = 1e-4
    else:
        model["model_size"] = kind
        learning_rate = 1e-3
    config = JobConfig.model_validate(
        {
            "hyperparameters": {
                "epochs": epochs,
                "batch_size": 8,
                "learning_rate": learning_rate,
                "early_stopping_patience": 0,
            },
            "data": {"merge_amounts": True},
            "model": model,
        }
    )

    def synthetic(spec: TrainingSpec, reporter: TrainingReporter) -> PreparedDataset:
        return prepare_dataset(
            generate_receipts(receipts, seed=0),
            spec.config.data,
            seed=1,
            o_entity_ratio=None,
            source=f"synthetic:0:{receipts}",
        )

    name = f"bench-{kind}"
    spec = TrainingSpec(job_id=uuid4(), job_name=name, config=config)
    started = time.perf_counter()
    results = LayoutLMTrainer(synthetic, work / "runs", handle_signals=False).train(
        spec, SilentReporter()
    )
    print(
        f"  trained {kind}: best F1 {results.best_f1:.4f} at epoch {results.best_epoch}"
        f" in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return work / "runs" / name / "best"


def measure_f1(
    models: dict[str, Path], validation_data: Path | None, validation_receipts: int, work: Path
) -> list[F1Row]:
    exporter = CoreMLExporter(
        validation_dataset=validation_data, synthetic_receipts=validation_receipts
    )
    rows = []
    for name, checkpoint in models.items():
        figures: dict[Quantization, dict[str, Any]] = {}
        for quantization in (Quantization.INT8, Quantization.INT4):
            slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
            bundle = work / f"f1-{slug}-{quantization.value}"
            bundle.mkdir()
            figures[quantization] = exporter.export(checkpoint, bundle, quantization).validation
            shutil.rmtree(bundle)
        int8, int4 = figures[Quantization.INT8], figures[Quantization.INT4]
        int8_points = int8["f1_delta"] * 100
        row = F1Row(
            model=name,
            validation=f"{int8['validation_set']} ({int8['validation_words']} words)",
            f1_float32=round(int8["f1_float32"], 4),
            int8_delta_points=round(int8_points, 3),
            int4_delta_points=round(int4["f1_delta"] * 100, 3),
            int8_delta_fp16_points=round(int8["f1_delta_float16"] * 100, 3),
            int4_delta_fp16_points=round(int4["f1_delta_float16"] * 100, 3),
            int8_word_agreement=round(int8["word_label_agreement"], 4),
            int4_word_agreement=round(int4["word_label_agreement"], 4),
            verdict=("PASS" if abs(int8_points) <= INT8_F1_TARGET_POINTS else "MISS")
            + f" (int8 |delta| <= {INT8_F1_TARGET_POINTS} point)",
        )
        print_row(asdict(row))
        rows.append(row)
    return rows


def print_row(row: dict[str, Any]) -> None:
    print("  " + "  ".join(f"{key}={value}" for key, value in row.items()), flush=True)


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)"
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = [" | ".join(c.ljust(widths[c]) for c in columns)]
    lines.append("-|-".join("-" * widths[c] for c in columns))
    lines += [" | ".join(str(r[c]).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="tiny,small,base")
    parser.add_argument("--quantizations", default="float16,int8,int4")
    parser.add_argument("--f1-models", default="tiny,minilm", help="'' for none")
    parser.add_argument("--checkpoint", type=Path, action="append", default=[])
    parser.add_argument("--validation-data", type=Path)
    parser.add_argument("--validation-receipts", type=int, default=64)
    parser.add_argument("--train-receipts", type=int, default=160)
    parser.add_argument("--train-epochs", type=int, default=4)
    parser.add_argument("--json", type=Path, help="Also write the rows here.")
    args = parser.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; known: {', '.join(SIZES)}")
    try:
        quantizations = [Quantization(q) for q in args.quantizations.split(",") if q]
    except ValueError as error:
        parser.error(str(error))
    f1_models = [m for m in args.f1_models.split(",") if m]
    print(f"cpu pressure (some avg10): {cpu_pressure()}; torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory(prefix="bench-export-") as scratch:
        work = Path(scratch)
        print("sizes and times (random weights, 30,522-token vocabulary):", flush=True)
        size_rows = measure_sizes(sizes, quantizations, work)
        print("F1 change of weight quantization (trained models):", flush=True)
        models = {
            kind: train_checkpoint(kind, work, args.train_receipts, args.train_epochs)
            for kind in f1_models
        }
        models |= {str(path): path for path in args.checkpoint}
        f1_rows = measure_f1(models, args.validation_data, args.validation_receipts, work)
    print()
    print(table([asdict(r) for r in size_rows]))
    print()
    print(table([asdict(r) for r in f1_rows]))
    print(f"\ncpu pressure at the end: {cpu_pressure()}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"sizes": [asdict(r) for r in size_rows], "f1": [asdict(r) for r in f1_rows]},
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
