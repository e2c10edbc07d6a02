"""`receipts jobs recover` and `receipts jobs interrupt`: ending jobs whose trainer died."""

from __future__ import annotations

from typing import Annotated

import typer

from receipts.application.training.leases import Recovery, interrupt, sweep
from receipts.domain.job import JobStatus
from receipts.entrypoints import console
from receipts.entrypoints.cli_options import AsJson
from receipts.entrypoints.cli_state import State

app = typer.Typer()

STYLES = {"interrupted": "yellow", "failed": "red", "live": "green"}


@app.command("recover")
def jobs_recover(ctx: typer.Context, as_json: AsJson = False) -> None:
    """End every running job whose trainer stopped renewing its lease: interrupted at its
    last whole checkpoint (resume with `receipts train --resume JOB`), or failed without one."""
    runtime = ctx.ensure_object(State).runtime()
    running = runtime.catalog().by_status(JobStatus.RUNNING)
    recoveries = sweep(runtime.jobs, [job.job_id for job in running])
    if as_json:
        console.print_json([_record(r) for r in recoveries])
        return
    if not recoveries:
        console.out.print("no running jobs")
    for recovery in recoveries:
        _print(recovery)


@app.command("interrupt")
def jobs_interrupt(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="Job id or name.")],
    force: Annotated[
        bool, typer.Option(help="Also while its trainer's lease is live (it may be alive).")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why it is interrupted.")] = (
        "interrupted by an operator"
    ),
) -> None:
    """End a running job interrupted at its last whole checkpoint (failed without one)."""
    runtime = ctx.ensure_object(State).runtime()
    found = runtime.jobs.find_job(job)
    _print(interrupt(runtime.jobs, found.id, force=force, reason=reason))


def _print(recovery: Recovery) -> None:
    style = STYLES.get(recovery.outcome, "")
    console.out.print(
        console.styled(
            (recovery.outcome, style), " ", (recovery.name, "bold"), f": {recovery.detail}"
        )
    )
    if recovery.outcome == "interrupted":
        console.out.print(f"  checkpoint: {recovery.checkpoint_uri}")


def _record(recovery: Recovery) -> dict[str, str | None]:
    return {
        "job_id": str(recovery.job_id),
        "name": recovery.name,
        "outcome": recovery.outcome,
        "detail": recovery.detail,
        "checkpoint_uri": recovery.checkpoint_uri,
    }
