"""Wires adapters into the applications, as the settings say. The only place that chooses."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.system import NewSingleThreadedRunner

from receipts.adapters.jsonl.label_store import JSONLLabelStore
from receipts.adapters.local.artifact_store import LocalArtifactStore
from receipts.adapters.memory.artifact_store import InMemoryArtifactStore
from receipts.adapters.memory.label_store import InMemoryLabelStore
from receipts.adapters.memory.queue import InMemoryQueue
from receipts.adapters.memory.read_model import InMemoryJobReadModel
from receipts.adapters.sqlite.queue import SQLiteQueue
from receipts.application.event_sourcing.dispatch import QueueDispatcher
from receipts.application.export.exports import Exports
from receipts.application.ocr.ocr_jobs import OCRJobs
from receipts.application.ports.artifact_store import ArtifactStore
from receipts.application.ports.label_store import LabelStore
from receipts.application.ports.queue import MessageQueue
from receipts.application.ports.read_model import JobReadModel
from receipts.application.system import APPLICATIONS, receipts_system
from receipts.application.training.job_views import JobCatalog
from receipts.application.training.jobs import Jobs
from receipts.domain.job import StorageMetadata
from receipts.settings import Settings


@dataclass
class Queues:
    export_jobs: MessageQueue
    export_results: MessageQueue
    ocr_jobs: MessageQueue
    ocr_results: MessageQueue
    dead_letters: dict[str, MessageQueue] = field(default_factory=dict)


@dataclass
class Runtime:
    settings: Settings
    runner: NewSingleThreadedRunner[UUID]
    queues: Queues
    artifacts: ArtifactStore
    _catalog: JobCatalog | None = field(default=None, init=False, repr=False, compare=False)
    _labels: LabelStore | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def jobs(self) -> Jobs:
        return self.runner.get(Jobs)

    @property
    def exports(self) -> Exports:
        return self.runner.get(Exports)

    @property
    def ocr_jobs(self) -> OCRJobs:
        return self.runner.get(OCRJobs)

    @property
    def labels(self) -> LabelStore:
        """Where the OCR worker writes word-label records: a JSONL file under home (local),
        the seeds' single DynamoDB table (aws), or memory."""
        if self._labels is None:
            self._labels = build_label_store(self.settings)
        return self._labels

    def catalog(self) -> JobCatalog:
        """The seeds' queries; in aws mode on the single table (`settings.table`).

        One per runtime: it catches up before every query, so it stays current, and a new
        one would replay every notification (or, in aws mode, build a client again)."""
        if self._catalog is None:
            self._catalog = self._build_catalog()
        return self._catalog

    def _build_catalog(self) -> JobCatalog:
        read_model: JobReadModel = InMemoryJobReadModel()
        if self.settings.mode == "aws":
            from receipts.adapters.dynamodb.job_read_model import DynamoDBJobReadModel

            read_model = DynamoDBJobReadModel(self.settings.table)
            if self.settings.create_resources:
                read_model.create_table()
        return JobCatalog(self.jobs, read_model, exports=self.exports, ocr_jobs=self.ocr_jobs)

    def runs_prefix(self) -> str:
        return self.artifacts_uri("runs/")

    def run_storage(self, job_name: str) -> StorageMetadata:
        """Where a job's run goes (recorded on the job: the seeds' Job `storage`): its root
        under the runs prefix, which `best/` and the run results are published to."""
        return StorageMetadata(output_uri=self.artifacts_uri(f"runs/{job_name}/"))

    def artifacts_uri(self, key: str) -> str:
        if self.settings.mode == "aws":
            return f"s3://{self.settings.bucket}/{key}"
        if isinstance(self.artifacts, LocalArtifactStore):
            uri = self.artifacts.uri_for(self.settings.artifacts_dir / key)
            return uri.rstrip("/") + ("/" if key.endswith("/") else "")
        return f"memory://receipts/{key}"

    def catch_up(self) -> None:
        """Lets every follower process what its leaders recorded, in this or another process."""
        for leader, follower in receipts_system().edges:
            self.runner.apps[follower].pull_and_process(leader)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.runner.stop()


def event_store_env(settings: Settings) -> dict[str, Any]:
    # The cache fast-forwards a cached aggregate with newer stored events on every get,
    # so it stays correct when another process writes too.
    # Commands check their rules before they record anything, and a failed save evicts
    # (PydanticApplication.save), so handing out the cached aggregate itself is safe.
    cache = {
        "AGGREGATE_CACHE_MAXSIZE": "1000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }
    if settings.mode == "memory":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo", **cache}
    if settings.mode == "local":
        settings.events_dir.mkdir(parents=True, exist_ok=True)
        env: dict[str, Any] = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_LOCK_TIMEOUT": "30",
            **cache,
        }
        # each application keeps its own database: they share one table name
        for app in APPLICATIONS:
            env[f"{app.name.upper()}_SQLITE_DBNAME"] = str(
                settings.events_dir / f"{app.name.lower()}.sqlite"
            )
        return env
    return {
        "PERSISTENCE_MODULE": "receipts.adapters.dynamodb.event_store",
        "DYNAMODB_TABLE": settings.events_table,
        "CREATE_TABLE": "y" if settings.create_resources else "n",
        **cache,
    }


