"""`receipts train`, `receipts evaluate` and `receipts synthesize`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer

from receipts.application.training.leases import sweep
from receipts.bootstrap import Runtime
from receipts.domain.errors import InvalidInput
from receipts.domain.job import JobDraft, JobStatus
from receipts.entrypoints import console
from receipts.entrypoints.cli_options import (
    AllowedLabels,
    AsJson,
    DynamoTable,
    MergeAddressPhone,
    MergeAmounts,
    MergeDateTime,
    Presets,
    ValidationSplit,
    job_config_input,
)
from receipts.entrypoints.cli_state import State
from receipts.entrypoints.progress import RichTrainingProgress

TRAINING_HELP = "Training"
app = typer.Typer()


def _tags(pairs: list[str]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput("tag", [f"{pair!r}: expected KEY=VALUE"])
        tags[key] = value
    return tags


@app.command(rich_help_panel=TRAINING_HELP)
def train(
    ctx: typer.Context,
    job_name: Annotated[
        str | None, typer.Option(help="Unique job name (default: receipts-<time>).")
    ] = None,
    dataset: Annotated[Path | None, typer.Option(help="Labelled receipts, JSONL.")] = None,
    dynamo_table: DynamoTable = None,
    epochs: Annotated[int, typer.Option(help="Epochs.")] = 10,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 8,
    learning_rate: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 5e-5,
    warmup_ratio: Annotated[float, typer.Option(help="Warm-up share of all steps.")] = 0.1,
    label_smoothing: Annotated[float, typer.Option(help="Label smoothing.")] = 0.0,
    o_entity_ratio: Annotated[
        float | None, typer.Option(help="Max O:entity words; drops O-only lines.")
    ] = None,
    merge_amounts: MergeAmounts = False,
    merge_date_time: MergeDateTime = False,
    merge_address_phone: MergeAddressPhone = False,
    presets: Presets = None,
    allowed_labels: AllowedLabels = None,
    early_stopping_patience: Annotated[
        int, typer.Option(help="Epochs without gain before stopping.")
    ] = 2,
    early_stopping_threshold: Annotated[
        float, typer.Option(help="Least F1 gain that counts.")
    ] = 0.0,
    gradient_accumulation_steps: Annotated[
        int, typer.Option(help="Batches per optimizer step.")
    ] = 1,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.01,
    num_workers: Annotated[int, typer.Option(help="Data-loading worker processes.")] = 0,
    mixed_precision: Annotated[
        str,
        typer.Option(
            help="auto, no, fp16 or bf16. GPU: auto = bf16 where supported, else fp16."
            " CPU: only bf16 autocasts (fast with AMX / AVX512-BF16); auto stays fp32."
        ),
    ] = "auto",
    validation_split: ValidationSplit = 0.2,
    dataset_snapshot_save: Annotated[
        Path | None, typer.Option(help="Save the prepared data set here.")
    ] = None,
    dataset_snapshot_load: Annotated[
        Path | None, typer.Option(help="Train on a saved data set.")
    ] = None,
    model_size: Annotated[str, typer.Option(help="tiny, small or base (from scratch).")] = "base",
    pretrained: Annotated[
        str | None, typer.Option(help="'minilm' or a local model directory.")
    ] = None,
    max_seq_length: Annotated[int, typer.Option(help="Tokens per window.")] = 512,
    stride: Annotated[int, typer.Option(help="Tokens shared by consecutive windows.")] = 128,
    seed: Annotated[int, typer.Option(help="Seed of split, init, order.")] = 42,
    output_dir: Annotated[
        Path | None, typer.Option(help="Checkpoints and run.json go here.")
    ] = None,
    keep_checkpoints: Annotated[
        int, typer.Option(help="Epoch checkpoints kept besides best/.")
    ] = 2,
    resume: Annotated[
        str | None, typer.Option(help="Resume this interrupted job (id or name).")
    ] = None,
    description: Annotated[str, typer.Option(help="What the run is for.")] = "",
    tag: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE job tag, e.g. skip-coreml-export=true.")
    ] = None,
    created_by: Annotated[str, typer.Option(help="Who started it.")] = "cli",
) -> None:
    """Train a LayoutLM token classifier as a tracked job (the seeds' `layoutlm-cli train`)."""
    runtime = ctx.ensure_object(State).runtime()
    job_id = _interrupted_job(runtime, resume) if resume else _new_job(runtime, ctx.params)
    _run_training(runtime, job_id, output_dir, keep_checkpoints)


def _new_job(runtime: Runtime, params: dict[str, Any]) -> UUID:
    """Records the job once its flags and its data are valid (a bad one records nothing)."""
    from receipts.bootstrap.training import read_dataset

    name = params["job_name"] or f"receipts-{time.strftime('%Y-%m-%d-%H%M%S')}"
    draft = JobDraft.parse(
        {
            "name": name,
            "description": params["description"],
            "created_by": params["created_by"],
            "tags": _tags(params["tag"] or []),
            "config": job_config_input(params),  # each config flag is named after its field
            "storage": runtime.run_storage(name),
        }
    )
    _, warnings = read_dataset(draft.config, runtime.settings)
    for warning in warnings:
        console.err.print(console.styled(("warning", "yellow"), f": {warning}"))
    return runtime.jobs.create_job(draft)


def _interrupted_job(runtime: Runtime, key: str) -> UUID:
    job = runtime.jobs.find_job(key)
    if job.status is JobStatus.RUNNING:
        # a trainer that died (SIGKILL, OOM, a lost node) left it running: once its lease
        # has expired it is ended here as `receipts jobs recover` would
        [recovery] = sweep(runtime.jobs, [job.id])
        if recovery.outcome in ("interrupted", "failed"):
            console.err.print(console.styled((recovery.outcome, "yellow"), f": {recovery.detail}"))
        job = runtime.jobs.get_job(job.id)
        if job.status is JobStatus.RUNNING:
            raise InvalidInput(
                "--resume", [f"job {job.name} is running, not interrupted: {recovery.detail}"]
            )
    if job.status is not JobStatus.INTERRUPTED:
        raise InvalidInput("--resume", [f"job {job.name} is {job.status.value}, not interrupted"])
    return job.id


def _run_training(
    runtime: Runtime, job_id: UUID, output_dir: Path | None, keep_checkpoints: int
) -> None:
    """Trains the recorded job and says how it ended: exit 130 when interrupted, 1 failed."""
    job = runtime.jobs.get_job(job_id)
    console.out.print(console.styled("job ", (job.name, "bold"), f" ({job.id})"))
    # torch loads only once the job is valid: bad input is refused in well under a second
    from receipts.application.training.run_training import run_training
    from receipts.bootstrap.training import layoutlm_trainer, lease_terms

    trainer = layoutlm_trainer(
        runtime,
        output_dir,
        progress=RichTrainingProgress(console.out),
        keep_checkpoints=keep_checkpoints,
    )
    status = run_training(runtime.jobs, job_id, trainer, lease=lease_terms(runtime.settings))
    job = runtime.jobs.get_job(job_id)
    if status is JobStatus.SUCCEEDED and job.results:
        r = job.results
        field_f1 = r.extra.get("best_field_f1")
        console.out.print(
            console.styled(
                ("succeeded", "green"),
                f": best entity F1 {r.best_f1:.4f} at epoch {r.best_epoch}"
                + (f", field F1 {field_f1:.4f}" if field_f1 is not None else "")
                + f"; {r.epochs_run} epoch(s){' (early stop)' if r.stopped_early else ''}",
            )
        )
        console.out.print(f"best checkpoint: {r.best_checkpoint_uri}")
        export = runtime.exports.auto_export_of(job_id)
        if export:
            console.out.print(
                f"CoreML export {export.id} {export.status.value}"
                f" ({export.request.quantization.value})"
            )
        return
    if status is JobStatus.INTERRUPTED:
        console.err.print(
            console.styled(
                ("interrupted", "yellow"),
                f": checkpoint {job.resume_checkpoint_uri}\n"
                f"resume with: receipts train --resume {job.name}",
            )
        )
        raise typer.Exit(130)
    console.err.print(console.styled((status.value, "red"), f": {job.status_reason}"))
    raise typer.Exit(1)


@app.command(rich_help_panel=TRAINING_HELP)
def evaluate(
    checkpoint: Annotated[Path, typer.Option(help="A checkpoint directory (HF layout).")],
    dataset: Annotated[Path, typer.Option(help="Labelled receipts, JSONL.")],
    as_json: AsJson = False,
) -> None:
    """Entity-level and field-level scores of a checkpoint on a data set."""
    from receipts.entrypoints.evaluation import evaluate_checkpoint

    report = evaluate_checkpoint(checkpoint, dataset)
    if as_json:
        console.print_json(report)
        return
    field_f1 = report["field_f1"]
    fields = f"; field F1 {field_f1:.4f}" if field_f1 is not None else ""
    console.out.print(
        f"{report['receipts']} receipts, {report['words']} words: entity F1 {report['f1']:.4f}"
        f" (P {report['precision']:.4f}, R {report['recall']:.4f}){fields}"
    )
    for label, score in sorted(report["per_label"].items()):
        console.out.print(
            f"  {label:<16} F1 {score['f1']:.4f}  P {score['precision']:.4f}"
            f"  R {score['recall']:.4f}  n={score['support']}"
        )


@app.command(rich_help_panel=TRAINING_HELP)
def synthesize(
    output: Annotated[Path, typer.Option(help="JSONL file to write.")],
    count: Annotated[int, typer.Option(min=1, help="Receipts.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed: same seed, same receipts.")] = 0,
    images: Annotated[Path | None, typer.Option(help="Also render PNG images here.")] = None,
) -> None:
    """Write the project's synthetic labelled receipts (and optionally their images)."""
    from receipts.adapters.jsonl.label_store import to_record
    from receipts.adapters.synthetic.generator import generate_receipt, render

    if output.is_dir():
        raise typer.BadParameter(f"{output} is a directory; give a file", param_hint="'--output'")
    output.parent.mkdir(parents=True, exist_ok=True)
    if images:
        images.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            for index in range(count):
                receipt, _ = generate_receipt(seed, index)
                record = to_record(receipt)
                if images:
                    path = images / f"{receipt.receipt_id}.png"
                    render(seed, index).save(path)
                    record["image"] = str(path.resolve())
                out.write(json.dumps(record) + "\n")
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    console.out.print(
        f"wrote {count} receipts to {output}" + (f" and images to {images}" if images else "")
    )
