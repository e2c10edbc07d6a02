"""`receipts ocr`, `ocr-submit` and `ocr-worker`: receipt images → labelled words."""

from __future__ import annotations

import mimetypes
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated
from uuid import UUID, uuid4

import structlog
import typer
from rich.progress import TextColumn
from rich.table import Table

from receipts.adapters.image_files import checked_image
from receipts.application.ocr.model_cache import ModelCache
from receipts.application.ocr.ocr_worker import SIDECAR_SUFFIX, Handled, OCRWorker
from receipts.application.ocr.receipt_reading import ReceiptReading, read_receipt
from receipts.application.ports.ocr_engine import OCREngine, OCREngineUnavailable, OCRFailed
from receipts.application.ports.predictor import ModelUnusable
from receipts.application.queueing.scratch import sweep_stale_scratch
from receipts.bootstrap import Runtime
from receipts.bootstrap.inference import Precision, PredictorRuntime, load_predictor
from receipts.bootstrap.ocr import build_engine, build_ocr_worker, model_cache
from receipts.domain.errors import DomainError
from receipts.domain.labels import ValidationStatus
from receipts.domain.ocr_job import OCREngineName, OCRStatus
from receipts.domain.routing import FIELD_NAMES, RoutingPolicy
from receipts.entrypoints import console
from receipts.entrypoints.cli_options import AsJson, LogLevel, MaxMessages
from receipts.entrypoints.cli_state import State
from receipts.entrypoints.progress import counting_bar
from receipts.entrypoints.signals import stop_on_signals

OCR_HELP = "OCR"
app = typer.Typer()
RuntimeOption = Annotated[
    PredictorRuntime, typer.Option("--runtime", help="Predictor: auto, torch or onnx.")
]
PrecisionOption = Annotated[
    Precision,
    typer.Option(help="torch: float32, bfloat16 (autocast) or int8 (dynamic weights)."),
]
MinConfidenceOption = Annotated[float, typer.Option(min=0, max=1, help="Auto-accept threshold.")]
RequireOption = Annotated[
    list[str] | None, typer.Option(help="Field auto-accept needs (repeatable).")
]


def _policy(min_confidence: float, require: list[str] | None) -> RoutingPolicy:
    unknown = [name for name in require or [] if name not in FIELD_NAMES]
    if unknown:
        raise typer.BadParameter(
            f"unknown field {', '.join(unknown)}; known: {', '.join(FIELD_NAMES)}",
            param_hint="--require",
        )
    fields = tuple(require) if require else RoutingPolicy().required_fields
    return RoutingPolicy(required_fields=fields, min_confidence=min_confidence)


@app.command("ocr", rich_help_panel=OCR_HELP)
def ocr(
    ctx: typer.Context,
    image: Annotated[
        Path,
        typer.Option(
            "--image",
            "--process-local-image",
            help="A receipt image (PNG, JPEG, ...).",
            dir_okay=False,
        ),
    ],
    output_dir: Annotated[Path, typer.Option(help="Where ocr.json and labels.json go.")] = Path(
        "ocr-output"
    ),
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            "--layoutlm-model",
            help="Checkpoint, run directory or ONNX bundle (default: the latest succeeded"
            " job's best checkpoint).",
        ),
    ] = None,
    engine: Annotated[OCREngineName, typer.Option(help="OCR engine.")] = "tesseract",
    stub_ocr: Annotated[
        bool, typer.Option(help="Words from a sidecar JSON (<image>.ocr.json), no OCR.")
    ] = False,
    runtime_name: RuntimeOption = "auto",
    precision: PrecisionOption = "float32",
    min_confidence: MinConfidenceOption = 0.9,
    require: RequireOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print labels.json.")] = False,
    log_level: LogLevel = None,
) -> None:
    """Read one local receipt image: OCR → LayoutLM → fields → routing (no queue)."""
    ctx.ensure_object(State).use_log_level(log_level)
    policy = _policy(min_confidence, require)
    chosen = _engine("stub" if stub_ocr else engine)
    model_path = model or _default_model_directory(ctx.ensure_object(State).runtime())
    try:
        predictor = load_predictor(model_path, runtime=runtime_name, quantize=precision)
        reading = read_receipt(
            image, receipt_id=image.stem, engine=chosen, predictor=predictor, policy=policy
        )
    except (OCRFailed, ModelUnusable) as error:
        console.fail(error)
    output_dir.mkdir(parents=True, exist_ok=True)
    for role, data in reading.documents().items():
        target = output_dir / f"{role}.json"
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(data)
        partial.replace(target)
    if as_json:
        console.print_json(reading.labels_document())
        return
    _print_reading(reading, output_dir)


