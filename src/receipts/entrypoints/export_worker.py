"""`receipts export-worker` (also `layoutlm-cli export-worker`): the seeds' export worker.

`--once` handles one message; `--continuous` serves until SIGTERM/SIGINT (or
`--max-messages`, or `--until-empty`). The first signal lets the current export finish
within `--grace-seconds`, then the message is released for another worker; a second signal
releases it at once. The worker exits 1 when any message it handled failed (a failed
export, a poison message, an unexpected error), else 0, after a stop too. Logs are
structlog events (JSON lines in aws mode or off a terminal); a terminal gets a live status
line.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.text import Text

from receipts.application.export.dead_letters import fail_dead_letters
from receipts.application.export.export_worker import ExportWorker, Handled
from receipts.application.queueing.scratch import sweep_stale_scratch
from receipts.bootstrap import Runtime
from receipts.bootstrap.export import ExporterUnavailable, build_export_worker, exporter_for
from receipts.entrypoints import console
from receipts.entrypoints.cli_options import MaxMessages
from receipts.entrypoints.cli_state import State
from receipts.entrypoints.signals import stop_on_signals

EXPORT_HELP = "Export"
app = typer.Typer()
DEFAULT_EXPORTER = "coreml"


@app.command("export-worker", rich_help_panel=EXPORT_HELP)
def export_worker(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option(
            "--once/--continuous",
            help="Handle one message, or serve until stopped (SIGTERM/SIGINT).",
        ),
    ] = True,
    job_queue_url: Annotated[
        str | None,
        typer.Option(help="Export job queue: URL or name (COREML_EXPORT_JOB_QUEUE_URL)."),
    ] = None,
    results_queue_url: Annotated[
        str | None,
        typer.Option(help="Results queue: URL or name (COREML_EXPORT_RESULTS_QUEUE_URL)."),
    ] = None,
    exporter: Annotated[
        str,
        typer.Option(help="coreml (needs coremltools), onnx, simulated, or module:Class."),
    ] = DEFAULT_EXPORTER,
    max_messages: MaxMessages = None,
    until_empty: Annotated[
        bool, typer.Option(help="With --continuous: stop when a receive finds nothing.")
    ] = False,
    wait_seconds: Annotated[
        float, typer.Option(min=0, max=20, help="Long poll of each receive.")
    ] = 20.0,
    visibility_timeout: Annotated[
        float | None,
        typer.Option(min=1, help="Seconds a received message stays hidden (settings)."),
    ] = None,
    heartbeat_every: Annotated[
        float | None,
        typer.Option(min=0, help="Seconds between visibility extensions (0: none)."),
    ] = None,
    grace_seconds: Annotated[
        float, typer.Option(min=0, help="How long a stop waits for the current export.")
    ] = 30.0,
    worker_name: Annotated[
        str | None,
        typer.Option(help="Recorded on ExportJob.Started (default export-worker@host:pid)."),
    ] = None,
) -> None:
    """Export checkpoints named by queue messages into bundles; report each result."""
    state = ctx.ensure_object(State)
    state.override(export_queue=job_queue_url, export_results_queue=results_queue_url)
    try:
        chosen = exporter_for(exporter)
    except ExporterUnavailable as error:
        console.fail(error, 2)
    runtime = state.runtime()
    worker = build_export_worker(
        runtime,
        chosen,
        worker_name,
        visibility_timeout=visibility_timeout,
        heartbeat_every=heartbeat_every,
        grace_seconds=grace_seconds,
    )
    _recover(runtime, worker)
    worker.log.info(
        "export worker ready",
        mode=runtime.settings.mode,
        queue=worker.jobs_queue.name,
        results_queue=runtime.queues.export_results.name,
        exporter=chosen.name,
        continuous=not once,
    )
    with (
        stop_on_signals(lambda: worker.request_stop(immediately=worker.stopping)),
        _status(worker) as on_handled,
    ):
        handled = worker.serve(
            continuous=not once,
            max_messages=max_messages,
            wait_seconds=wait_seconds,
            until_empty=until_empty,
            on_handled=on_handled,
        )
    _finish(state, worker, Counter(handled))


def _recover(runtime: Runtime, worker: ExportWorker) -> None:
    """Before serving: remove scratch trees of dead processes and fail the exports whose
    message reached the dead-letter queue."""
    swept = sweep_stale_scratch()
    if swept:
        worker.log.info("stale scratch removed", paths=[str(path) for path in swept])
    dead = runtime.queues.dead_letters.get(worker.jobs_queue.name)
    if dead is None:
        return
    seen = fail_dead_letters(
        runtime.exports, runtime.artifacts, dead, runtime.settings.max_receive_count
    )
    if seen.failed:
        worker.log.warning(
            "exports failed: their message is in the dead-letter queue",
            dead_letter_queue=dead.name,
            export_ids=[str(export_id) for export_id in seen.failed],
        )
    if seen.left:
        worker.log.warning(
            "unreadable messages left in the dead-letter queue",
            dead_letter_queue=dead.name,
            problems=seen.left,
        )


def _finish(state: State, worker: ExportWorker, counts: Counter[str]) -> None:
    """The tally; exit 1 when a message failed, and at once when a released export still
    runs."""
    worker.log.info("export worker stopped", handled=dict(counts), stopped=worker.stopping)
    code = console.handled(counts)
    if worker.abandoned is not None and worker.abandoned.is_alive():
        # the released export still runs in a thread: leave without waiting for it
        state.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if code:
        raise typer.Exit(code)


@contextmanager
def _status(worker: ExportWorker) -> Iterator[Callable[[Handled], None]]:
    """A live status line on a terminal; yields the callback that counts each outcome on it."""
    if not console.err.is_terminal:
        yield lambda outcome: None
        return
    counts: Counter[str] = Counter()

    def text() -> Text:  # a Text: rich's status would read a str as markup
        state = "stopping" if worker.stopping else "waiting for messages"
        done = console.tally(counts) or "none yet"
        return Text(f"export worker on {worker.jobs_queue.name}: {state} ({done})")

    with console.err.status(text()) as status:

        def on_handled(outcome: Handled) -> None:
            counts[outcome] += 1
            status.update(text())

        yield on_handled
