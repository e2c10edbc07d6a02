"""`receipts history|dataset-stats|monitor|compare|report`: what decides the next training run."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from receipts.application.insight import Insight
from receipts.application.insight.monitor import MonitorSnapshot, monitor_json
from receipts.application.ports.label_store import LabelStore
from receipts.application.ports.resources import ResourceMissing
from receipts.bootstrap import Runtime
from receipts.domain.config import DataConfig, JobConfig
from receipts.domain.errors import DomainError, JobNotFound
from receipts.domain.job import JobStatus
from receipts.entrypoints import console, insight_console
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

INSIGHT_HELP = "Insight"
app = typer.Typer()
NO_JOBS = "no jobs yet: train one with `receipts train` (or `make demo`)"


def _insight(ctx: typer.Context) -> Insight:
    return Insight(ctx.ensure_object(State).runtime().catalog())


@contextmanager
def _refusals() -> Iterator[None]:
    """A wrong request (unknown job, bad input, missing resource): its message, exit 1."""
    try:
        yield
    except (DomainError, ResourceMissing) as error:
        console.print_error(error)
        raise typer.Exit(1) from None


def _say(message: str, as_json: bool) -> None:
    """A note for people: on stderr when stdout carries JSON."""
    (console.err if as_json else console.out).print(message)


# the seeds' helper scripts (seed 003) take `TABLE [OUT]`: the table to read, and a file for
# the JSON (else it is printed)
TableArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="[TABLE]", help="The seeds' DynamoDB table to read (aws mode; default: settings)."
    ),
]
OutArgument = Annotated[
    Path | None,
    typer.Argument(
        metavar="[OUT]", help="Write the JSON to this file instead of printing.", dir_okay=False
    ),
]


def _emit_json(data: Any, out: Path | None) -> None:
    """The JSON on stdout, or written whole to `out` (a partial file is never left)."""
    if out is None:
        console.print_json(data)
        return
    partial = out.with_name(out.name + ".partial")
    try:
        partial.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        partial.replace(out)
    except OSError as error:
        partial.unlink(missing_ok=True)
        console.fail(f"cannot write {out}: {error.strerror or error}")
    console.err.print(f"wrote {out}")


@app.command(rich_help_panel=INSIGHT_HELP)
def history(
    ctx: typer.Context,
    table: TableArgument = None,
    out: OutArgument = None,
    status: Annotated[JobStatus | None, typer.Option(help="Only runs with this status.")] = None,
    as_json: AsJson = False,
) -> None:
    """Every run with its config, best F1 and epoch, and F1 per epoch; best first."""
    if table:
        ctx.ensure_object(State).use_table(table)
    as_json = as_json or out is not None
    with _refusals():
        found = _insight(ctx).history(status)
    if as_json:
        _emit_json(found.model_dump(mode="json"), out)
    if not found.runs:
        if status is None:
            _say(NO_JOBS, as_json)
        else:
            _say(f"no {status.value} jobs", as_json)
        return
    if not as_json:
        console.out.print(insight_console.history_table(found))
    if found.runs_with_metrics == 0:
        _say("no run has recorded metrics yet", as_json)


@app.command("dataset-stats", rich_help_panel=INSIGHT_HELP)
def dataset_stats(
    ctx: typer.Context,
    table: TableArgument = None,
    out: OutArgument = None,
    dataset: Annotated[
        Path | None,
        typer.Option(help="Labelled receipts, JSONL (default: the latest job's, or the demo's)."),
    ] = None,
    dynamo_table: DynamoTable = None,
    job: Annotated[
        str | None,
        typer.Option(help="Use this job's data and label policy (other policy flags ignored)."),
    ] = None,
    merge_amounts: MergeAmounts = False,
    merge_date_time: MergeDateTime = False,
    merge_address_phone: MergeAddressPhone = False,
    presets: Presets = None,
    allowed_labels: AllowedLabels = None,
    o_entity_ratio: Annotated[
        float | None, typer.Option(help="Max O:entity words in the training split.")
    ] = None,
    validation_split: ValidationSplit = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the split and the O-line drops.")] = 42,
    as_json: AsJson = False,
) -> None:
    """Receipts, lines, words, labels by validation status, what the presets and whitelist
    make of them, and the O:entity balance."""
    from receipts.bootstrap.training import label_store_for

    runtime = ctx.ensure_object(State).runtime()
    as_json = as_json or out is not None
    params = {**ctx.params, "dynamo_table": dynamo_table or table}  # TABLE: --dynamo-table
    with _refusals():
        # each flag is named after its config field; --job takes the job's config instead
        config = (
            runtime.jobs.find_job(job).config if job else JobConfig.parse(job_config_input(params))
        )
        data, hp = config.data, config.hyperparameters
        if not (data.dataset or data.dynamo_table):
            data = _default_source(runtime, data)
        if not (data.dataset or data.dynamo_table):
            _say(
                "no data set: give --dataset PATH (JSONL), --dynamo-table TABLE (aws mode)"
                " or --job JOB; `receipts synthesize` or `make demo` make one",
                as_json,
            )
            return
        store: LabelStore = label_store_for(data, runtime.settings)
        stats = Insight.dataset_stats(
            store.receipts(),
            data,
            source=store.source,
            seed=hp.seed,
            o_entity_ratio=hp.o_entity_ratio,
        )
    if as_json:
        _emit_json(stats.model_dump(mode="json"), out)
    else:
        console.out.print(insight_console.dataset_view(stats))


@app.command(rich_help_panel=INSIGHT_HELP)
def monitor(
    ctx: typer.Context,
    job: Annotated[
        str | None,
        typer.Argument(
            metavar="[JOB|TABLE]",
            help="Job id or name (default: the running or latest job); in aws mode, a name"
            " that is no job is the seeds' TABLE to watch.",
        ),
    ] = None,
    out: OutArgument = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Refresh live until the job ends.")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between refreshes with --follow.")
    ] = 2.0,
    logs: Annotated[int, typer.Option(min=0, help="Recent log entries shown.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one snapshot).")] = False,
) -> None:
    """A run's status, epoch, latest metrics and recent logs; --follow keeps it live."""
    as_json = as_json or out is not None
    with _refusals():
        insight, snapshot, asked = _monitored(ctx, job, logs)
    if as_json:
        _emit_json(monitor_json(snapshot, asked=asked), out)
    if snapshot is None:
        _say(NO_JOBS, as_json)
        return
    if as_json:
        return
    if follow and snapshot.active:
        snapshot = _follow(insight, snapshot, interval, logs)
    else:
        console.out.print(insight_console.monitor_view(snapshot))
    if follow and not snapshot.active:
        console.out.print(f"job {snapshot.run.job_name} is {snapshot.run.status.value}")


