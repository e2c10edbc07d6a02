"""`receipts export-worker` (also `layoutlm-cli export-worker`): the seeds' export worker.

`--once` handles one message; `--continuous` serves until SIGTERM/SIGINT (or
`--max-messages`, or `--until-empty`). The first signal lets the current export finish
within `--grace-seconds`, then the message is released for another worker; a second signal
releases it at once. The worker exits 0 after a stop. Logs are structlog events (JSON lines
in aws mode or off a terminal); a terminal gets a live status line.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import structlog
import typer

from receipts.adapters.archives import SafeTarExtractor
from receipts.application.export_worker import ExportWorker, Handled
from receipts.application.ports.exporter import Exporter
from receipts.entrypoints import console
from receipts.entrypoints.signals import stop_on_signals

EXPORT_HELP = "Export"
DEFAULT_EXPORTER = "coreml"
EXPORTERS: dict[str, tuple[str, str, str | None]] = {
    # name: (module, class, the library it needs)
    "coreml": ("receipts.adapters.coreml.exporter", "CoreMLExporter", "coremltools"),
    "onnx": ("receipts.adapters.onnx.exporter", "ONNXExporter", "onnx"),
    "simulated": ("receipts.adapters.simulated.exporter", "SimulatedExporter", None),
}


class ExporterUnavailable(RuntimeError):
    """The chosen exporter cannot run here; the message says why and what to do."""


def build_exporter(choice: str) -> Exporter:
    """`coreml`, `onnx`, `simulated`, or `package.module:Class` (built with no arguments)."""
    if ":" in choice:
        module_name, _, class_name = choice.partition(":")
        library = None
    elif choice in EXPORTERS:
        module_name, class_name, library = EXPORTERS[choice]
    else:
        raise ExporterUnavailable(
            f"unknown exporter {choice!r}: choose {', '.join(EXPORTERS)} or module:Class"
        )
    if library is not None and importlib.util.find_spec(library) is None:
        raise ExporterUnavailable(
            f"the {choice} exporter needs {library}, which is not installed here: install the"
            " export extra (pip install 'receipts[export]'; coremltools wants Python 3.11/3.12)"
            " or choose --exporter " + " | ".join(name for name in EXPORTERS if name != choice)
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise ExporterUnavailable(
            f"the {choice} exporter ({module_name}) cannot be imported: {error}"
        ) from None
    try:
        exporter_class = getattr(module, class_name)
    except AttributeError:
        raise ExporterUnavailable(f"{module_name} has no {class_name}") from None
    exporter: Exporter = exporter_class()
    return exporter


def register(app: typer.Typer) -> None:
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
        max_messages: Annotated[
            int | None, typer.Option(min=1, help="Stop after this many deliveries.")
        ] = None,
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
        from receipts.entrypoints.cli import _state

        state = _state(ctx)
        worker_name = worker_name or f"export-worker@{os.uname().nodename}:{os.getpid()}"
        updates = {
            key: value
            for key, value in {
                "export_queue": job_queue_url,
                "export_results_queue": results_queue_url,
            }.items()
            if value
        }
        state.settings = state.settings.model_copy(update=updates)
        try:
            chosen = build_exporter(exporter)
        except ExporterUnavailable as error:
            console.err.print(f"[red]error:[/] {error}")
            raise typer.Exit(2) from None
        runtime = state.runtime()
        log = structlog.get_logger("receipts.export_worker").bind(worker=worker_name)
        worker = ExportWorker(
            exports=runtime.exports,
            jobs_queue=runtime.queues.export_jobs,
            results_queue=runtime.queues.export_results,
            artifacts=runtime.artifacts,
            exporter=chosen,
            worker_name=worker_name,
            visibility_timeout=visibility_timeout or runtime.settings.visibility_timeout,
            heartbeat_every=heartbeat_every,
            grace_seconds=grace_seconds,
            extractor=SafeTarExtractor(),
            log=log,
        )
        log.info(
            "export worker ready",
            mode=runtime.settings.mode,
            queue=worker.jobs_queue.name,
            results_queue=runtime.queues.export_results.name,
            exporter=chosen.name,
            continuous=not once,
        )
        counts: Counter[str] = Counter()
        with (
            stop_on_signals(lambda: worker.request_stop(immediately=worker.stopping)),
            _status(worker, counts) as update,
        ):

            def on_handled(outcome: Handled) -> None:
                counts[outcome] += 1
                update()

            worker.serve(
                continuous=not once,
                max_messages=max_messages,
                wait_seconds=wait_seconds,
                until_empty=until_empty,
                on_handled=on_handled,
            )
        summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
        log.info("export worker stopped", handled=dict(counts), stopped=worker.stopping)
        console.out.print(f"handled {sum(counts.values())} message(s): {summary or 'none'}")
        if worker.abandoned is not None and worker.abandoned.is_alive():
            # the released export still runs in a thread: leave without waiting for it
            state.close()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        if counts["error"]:
            raise typer.Exit(1)


@contextmanager
def _status(worker: ExportWorker, counts: Counter[str]) -> Iterator[Any]:
    """A live status line on a terminal; yields the function that refreshes it."""

    def text() -> str:
        done = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
        state = "stopping" if worker.stopping else "waiting for messages"
        return f"export worker on {worker.jobs_queue.name}: {state} ({done or 'none yet'})"

    if not console.err.is_terminal:
        yield lambda: None
        return
    with console.err.status(text()) as status:
        yield lambda: status.update(text())
