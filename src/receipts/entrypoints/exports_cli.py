"""`receipts exports ...`: an operator's view of ExportJobs — show one, retry a failed one,
and fail the exports whose message reached the dead-letter queue."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import typer
from rich.text import Text

from receipts.application.export.dead_letters import fail_dead_letters
from receipts.entrypoints import console
from receipts.entrypoints.cli_options import AsJson
from receipts.entrypoints.cli_state import State

app = typer.Typer(no_args_is_help=True, help="Show, retry and recover export jobs.")
ExportId = Annotated[UUID, typer.Argument(help="The export's id (jobs show lists it).")]


@app.command("show")
def exports_show(ctx: typer.Context, export_id: ExportId, as_json: AsJson = False) -> None:
    """One export: status, attempts, bundle or error."""
    export = ctx.ensure_object(State).runtime().exports.get_export(export_id)
    detail = console.export_detail(export)
    if as_json:
        console.print_json(detail)
        return
    for key, value in detail.items():
        console.out.print(Text(f"{key}: {'-' if value is None else value}"))


@app.command("retry")
def exports_retry(
    ctx: typer.Context,
    export_id: ExportId,
    reason: Annotated[str, typer.Option(help="Why it is retried.")] = "retried by an operator",
) -> None:
    """Queue a failed export again: its message is sent to the export queue once more."""
    runtime = ctx.ensure_object(State).runtime()
    export = runtime.exports.retry_export(export_id, reason)
    console.out.print(
        Text(f"queued {export.id} again (attempts so far: {export.attempts}); an export worker")
        + Text(f" on {runtime.queues.export_jobs.name} takes it")
    )


@app.command("recover")
def exports_recover(ctx: typer.Context) -> None:
    """Fail the exports whose message is in the dead-letter queue (their workers kept
    dying); `exports retry` queues one again. Export workers also do this at start."""
    runtime = ctx.ensure_object(State).runtime()
    queue = runtime.queues.export_jobs
    dead = runtime.queues.dead_letters.get(queue.name)
    if dead is None:
        console.out.print(Text(f"{queue.name} has no dead-letter queue: nothing to recover"))
        return
    seen = fail_dead_letters(
        runtime.exports, runtime.artifacts, dead, runtime.settings.max_receive_count
    )
    for export_id in seen.failed:
        console.out.print(Text(f"failed {export_id}: its message is in {dead.name}"))
    for message_id, why in seen.left.items():
        console.err.print(Text(f"left message {message_id} in {dead.name}: {why}"))
    console.out.print(
        Text(
            f"{len(seen.failed)} failed, {len(seen.ended)} already ended,"
            f" {len(seen.left)} left in {dead.name}"
        )
    )