@app.command(rich_help_panel=INSIGHT_HELP)
def compare(
    ctx: typer.Context,
    jobs: Annotated[list[str], typer.Argument(help="Two or more job ids or names.")],
    as_json: AsJson = False,
) -> None:
    """Runs side by side: config differences, F1 per epoch, best per run, per-label F1 Δ."""
    with _refusals():
        comparison = _insight(ctx).compare(jobs)
    if as_json:
        console.print_json(comparison.model_dump(mode="json"))
    else:
        console.out.print(insight_console.comparison_view(comparison))


@app.command(rich_help_panel=INSIGHT_HELP)
def report(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="Job id or name.")],
    output: Annotated[
        Path | None, typer.Option(help="Folder for index.html and plots (reports/<job>).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Also print the data as JSON.")] = False,
) -> None:
    """An HTML report of one run: curves, per-label F1, confusion matrix, labels, config,
    timings and the export bundles made from it."""
    from receipts.adapters.html.run_report import write_run_report

    with _refusals():
        data = _insight(ctx).report(job)
    folder = output or Path("reports") / data.run.job_name
    page = write_run_report(data, folder)
    if as_json:
        console.print_json(data.model_dump(mode="json"))
    for note in data.notes:
        _say(f"note: {note}", as_json)
    _say(f"report: {page}", as_json)


def _monitored(
    ctx: typer.Context, key: str | None, logs: int
) -> tuple[Insight, MonitorSnapshot | None, bool]:
    """The insight, the snapshot and whether a job was named. In aws mode a key that names
    no job (or when the configured table is missing) is taken as the seeds' TABLE."""
    state = ctx.ensure_object(State)
    try:
        insight = _insight(ctx)
        return insight, insight.monitor(key, log_limit=logs), key is not None
    except (JobNotFound, ResourceMissing):
        if key is None or state.settings.mode != "aws":
            raise
    configured = state.settings.table
    state.use_table(key)
    try:
        insight = _insight(ctx)
        return insight, insight.monitor(None, log_limit=logs), False
    except ResourceMissing:
        raise JobNotFound(f"{key} (not in table {configured!r}, and no table {key!r})") from None


def _follow(
    insight: Insight, snapshot: MonitorSnapshot, interval: float, logs: int
) -> MonitorSnapshot:
    from rich.live import Live

    key = str(snapshot.run.job_id)
    with Live(
        insight_console.monitor_view(snapshot, follow=True),
        console=console.out,
        refresh_per_second=4,
    ) as live:
        try:
            while snapshot.active:
                time.sleep(interval)
                latest = insight.monitor(key, log_limit=logs)
                if latest is None:  # pragma: no cover - a job is never deleted
                    break
                snapshot = latest
                live.update(insight_console.monitor_view(snapshot, follow=snapshot.active))
        except KeyboardInterrupt:
            pass
    return snapshot


def _default_source(runtime: Runtime, data: DataConfig) -> DataConfig:
    """The latest job's data set when it still exists, else the newest JSONL in
    $RECEIPTS_HOME/datasets (the demo's), else in aws mode the labels in the single table."""
    for summary in sorted(runtime.catalog().all(), key=lambda s: s.created_at, reverse=True):
        source = summary.config.data.dataset if summary.config else None
        if source and Path(source).is_file():
            return data.model_copy(update={"dataset": source})
    folder = runtime.settings.home / "datasets"
    found = (
        sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    )
    if found:
        return data.model_copy(update={"dataset": str(found[-1])})
    if runtime.settings.mode == "aws":
        return data.model_copy(update={"dynamo_table": runtime.settings.table})
    return data