def _engine(name: str) -> OCREngine:
    """The engine, or exit 2 naming why it cannot run here."""
    try:
        return build_engine(name)
    except OCREngineUnavailable as error:
        console.fail(error, 2)


def _default_model_directory(runtime: Runtime) -> Path:
    """The latest succeeded job's best checkpoint, downloaded; exit 2 when there is none."""
    models = model_cache(runtime)
    if models.default is None:
        console.fail("no model: pass --model DIR (or train a job first)", 2)
    return models.local_directory(models.default)


@app.command("ocr-submit", rich_help_panel=OCR_HELP)
def ocr_submit(
    ctx: typer.Context,
    images: Annotated[list[Path], typer.Argument(help="Receipt images to upload.")],
    engine: Annotated[OCREngineName | None, typer.Option(help="OCR engine (settings).")] = None,
    model_uri: Annotated[
        str | None, typer.Option(help="Model for these jobs (default: the worker's).")
    ] = None,
    submitted_by: Annotated[str, typer.Option(help="Recorded on the job.")] = "cli",
) -> None:
    """Upload images to raw-receipts/ and queue one OCR job each (the upload Lambda's work)."""
    runtime = ctx.ensure_object(State).runtime()
    engine_name = engine or runtime.settings.ocr_engine
    _check_images(images)
    table = Table("OCR job", "image", "uploaded to")
    for image in images:
        job_id = uuid4()
        uri = runtime.artifacts_uri(f"raw-receipts/{job_id}{image.suffix.lower()}")
        runtime.artifacts.upload_file(image, uri)
        sidecar = image.with_name(image.name + SIDECAR_SUFFIX)
        if sidecar.is_file():
            runtime.artifacts.upload_file(sidecar, uri + SIDECAR_SUFFIX)
        runtime.ocr_jobs.submit(
            uri,
            ocr_job_id=job_id,
            ocr_engine=engine_name,
            model_uri=model_uri,
            submitted_by=submitted_by,
        )
        table.add_row(str(job_id), str(image), uri)
    console.out.print(table)
    console.out.print(
        f"queued {len(images)} OCR job(s) on {runtime.queues.ocr_jobs.name}"
        f" ({mimetypes.guess_type(images[0].name)[0] or 'image'}, engine {engine_name})"
    )


def _check_images(images: list[Path]) -> None:
    """Every image readable, or exit 1 naming each bad one before anything is uploaded."""
    problems = []
    for image in images:
        try:
            checked_image(image)
        except OCRFailed as error:
            problems.append(str(error))
    if problems:
        for problem in problems:
            console.print_error(problem)
        console.err.print("nothing was submitted")
        raise typer.Exit(1)


@app.command("ocr-worker", rich_help_panel=OCR_HELP)
def ocr_worker(
    ctx: typer.Context,
    continuous: Annotated[
        bool,
        typer.Option(
            "--continuous/--once",
            help="Process until the queue is empty (or, with --forever, until stopped);"
            " --once: one batch (up to --batch images).",
        ),
    ] = False,
    forever: Annotated[
        bool, typer.Option(help="With --continuous: keep polling an empty queue.")
    ] = False,
    stub_ocr: Annotated[
        bool, typer.Option(help="Sidecar words instead of real OCR (testing the queue flow).")
    ] = False,
    engine: Annotated[
        OCREngineName | None, typer.Option(help="Override the engine each job asks for.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "--layoutlm-model",
            help="Model directory or artifact prefix (default: RECEIPTS_OCR_MODEL, else the"
            " latest succeeded job's best checkpoint).",
        ),
    ] = None,
    cache_path: Annotated[
        Path | None,
        typer.Option("--layoutlm-cache-path", help="Where downloaded models are kept (settings)."),
    ] = None,
    runtime_name: RuntimeOption = "auto",
    precision: PrecisionOption = "float32",
    job_queue_url: Annotated[
        str | None, typer.Option(help="OCR job queue: URL or name (OCR_JOB_QUEUE_URL).")
    ] = None,
    results_queue_url: Annotated[
        str | None, typer.Option(help="Results queue: URL or name (OCR_RESULTS_QUEUE_URL).")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, max=10, help="Messages per receive.")] = 10,
    max_messages: MaxMessages = None,
    wait_seconds: Annotated[
        float, typer.Option(min=0, max=20, help="Long poll of each receive.")
    ] = 0.0,
    min_confidence: MinConfidenceOption = 0.9,
    require: RequireOption = None,
    worker_name: Annotated[str | None, typer.Option(help="Recorded on each job.")] = None,
) -> None:
    """Process queued OCR jobs: OCR, LayoutLM, results, word labels, routing, messages."""
    state = ctx.ensure_object(State)
    state.override(
        ocr_queue=job_queue_url, ocr_results_queue=results_queue_url, model_cache=cache_path
    )
    policy = _policy(min_confidence, require)
    override = "stub" if stub_ocr else engine
    if override is not None:
        _engine(override)  # an engine that cannot run here is refused before any job is taken
    runtime = state.runtime()
    models = model_cache(runtime, model, predictor_runtime=runtime_name, quantize=precision)
    worker = _ready_worker(
        runtime, models, override, policy, worker_name=worker_name, continuous=continuous
    )
    for path in sweep_stale_scratch():
        worker.log.info("stale scratch removed", path=str(path))
    _fail_dead_letters(runtime, worker)
    pending = runtime.queues.ocr_jobs.approximate_count()
    with stop_on_signals(worker.request_stop), _progress(pending) as on_handled:
        handled = worker.serve(
            continuous=continuous,
            batch=batch,
            wait_seconds=wait_seconds if not forever else max(wait_seconds, 5.0),
            until_empty=not forever,
            max_messages=max_messages,
            on_handled=on_handled,
        )
    counts: Counter[str] = Counter(handled)
    worker.log.info("OCR worker stopped", handled=dict(counts), stopped=worker.stopping)
    code = console.handled(counts)
    if code:
        raise typer.Exit(code)


