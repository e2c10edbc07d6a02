"""`receipts inference-report`: a model's predictions beside ground truth (seed 002).

    receipts inference-report --model runs/my-job --dataset data/dev.jsonl [--receipt ID]

Without `--receipt` it is the cache generator run by hand: a receipt with VALID labels is
picked at random (`--seed` repeats a pick), the model runs, and the report is stored in the
artifact store at `layoutlm-inference-cache/latest.json` (and a per-receipt copy). With
`--receipt` it is the hybrid: that receipt's cached report when there is one made by this
model, else the model runs and the copy is refreshed; `--refresh` always runs the model.
Either way `<output>/<receipt>.json` (the response) and `<output>/<receipt>.html` (the page)
are written, and a summary printed (`--json`: the response itself).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from receipts.application.inference.cache import (
    InferenceCache,
    InferenceReports,
    NoModel,
    ReportOutcome,
    receipt_file_name,
)
from receipts.application.inference.response import InferenceResponse
from receipts.application.model_files import ModelDirectories, is_remote, local_path
from receipts.application.ports.label_store import LabelStore
from receipts.application.ports.predictor import ModelUnusable, Predictor
from receipts.bootstrap.inference import PredictorRuntime, load_predictor, model_directories
from receipts.domain.config import DataConfig
from receipts.domain.labels import MERGE_PRESETS, merge_map
from receipts.entrypoints import console
from receipts.entrypoints.cli_options import DynamoTable
from receipts.entrypoints.cli_state import State
from receipts.settings import Settings

INFERENCE_HELP = "Inference"
app = typer.Typer()


@app.command("inference-report", rich_help_panel=INFERENCE_HELP)
def inference_report(
    ctx: typer.Context,
    model: Annotated[
        str | None,
        typer.Option(
            help="Checkpoint, run directory (its best/) or ONNX bundle: a directory, an"
            " s3:// (or memory://) prefix or a model.tar.gz; not needed when the receipt's"
            " report is cached."
        ),
    ] = None,
    dataset: Annotated[
        Path | None,
        typer.Option(help="Labelled receipts, JSONL (images relative to its folder)."),
    ] = None,
    dynamo_table: DynamoTable = None,
    receipt: Annotated[
        str | None,
        typer.Option("--receipt", "--receipt-id", help="This receipt (default: random)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the random pick: same seed, same receipt.")
    ] = None,
    output: Annotated[
        Path, typer.Option(help="Folder for <receipt>.json and <receipt>.html.")
    ] = Path("inference-report"),
    refresh: Annotated[
        bool, typer.Option(help="Run the model even when the report is cached.")
    ] = False,
    preset: Annotated[
        list[str] | None,
        typer.Option(
            help="Compare ground truth merged by this preset (repeat; default: read off"
            " the model's labels)."
        ),
    ] = None,
    runtime: Annotated[
        PredictorRuntime,
        typer.Option(help="auto (bundle → ONNX, checkpoint → torch), torch or onnx."),
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the response JSON.")] = False,
) -> None:
    """A model's predictions on one receipt beside its VALID labels: accuracy, per-label
    F1, the response JSON of the inference API and an HTML view."""
    state = ctx.ensure_object(State)
    labels = _label_store(dataset, dynamo_table, state.settings)
    unknown = sorted(set(preset or ()) - set(MERGE_PRESETS))
    if unknown:
        raise typer.BadParameter(
            f"unknown preset {', '.join(unknown)} (known: {', '.join(MERGE_PRESETS)})",
            param_hint="--preset",
        )
    model_uri = _model_uri(model)
    store = state.runtime()
    reports = InferenceReports(
        labels=labels,
        cache=InferenceCache(store.artifacts, store.artifacts_uri),
        predictor=_predictor_loader(model_directories(store), model_uri, runtime, receipt),
        label_map=merge_map(preset) if preset else None,
    )
    try:
        if receipt is not None and not refresh:
            outcome = reports.hybrid(receipt, model_uri=model_uri)
        else:
            outcome = reports.generate(receipt, seed=seed)
    except ModelUnusable as error:
        console.fail(error)
    response = outcome.response
    written = write_report(response, output, labels, dataset)
    if as_json:
        console.print_json(json.loads(response.to_json()))
        return
    _print_summary(outcome, written)


def write_report(
    response: InferenceResponse, output: Path, labels: LabelStore, dataset: Path | None
) -> list[Path]:
    """`<receipt>.json` and `<receipt>.html` in `output`, each written whole."""
    from receipts.adapters.html.inference_page import render_inference_page
    from receipts.adapters.html.receipt_image import receipt_image

    try:
        image = receipt_image(labels.get(response.receipt_id), dataset.parent if dataset else None)
    except KeyError:
        image = None
    name = receipt_file_name(response.receipt_id)
    output.mkdir(parents=True, exist_ok=True)
    contents = {
        output / f"{name}.json": json.dumps(json.loads(response.to_json()), indent=2) + "\n",
        output / f"{name}.html": render_inference_page(response, image),
    }
    for path, text in contents.items():
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    return list(contents)


def _label_store(dataset: Path | None, dynamo_table: str | None, settings: Settings) -> LabelStore:
    if (dataset is None) == (dynamo_table is None):
        raise typer.BadParameter(
            "give exactly one of --dataset PATH and --dynamo-table TABLE", param_hint="--dataset"
        )
    if dataset is not None and not dataset.is_file():
        raise typer.BadParameter(f"{dataset}: no such file", param_hint="--dataset")
    from receipts.bootstrap.training import label_store_for

    source = DataConfig(dataset=str(dataset) if dataset else None, dynamo_table=dynamo_table)
    return label_store_for(source, settings)


def _model_uri(model: str | None) -> str | None:
    """`--model` as the URI reports are cached under: a store URI as given, a local
    directory as its `file://` URI (one ending in `/`), a local archive as its `file://`."""
    if model is None or is_remote(model):
        return model
    path = local_path(model)
    if not path.exists():
        raise typer.BadParameter(f"{model}: no such file or directory", param_hint="--model")
    return path.resolve().as_uri() + ("" if path.is_file() else "/")


def _predictor_loader(
    models: ModelDirectories, model_uri: str | None, runtime: PredictorRuntime, receipt: str | None
) -> Callable[[], Predictor]:
    def load() -> Predictor:
        if model_uri is None:
            what = f"receipt {receipt!r} has no cached report" if receipt else "a report is made"
            raise NoModel(f"{what}: give --model DIR to run a model")
        with console.err.status(Text(f"loading {model_uri}")):  # a str would be markup
            directory = models.local_directory(model_uri)
            return load_predictor(directory, runtime=runtime, source_uri=model_uri)

    return load


def _print_summary(outcome: ReportOutcome, written: list[Path]) -> None:
    response = outcome.response
    metrics = response.metrics
    table = Table(title=f"receipt {response.receipt_id}")
    for column in ("label", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label, f1 in sorted(metrics.per_label_f1.items()):
        table.add_row(
            label,
            f"{metrics.per_label_precision[label]:.3f}",
            f"{metrics.per_label_recall[label]:.3f}",
            f"{f1:.3f}",
            str(metrics.per_label_support.get(label, 0)),
        )
    console.out.print(table)
    source = "from the cache" if outcome.from_cache else "model ran"
    console.out.print(
        console.styled(
            (f"word accuracy {metrics.overall_accuracy:.1%}", "bold"),
            f" ({metrics.correct_words} of {metrics.evaluated_words} words with a VALID label;"
            f" {source}; model {response.model_info.model_name})",
        )
    )
    if metrics.label_map:
        pairs = ", ".join(f"{k} → {v}" for k, v in metrics.label_map.items())
        console.out.print(f"ground truth compared as: {pairs}")
    for path in written:
        console.out.print(f"wrote {path}")
    for uri in outcome.stored:
        console.out.print(f"cached {uri}")