def build_queues(settings: Settings) -> Queues:
    names = {
        "export_jobs": settings.export_queue,
        "export_results": settings.export_results_queue,
        "ocr_jobs": settings.ocr_queue,
        "ocr_results": settings.ocr_results_queue,
    }
    dead_letters: dict[str, MessageQueue] = {}
    built: dict[str, MessageQueue] = {}
    if settings.mode == "aws":
        return _sqs_queues(settings, names)
    for role, name in names.items():
        if settings.mode == "memory":
            dlq: MessageQueue = InMemoryQueue(f"{name}-dlq")
            built[role] = InMemoryQueue(
                name,
                visibility_timeout=settings.visibility_timeout,
                max_receive_count=settings.max_receive_count,
                dead_letter_queue=dlq,
            )
        else:
            settings.home.mkdir(parents=True, exist_ok=True)
            sqlite_dlq = SQLiteQueue(settings.queue_db, f"{name}-dlq")
            dlq = sqlite_dlq
            built[role] = SQLiteQueue(
                settings.queue_db,
                name,
                visibility_timeout=settings.visibility_timeout,
                max_receive_count=settings.max_receive_count,
                dead_letter_queue=sqlite_dlq,
            )
        dead_letters[name] = dlq
    return Queues(dead_letters=dead_letters, **built)


def _sqs_queues(settings: Settings, names: dict[str, str]) -> Queues:
    from receipts.adapters.sqs.queue import SQSQueue

    built: dict[str, MessageQueue] = {}
    dead_letters: dict[str, MessageQueue] = {}
    for role, name in names.items():
        queue = _sqs_queue(settings, name, SQSQueue)
        built[role] = queue
        dead_letter = _sqs_dead_letter_of(queue, SQSQueue)
        if dead_letter is not None:
            dead_letters[queue.name] = dead_letter
    return Queues(dead_letters=dead_letters, **built)


def _sqs_dead_letter_of(queue: Any, sqs_queue: Any) -> Any:
    """The queue its redrive policy names (also checks that `queue` exists), or None."""
    try:
        policy = json.loads(queue.attribute("RedrivePolicy"))
    except KeyError:
        return None
    arn: str = policy["deadLetterTargetArn"]
    return sqs_queue.by_name(arn.rsplit(":", 1)[-1], queue.sqs)


def _sqs_queue(settings: Settings, name_or_url: str, sqs_queue: Any) -> Any:
    """The queue a setting names or locates (the seeds give URLs). With `create_resources`
    a missing one is created, with its DLQ, under the name a URL ends in."""
    is_url = name_or_url.startswith(("https://", "http://"))
    if not settings.create_resources:
        return sqs_queue(name_or_url) if is_url else sqs_queue.by_name(name_or_url)
    name = name_or_url.rstrip("/").rsplit("/", 1)[-1] if is_url else name_or_url
    dead_letter = None
    if not name.endswith("-dlq"):
        dead_letter = sqs_queue.ensure(f"{name}-dlq")
    return sqs_queue.ensure(
        name,
        visibility_timeout=int(settings.visibility_timeout),
        dead_letter_queue=dead_letter,
        max_receive_count=settings.max_receive_count if dead_letter is not None else None,
    )


def build_label_store(settings: Settings) -> LabelStore:
    if settings.mode == "memory":
        return InMemoryLabelStore(source="memory:ocr")
    if settings.mode == "aws":
        from receipts.adapters.dynamodb.label_store import DynamoDBLabelStore

        store = DynamoDBLabelStore(settings.table)
        if settings.create_resources:
            store.create_table()
        return store
    settings.labels_path.parent.mkdir(parents=True, exist_ok=True)
    return JSONLLabelStore(settings.labels_path)


def build_artifacts(settings: Settings) -> ArtifactStore:
    if settings.mode == "memory":
        return InMemoryArtifactStore()
    if settings.mode == "aws":
        from receipts.adapters.s3.artifact_store import S3ArtifactStore

        store = S3ArtifactStore()
        if settings.create_resources:
            store.create_bucket(settings.bucket)
        return store
    settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
    return LocalArtifactStore(settings.artifacts_dir)


def bootstrap(settings: Settings | None = None) -> Runtime:
    settings = settings or Settings.from_env()
    runner: NewSingleThreadedRunner[UUID] = NewSingleThreadedRunner(
        receipts_system(), env=event_store_env(settings)
    )
    queues = build_queues(settings)
    runner.get(QueueDispatcher).attach(queues.export_jobs, queues.ocr_jobs)
    runner.start()
    runtime = Runtime(
        settings=settings, runner=runner, queues=queues, artifacts=build_artifacts(settings)
    )
    runtime.catch_up()
    return runtime