def _ready_worker(
    runtime: Runtime,
    models: ModelCache,
    override: str | None,
    policy: RoutingPolicy,
    *,
    worker_name: str | None,
    continuous: bool,
) -> OCRWorker:
    worker = build_ocr_worker(
        runtime,
        models=models,
        log=structlog.get_logger("receipts.ocr_worker"),
        engine_override=override,
        policy=policy,
        worker_name=worker_name,
    )
    worker.log.info(
        "OCR worker ready",
        mode=runtime.settings.mode,
        queue=worker.jobs_queue.name,
        model=models.default,
        engine=override or "as each job asks",
        continuous=continuous,
    )
    return worker


def _fail_dead_letters(runtime: Runtime, worker: OCRWorker) -> list[UUID]:
    """Ends `failed` the OCR jobs whose messages are in the dead-letter queue (if any)."""
    dead_letters = runtime.queues.dead_letters.get(runtime.queues.ocr_jobs.name)
    if dead_letters is None:
        return []
    failed = worker.fail_dead_letters(dead_letters)
    if failed:
        worker.log.warning(
            "OCR jobs failed: their messages were in the dead-letter queue",
            queue=dead_letters.name,
            ocr_job_ids=[str(job_id) for job_id in failed],
        )
    return failed


@app.command("ocr-dead-letters", rich_help_panel=OCR_HELP)
def ocr_dead_letters(ctx: typer.Context) -> None:
    """End `failed` every OCR job whose message is in the dead-letter queue (ocr-worker does
    it at start); `ocr-retry` queues one again."""
    runtime = ctx.ensure_object(State).runtime()
    worker = build_ocr_worker(
        runtime, models=model_cache(runtime), log=structlog.get_logger("receipts.ocr_worker")
    )
    failed = _fail_dead_letters(runtime, worker)
    for job_id in failed:
        console.out.print(f"{job_id}: failed (its message was in the dead-letter queue)")
    console.out.print(f"{len(failed)} OCR job(s) failed from the dead-letter queue")


@app.command("ocr-retry", rich_help_panel=OCR_HELP)
def ocr_retry(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="A failed OCR job's id.")],
    requested_by: Annotated[str, typer.Option(help="Recorded on the job.")] = "cli",
) -> None:
    """Queue a failed OCR job again (pending, a new message; its next attempt runs it)."""
    try:
        job_id = UUID(job)
    except ValueError:
        console.fail(f"{job!r} is not an OCR job id (a UUID)", 2)
    runtime = ctx.ensure_object(State).runtime()
    try:
        retried = runtime.ocr_jobs.retry(job_id, requested_by)
    except DomainError as error:  # unknown, or not failed
        console.fail(error)
    console.out.print(
        f"OCR job {retried.id} queued again on {runtime.queues.ocr_jobs.name}"
        f" (attempts so far: {retried.attempts})"
    )


