"""The `receipts` command (also installed as `layoutlm-cli`, the seeds' name)."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from receipts.application.invariants import Violation
from receipts.application.ports.resources import ResourceMissing
from receipts.domain.errors import DomainError
from receipts.domain.job import JobStatus
from receipts.entrypoints import (
    console,
    export_cli,
    export_worker,
    exports_cli,
    insight_cli,
    ocr_cli,
    recovery_cli,
    report_cli,
    training_cli,
)
from receipts.entrypoints.cli_options import AsJson
from receipts.entrypoints.cli_state import State
from receipts.entrypoints.progress import counting_bar
from receipts.entrypoints.structured_logs import configure_logging
from receipts.settings import InvalidSettings, Mode, Settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Train, track, export and serve LayoutLM receipt models.",
)
jobs_app = typer.Typer(
    no_args_is_help=True, help="List, inspect, cancel, interrupt and recover training jobs."
)
app.add_typer(jobs_app, name="jobs")
app.add_typer(exports_cli.app, name="exports")
jobs_app.add_typer(recovery_cli.app)  # no name: `jobs recover`, `jobs interrupt`
for module in (training_cli, export_worker, export_cli, ocr_cli, report_cli, insight_cli):
    app.add_typer(module.app)  # no name: its commands join the root's


@app.callback()
def options(
    ctx: typer.Context,
    mode: Annotated[
        Mode | None, typer.Option(help="Adapters: memory, local (embedded default) or aws.")
    ] = None,
    home: Annotated[
        Path | None, typer.Option(help="Data directory of the local mode (RECEIPTS_HOME).")
    ] = None,
) -> None:
    state = State(Settings.from_env())
    state.override(mode=mode, home=home)
    if state.settings.home.exists() and not state.settings.home.is_dir():
        raise typer.BadParameter(
            f"{state.settings.home} is a file; the home is a directory",
            param_hint="'--home' / RECEIPTS_HOME",
        )
    configure_logging(state.settings)
    console.no_wrapping_when_piped()
    ctx.obj = state
    ctx.call_on_close(state.close)


@jobs_app.command("list")
def jobs_list(
    ctx: typer.Context,
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs with this status.")] = None,
    as_json: AsJson = False,
) -> None:
    """Every job (or those with one status), oldest first."""
    catalog = ctx.ensure_object(State).runtime().catalog()
    jobs = catalog.by_status(status) if status else catalog.all()
    if as_json:
        console.print_json([job.model_dump(mode="json") for job in jobs])
    else:
        console.out.print(console.jobs_table(jobs))


@jobs_app.command("show")
def jobs_show(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="Job id or name.")],
    as_json: AsJson = False,
) -> None:
    """One job: config, status, results, metrics, logs and its export."""
    runtime = ctx.ensure_object(State).runtime()
    found = runtime.jobs.find_job(job)
    evaluations = runtime.jobs.evaluations_of(found.id)
    logs = runtime.jobs.logs_of(found.id)
    export = runtime.exports.auto_export_of(found.id)
    if as_json:
        console.print_json(
            {
                **console.job_detail(found),
                "metrics": [e.model_dump(mode="json") for e in evaluations],
                "logs": [entry.model_dump(mode="json") for entry in logs],
                "export": console.export_detail(export) if export else None,
            }
        )
        return
    detail = console.job_detail(found)
    console.out.print(console.styled((found.name, "bold"), f"  {found.id}"))
    reason = f" ({found.status_reason})" if found.status_reason else ""
    console.out.print(console.styled("status: ", console.status_text(found.status), reason))
    for key in ("created_by", "created_at", "updated_at", "tags"):
        console.out.print(f"{key}: {detail[key]}")
    hp = found.config.hyperparameters
    console.out.print(
        f"config: epochs={hp.epochs} batch_size={hp.batch_size} lr={hp.learning_rate}"
        f" warmup={hp.warmup_ratio} labels={','.join(found.config.data.entity_labels())}"
    )
    if found.results:
        r = found.results
        console.out.print(
            f"best: F1 {r.best_f1:.4f} at epoch {r.best_epoch} → {r.best_checkpoint_uri}"
        )
    if evaluations:
        console.out.print(console.evaluations_table(evaluations))
    if logs:
        console.out.print(console.logs_table(logs))
    if export:
        e = console.export_detail(export)
        console.out.print(f"export: {e['status']} {e['quantization']} → {e['bundle_uri'] or '-'}")


@jobs_app.command("cancel")
def jobs_cancel(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="Job id or name.")],
    reason: Annotated[str, typer.Option(help="Why it is cancelled.")] = "cancelled by user",
) -> None:
    """Cancel a pending, running or interrupted job."""
    runtime = ctx.ensure_object(State).runtime()
    found = runtime.jobs.find_job(job)
    runtime.jobs.cancel_job(found.id, reason)
    console.out.print(f"cancelled {found.name} ({found.id})")


@app.command()
def simulate(
    ctx: typer.Context,
    jobs: Annotated[int, typer.Option(min=1, help="Lifecycles to run.")] = 100,
    epochs: Annotated[int, typer.Option(min=1, help="Simulated epochs per job.")] = 3,
    fail_rate: Annotated[float, typer.Option(min=0, max=1, help="Chance an epoch fails.")] = 0.05,
    skip_rate: Annotated[float, typer.Option(min=0, max=1, help="Share tagged skip-export.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed (of the lifecycles and the faults).")] = 0,
    store: Annotated[
        Mode, typer.Option(help="Where the lifecycles are recorded (memory by default).")
    ] = "memory",
    faults: Annotated[
        bool,
        typer.Option(
            "--faults",
            help="Kill workers and the trainer at random points, expire visibility, duplicate,"
            " re-order and poison deliveries; exit 1 on any invariant violated.",
        ),
    ] = False,
) -> None:
    """Run N complete lifecycles, report lifecycles/s, and check the invariants."""
    from receipts.adapters.simulated.faults import Faults
    from receipts.entrypoints.simulation import DEFAULT_FAULT_RATES, simulate_lifecycles

    state = ctx.ensure_object(State)
    state.override(mode=store)
    runtime = state.runtime()
    started = time.perf_counter()
    with counting_bar() as progress:
        task = progress.add_task("lifecycles", total=jobs)
        report = simulate_lifecycles(
            runtime,
            jobs,
            epochs=epochs,
            fail_rate=fail_rate,
            skip_rate=skip_rate,
            seed=seed,
            faults=Faults(DEFAULT_FAULT_RATES, seed=seed) if faults else None,
            on_progress=lambda done: progress.update(task, completed=done),
        )
    console.out.print(f"mode: {runtime.settings.mode}")
    console.out.print(f"jobs: {dict(report.job_statuses)}")
    console.out.print(
        f"exports: {dict(report.export_statuses)} (skipped by tag: {report.skipped_exports};"
        f" retried after their dead letter: {report.retried_exports})"
    )
    console.out.print(f"OCR jobs: {dict(report.ocr_statuses)}")
    if faults:
        console.out.print(f"faults injected: {dict(report.faults)}")
        console.out.print(f"deaths by point: {dict(report.crash_points.most_common())}")
    console.out.print(
        f"{report.lifecycles} lifecycles in {report.seconds:.2f} s:"
        f" {report.per_second:,.0f} lifecycles/s; invariants checked in"
        f" {report.check_seconds:.2f} s; wall time {time.perf_counter() - started:.2f} s",
        style="bold",
    )
    _print_violations(report.violations)


def _print_violations(violations: list[Violation], shown: int = 3) -> None:
    """Counts by invariant and a few examples of each; exit 1 when there is any."""
    if not violations:
        console.out.print("invariants: all hold", style="green")
        return
    by_invariant: dict[str, list[Violation]] = {}
    for violation in violations:
        by_invariant.setdefault(violation.invariant.value, []).append(violation)
    console.out.print(f"invariants violated: {len(violations)}", style="bold red")
    for invariant, found in by_invariant.items():
        console.out.print(f"  {invariant}: {len(found)}", style="red")
        for violation in found[:shown]:
            console.out.print(f"    {violation.subject}: {violation.detail}", markup=False)
    raise typer.Exit(1)


@app.command()
def demo(
    ctx: typer.Context,
    receipts: Annotated[int, typer.Option(min=20, help="Synthetic receipts to train on.")] = 1000,
    epochs: Annotated[
        int, typer.Option(min=1, help="Most epochs (early stopping may end sooner).")
    ] = 12,
) -> None:
    """The end-to-end path on the embedded default: job → training → auto-export → bundle."""
    from receipts.entrypoints.demo import run_demo

    run_demo(ctx.ensure_object(State).runtime(), receipts=receipts, epochs=epochs)


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except (DomainError, ResourceMissing, InvalidSettings) as error:
        console.print_error(error)
        sys.exit(2 if isinstance(error, InvalidSettings) else 1)
    except OSError as error:
        # a path the command was given (or the home) cannot be read or written
        console.print_error(_os_problem(error))
        sys.exit(1)
    except sqlite3.DatabaseError as error:
        console.print_error(
            f"a SQLite file of the local store cannot be read ({error}):"
            " is --home / RECEIPTS_HOME a receipts home?"
        )
        sys.exit(1)
    except (typer.Exit, typer.Abort) as stop:
        sys.exit(getattr(stop, "exit_code", 1))
    except Exception as error:
        # typer bundles its own click: its usage errors are not click.ClickException
        show = getattr(error, "show", None)
        if callable(show) and hasattr(error, "exit_code"):
            show()
            sys.exit(error.exit_code)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)


def _os_problem(error: OSError) -> str:
    """`No such file or directory: /x/y` (not errno numbers or a traceback)."""
    paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
    problem = error.strerror or type(error).__name__
    if isinstance(error, FileExistsError):  # mkdir(exist_ok=True) of a path that is a file
        problem += " and is not a directory"
    return f"{problem}: {' -> '.join(paths)}" if paths else f"{problem}: {error}"
