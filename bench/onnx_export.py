"""ONNX export per size and quantization (seconds, sizes, parity with torch) and ONNX
Runtime vs torch latency at 128 / 512 tokens.

    .venv/bin/python bench/onnx_export.py                        # tiny and small
    .venv/bin/python bench/onnx_export.py --sizes tiny small base --latency-size small

Models are built from the named sizes (random weights, BERT's 30,522-token vocabulary,
9 tags, 512 positions) and saved as safetensors checkpoints in a temporary directory.
Random weights give near-uniform logits, so their arg-max agreement understates what a
trained model keeps: `--checkpoint DIR` adds rows for checkpoints trained elsewhere.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from machine import cpu_pressure
from receipts.adapters.onnx.exporter import ONNXExporter
from receipts.adapters.onnx.graph_export import export_graph
from receipts.adapters.onnx.parity import parity_inputs, torch_logits
from receipts.adapters.onnx.quantization import quantize_graph
from receipts.adapters.onnx.runtime import MODEL_FILE, open_session, run_logits
from receipts.adapters.torch.export_model import load_for_export
from receipts.adapters.torch.models import build_model
from receipts.domain.quantization import Quantization

TAGS = ["O"] + [f"{p}-{e}" for e in ("AMOUNT", "DATE", "MERCHANT", "PHONE") for p in "BI"]
VOCAB_SIZE = 30_522


def write_checkpoint(size: str, directory: Path) -> Path:
    torch.manual_seed(0)
    model = build_model(size, TAGS, VOCAB_SIZE, max_positions=512)
    model.save_pretrained(directory, safe_serialization=True)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += [f"tok{i}" for i in range(VOCAB_SIZE - len(tokens))]
    (directory / "vocab.txt").write_text("\n".join(tokens) + "\n")
    return directory


def export_table(sizes: list[str], checkpoints: list[Path], root: Path, threads: int) -> None:
    print(
        "| size | mode | export s (graph/validate/quantize/validate) | fp32 MB | model MB"
        " | bundle MB | fp32 max diff | mode max diff | arg-max agreement random / receipts |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    exporter = ONNXExporter(threads=threads)
    sources = [(size, write_checkpoint(size, root / f"{size}-checkpoint")) for size in sizes]
    sources += [(str(path), path) for path in checkpoints]
    for size, checkpoint in sources:
        for mode in Quantization:
            bundle = root / f"{len(list(root.iterdir()))}-{mode.value}"
            bundle.mkdir()
            started = time.perf_counter()
            report = exporter.export(checkpoint, bundle, mode)
            total = time.perf_counter() - started
            v = report.validation
            steps = "/".join(f"{s:.1f}" for s in v["seconds"].values())
            print(
                f"| {size} | {mode.value} | {total:.1f} ({steps}) | {v['fp32_bytes'] / 1e6:.1f}"
                f" | {report.file_sizes[MODEL_FILE] / 1e6:.1f}"
                f" | {sum(report.file_sizes.values()) / 1e6:.1f}"
                f" | {v['fp32']['max_abs_diff']:.2g} | {v[mode.value]['max_abs_diff']:.3g}"
                f" | {v[mode.value]['argmax_agreement']:.4f}"
                f" / {v[mode.value].get('receipts_argmax_agreement', float('nan')):.4f} |",
                flush=True,
            )


def median_ms(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def latency_table(size: str, root: Path, threads: int, repeats: int) -> None:
    torch.set_num_threads(threads)
    checkpoint = write_checkpoint(size, root / f"{size}-latency")
    model = load_for_export(checkpoint)
    fp32 = root / f"{size}-fp32.onnx"
    export_graph(model, fp32)
    graphs = {"onnxruntime fp32": fp32}
    for mode in Quantization:
        graphs[f"onnxruntime {mode.value}"] = root / f"{size}-{mode.value}.onnx"
        quantize_graph(fp32, graphs[f"onnxruntime {mode.value}"], mode)
    sessions = {name: open_session(path, threads) for name, path in graphs.items()}
    print(f"\n{size}: batch 1, {threads} threads, median of {repeats} runs, ms")
    print("| runtime | 128 tokens | 512 tokens |")
    print("|---|---|---|")
    rows: dict[str, list[float]] = {"torch fp32": []}
    rows.update({name: [] for name in sessions})
    for length in (128, 512):
        inputs = parity_inputs(VOCAB_SIZE, length, 1, seed=3)
        rows["torch fp32"].append(median_ms(partial(torch_logits, model, *inputs), repeats))
        for name, session in sessions.items():
            rows[name].append(median_ms(partial(run_logits, session, *inputs), repeats))
    for name, (short, long) in rows.items():
        print(f"| {name} | {short:.1f} | {long:.1f} |")
    sizes = {name: path.stat().st_size / 1e6 for name, path in graphs.items()}
    print("sizes MB: " + ", ".join(f"{name} {mb:.1f}" for name, mb in sizes.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=["tiny", "small"])
    parser.add_argument("--checkpoint", type=Path, nargs="*", default=[])
    parser.add_argument("--latency-size", default="small", help="'' for none")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"cpu pressure (some avg10): {cpu_pressure()}")
    with tempfile.TemporaryDirectory() as scratch:
        export_table(args.sizes, args.checkpoint, Path(scratch), args.threads)
        if args.latency_size:
            latency_table(args.latency_size, Path(scratch), args.threads, args.repeats)
    print(f"cpu pressure (some avg10): {cpu_pressure()}")


if __name__ == "__main__":
    main()