@app.command("ocr-jobs", rich_help_panel=OCR_HELP)
def ocr_jobs(
    ctx: typer.Context,
    status: Annotated[OCRStatus | None, typer.Option(help="Only jobs with this status.")] = None,
    job: Annotated[str | None, typer.Argument(help="One OCR job id: its outcome.")] = None,
    as_json: AsJson = False,
) -> None:
    """OCR jobs with their status and routing; with an id, one job's outcome."""
    runtime = ctx.ensure_object(State).runtime()
    if job is not None:
        console.print_json(_ocr_job_detail(runtime, job))
        return
    catalog = runtime.catalog()
    statuses = [status] if status else list(OCRStatus)
    records = sorted(
        (r for s in statuses for r in catalog.ocr_jobs_by_status(s)),
        key=lambda r: r.created_at,
    )
    if as_json:
        console.print_json([r.model_dump(mode="json") for r in records])
        return
    table = Table("OCR job", "status", "words", "routing", "image", "updated", "error")
    for r in records:
        table.add_row(
            str(r.ocr_job_id),
            r.status.value,
            "" if r.word_count is None else str(r.word_count),
            r.routing.value if r.routing else "",
            r.image_uri.rsplit("/", 1)[-1],
            str(r.updated_at)[:19],
            (r.error or "")[:60],
        )
    console.out.print(table if records else "no OCR jobs")


def _ocr_job_detail(runtime: Runtime, key: str) -> dict[str, object]:
    try:
        found = runtime.ocr_jobs.get_ocr_job(UUID(key))
    except ValueError:
        console.fail(f"{key!r} is not an OCR job id (a UUID)", 2)
    return {
        "ocr_job_id": str(found.id),
        "status": found.status.value,
        "request": found.request.model_dump(mode="json"),
        "attempts": found.attempts,
        "worker": found.worker,
        "outcome": found.outcome.model_dump(mode="json") if found.outcome else None,
        "error": found.error,
    }


@app.command("review", rich_help_panel=OCR_HELP)
def review(
    ctx: typer.Context,
    receipt_id: Annotated[str, typer.Argument(help="Word-label record (ocr-<job id>).")],
    status: Annotated[ValidationStatus, typer.Option(help="The verdict.")],
    word: Annotated[
        list[int] | None, typer.Option(help="Word ids (repeatable; default: every labelled)")
    ] = None,
) -> None:
    """Set the validation status of an OCR record's word labels (VALID ones train)."""
    labels = ctx.ensure_object(State).runtime().labels
    try:
        receipt = labels.get(receipt_id)
    except KeyError as error:
        console.fail(error.args[0] if error.args else error)
    known = {w.word_id for w in receipt.words}
    chosen = word or [w.word_id for w in receipt.words if w.label != "O"]
    missing = sorted(set(chosen) - known)
    if missing:
        console.fail(f"receipt {receipt_id} has no word {missing}")
    for word_id in chosen:
        labels.set_validation_status(receipt_id, word_id, status)
    console.out.print(f"{receipt_id}: {len(chosen)} word label(s) set to {status.value}")


def _print_reading(reading: ReceiptReading, output_dir: Path) -> None:
    out = console.out
    routing = reading.routing
    style = "green" if routing.decision.value == "auto_accept" else "yellow"
    out.print(
        f"{len(reading.ocr.words)} words ({reading.engine}, {reading.ocr_seconds:.2f} s),"
        f" {reading.labelled_words} labelled by {reading.model.model_name}"
        f" ({reading.model.runtime} {reading.model.quantization},"
        f" {reading.inference_seconds * 1000:.0f} ms)"
    )
    table = Table("field", "value", "confidence")
    for name, value in reading.fields.items():
        confidence = routing.field_confidence.get(name)
        table.add_row(name, value, "" if confidence is None else f"{confidence:.2f}")
    out.print(table)
    for item in reading.line_items[:20]:
        out.print(f"  • {item['product']}  {item['amount']}")
    out.print(console.styled("routing: ", (routing.decision.value, style), f" ({routing.reason})"))
    out.print(f"wrote {output_dir / 'ocr.json'} and {output_dir / 'labels.json'}")


@contextmanager
def _progress(pending: int) -> Iterator[Callable[[Handled], None]]:
    """A progress bar over the jobs queued at the start (on a terminal); yields the callback
    that advances it."""
    if not console.err.is_terminal:
        yield lambda outcome: None
        return
    with counting_bar(TextColumn("{task.fields[last]}", markup=False)) as progress:
        task = progress.add_task("OCR jobs", total=pending or None, last="")
        yield lambda outcome: progress.update(task, advance=1, last=outcome)
