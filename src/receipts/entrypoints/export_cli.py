"""`receipts export-coreml`: a checkpoint (a directory, or a URI in the artifact store)
straight to a CoreML bundle, without the queue (the seeds' direct export)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.table import Table
from rich.text import Text

from receipts.adapters.export_bundle.checkpoint import inspect_checkpoint
from receipts.application.ports.artifact_store import ArtifactNotFound
from receipts.application.ports.exporter import BundleReport, ExportFailed
from receipts.domain.artifacts import ArtifactURI, InvalidArtifactURI
from receipts.domain.quantization import Quantization
from receipts.entrypoints import console
from receipts.entrypoints.cli_options import AsJson
from receipts.entrypoints.cli_state import State

if TYPE_CHECKING:
    from receipts.adapters.coreml.exporter import CoreMLExporter

EXPORT_HELP = "Export"
app = typer.Typer()
FIGURES = (
    ("validation_set", "validation set"),
    ("validation_receipts", "receipts"),
    ("fp16_check", "float16 check"),
    ("fp16_max_activation", "largest activation"),
    ("fp16_max_activation_at", "  at"),
    ("fp16_max_abs_logit_diff", "float16 max |Δ logit|"),
    ("fp16_argmax_agreement", "float16 label agreement"),
    ("weight_quantization", "weight quantization"),
    ("f1_float32", "entity F1 float32"),
    ("f1_float16", "entity F1 float16"),
    ("f1_quantized", "entity F1 quantized"),
    ("f1_delta", "F1 delta"),
    ("f1_quantized_float16", "entity F1 quantized, float16 compute"),
    ("f1_delta_float16", "F1 delta, float16 compute"),
    ("word_label_agreement", "word label agreement"),
    ("max_abs_logit_diff", "quantized max |Δ logit|"),
    ("coreml_comparison", "CoreML vs torch"),
    ("coreml_max_abs_logit_diff", "CoreML max |Δ logit|"),
)


@app.command("export-coreml", rich_help_panel=EXPORT_HELP)
def export_coreml(
    ctx: typer.Context,
    output_dir: Annotated[
        Path, typer.Option(help="Where the bundle goes (created; must be empty).")
    ],
    checkpoint: Annotated[
        Path | None, typer.Option(help="A checkpoint directory (HF layout, safetensors).")
    ] = None,
    s3_uri: Annotated[
        str | None,
        typer.Option(
            help="A checkpoint prefix in the artifact store (s3:// in aws mode, file://)."
        ),
    ] = None,
    quantize: Annotated[
        Quantization, typer.Option(help="Weights: float16, int8 or int4 (iOS 18).")
    ] = Quantization.FLOAT16,
    validation_data: Annotated[
        Path | None,
        typer.Option(help="Labelled receipts (JSONL) to measure F1 on; default synthetic."),
    ] = None,
    validation_receipts: Annotated[
        int, typer.Option(min=1, help="Synthetic receipts when no --validation-data.")
    ] = 32,
    as_json: AsJson = False,
) -> None:
    """Convert a checkpoint to a CoreML bundle (LayoutLM.mlpackage, vocab.txt,
    config.json, label_map.json, manifest.json) with validation figures."""
    if (checkpoint is None) == (s3_uri is None):
        raise typer.BadParameter(
            "give exactly one of --checkpoint DIR and --s3-uri URI", param_hint="--checkpoint"
        )
    source_uri = _checkpoint_uri(s3_uri) if s3_uri else None
    _check_paths(output_dir, validation_data)
    created = not output_dir.exists()
    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="receipts-checkpoint-") as scratch:
            if source_uri is not None:
                checkpoint = _download(ctx, source_uri, Path(scratch) / "checkpoint")
            assert checkpoint is not None
            report = _export(
                checkpoint,
                output_dir,
                quantize,
                validation_data,
                validation_receipts,
                source_uri or checkpoint.resolve().as_uri() + "/",
            )
    except ExportFailed as error:
        if created:
            shutil.rmtree(output_dir, ignore_errors=True)
        console.err.print(console.styled(("export failed:", "red"), f" {error}"))
        raise typer.Exit(1) from None
    source = source_uri or str(checkpoint)
    if as_json:
        console.print_json(_summary(output_dir, source, quantize, report))
        return
    console.out.print(bundle_table(output_dir, report))
    console.out.print(figures_table(report.validation))
    console.out.print(
        console.styled(
            ("exported", "green"),
            f" {source} → {output_dir} ({quantize.value},"
            f" {_megabytes(sum(report.file_sizes.values()))})",
        )
    )


def _check_paths(output_dir: Path, validation_data: Path | None) -> None:
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise typer.BadParameter(
            f"{output_dir} exists and is not an empty directory", param_hint="--output-dir"
        )
    if validation_data is not None and not validation_data.is_file():
        raise typer.BadParameter(f"{validation_data}: no such file", param_hint="--validation-data")


def _export(
    checkpoint: Path,
    output_dir: Path,
    quantize: Quantization,
    validation_data: Path | None,
    validation_receipts: int,
    source_uri: str,
) -> BundleReport:
    inspect_checkpoint(checkpoint)  # a bad checkpoint is named before torch loads
    from receipts.bootstrap.export import exporter_for

    exporter = cast(
        "CoreMLExporter",
        exporter_for(
            "coreml", validation_dataset=validation_data, synthetic_receipts=validation_receipts
        ),
    )
    return exporter.export(checkpoint, output_dir, quantize, source_uri=source_uri)


def _download(ctx: typer.Context, uri: str, target: Path) -> Path:
    artifacts = ctx.ensure_object(State).runtime().artifacts
    try:
        written = artifacts.download_dir(uri, target)
    except (ValueError, ArtifactNotFound) as error:  # another scheme, outside the root, ...
        raise ExportFailed(f"cannot download the checkpoint {uri}: {error}") from None
    if not written:
        raise ExportFailed(f"no checkpoint files under {uri}")
    return target


def _checkpoint_uri(text: str) -> str:
    try:
        return str(ArtifactURI.parse(text).as_prefix())
    except InvalidArtifactURI as error:
        raise typer.BadParameter(str(error), param_hint="--s3-uri") from None


def _summary(
    output_dir: Path, source: str, quantize: Quantization, report: BundleReport
) -> dict[str, Any]:
    return {
        "bundle_dir": str(output_dir),
        "source": source,
        "quantization": quantize.value,
        "total_bytes": sum(report.file_sizes.values()),
        "file_sizes": report.file_sizes,
        "validation": report.validation,
    }


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB" if size >= 2**20 else f"{size / 2**10:,.1f} KiB"


def bundle_table(output_dir: Path, report: BundleReport) -> Table:
    """One row per top-level entry of the bundle (the package's files summed)."""
    entries: dict[str, int] = {}
    for name, size in report.file_sizes.items():
        top = name.split("/", 1)[0]
        entries[top] = entries.get(top, 0) + size
    table = Table(title=f"bundle {output_dir}")
    table.add_column("file")
    table.add_column("size", justify="right")
    for name, size in sorted(entries.items()):
        table.add_row(name, _megabytes(size))
    table.add_row(
        Text("total", style="bold"),
        Text.assemble((_megabytes(sum(entries.values())), "bold")),
    )
    return table


def figures_table(validation: dict[str, Any]) -> Table:
    table = Table(title="validation")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, label in FIGURES:
        if key in validation:
            table.add_row(label, _figure(validation[key]))
    return table


def _figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)
