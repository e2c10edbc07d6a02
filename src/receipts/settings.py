"""Settings: which adapters run, read from the environment (`RECEIPTS_*`, and the seeds'
variable names where they had one)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self
from uuid import UUID

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from receipts.application.ports.archives import ArchiveLimits
from receipts.application.ports.label_store import MAX_RECEIPT_WORDS, MAX_RECORD_BYTES
from receipts.application.ports.queue import MAX_VISIBILITY_TIMEOUT
from receipts.domain.job_lease import DEFAULT_LEASE_SECONDS

Mode = Literal["memory", "local", "aws"]
LogFormat = Literal["auto", "json", "console"]


class InvalidSettings(ValueError):
    pass


class EnvSettings(BaseSettings):
    """Settings from environment variables: `env_prefix` + the field's name, or its alias
    (where the first choice wins). An empty variable counts as unset. `from_env` names every
    bad variable at once."""

    model_config = SettingsConfigDict(
        frozen=True, validate_by_name=True, env_ignore_empty=True, str_strip_whitespace=True
    )

    @classmethod
    def from_env(cls) -> Self:
        try:
            return cls()
        except ValidationError as error:
            prefix = cls.model_config.get("env_prefix", "")
            problems = []
            for e in error.errors():
                name = str(e["loc"][0])  # a field's name, or the variable an alias read
                variable = name if name.isupper() else prefix + name.upper()
                missing = e["type"] == "missing"
                problem = "not set" if missing else e["msg"].removeprefix("Value error, ")
                problems.append(f"{variable}: {problem}")
            raise InvalidSettings(f"invalid settings: {'; '.join(problems)}") from None


class Settings(EnvSettings):
    """`memory`: everything in this process. `local` (the embedded default): SQLite event
    store, SQLite queues and files under `home`. `aws`: DynamoDB, SQS and S3.

    In `aws` mode a queue setting is a queue name or URL, `events_table` holds every
    application's events, `table` is the seeds' single table (read models, word labels) and
    `bucket` holds artifacts. `create_resources` creates missing tables, queues and the bucket
    (development and tests; production declares them in `infra/`). Clients follow
    `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`."""

    model_config = SettingsConfigDict(env_prefix="RECEIPTS_")

    mode: Mode = "local"
    home: Path = Path(".receipts")
    log_format: LogFormat = "auto"
    log_level: str = "info"
    export_queue: str = Field(
        "coreml-export-job-queue",
        validation_alias=AliasChoices("RECEIPTS_EXPORT_QUEUE", "COREML_EXPORT_JOB_QUEUE_URL"),
    )
    export_results_queue: str = Field(
        "coreml-export-results-queue",
        validation_alias=AliasChoices(
            "RECEIPTS_EXPORT_RESULTS_QUEUE", "COREML_EXPORT_RESULTS_QUEUE_URL"
        ),
    )
    ocr_queue: str = Field(
        "ocr-job-queue", validation_alias=AliasChoices("RECEIPTS_OCR_QUEUE", "OCR_JOB_QUEUE_URL")
    )
    ocr_results_queue: str = Field(
        "ocr-results-queue",
        validation_alias=AliasChoices("RECEIPTS_OCR_RESULTS_QUEUE", "OCR_RESULTS_QUEUE_URL"),
    )
    max_receive_count: int = Field(5, ge=1)
    visibility_timeout: float = Field(900.0, ge=0, le=MAX_VISIBILITY_TIMEOUT)
    # input limits (README "Operations"): a bigger input is refused naming the limit
    max_jsonl_line_bytes: int = Field(MAX_RECORD_BYTES, ge=1)
    max_receipt_words: int = Field(MAX_RECEIPT_WORDS, ge=1)
    max_archive_bytes: int = Field(ArchiveLimits.max_total_bytes, ge=1)
    max_archive_ratio: float = Field(ArchiveLimits.max_ratio, gt=0)
    job_lease_seconds: float = Field(DEFAULT_LEASE_SECONDS, gt=0)
    """How long a running job's trainer counts as alive after renewing its lease (every
    quarter of this); past it, `receipts jobs recover` ends the job interrupted at its last
    whole checkpoint."""
    table: str = Field(
        "receipts", validation_alias=AliasChoices("RECEIPTS_TABLE", "DYNAMO_TABLE_NAME")
    )
    events_table: str = "receipts-events"
    bucket: str = Field(
        "receipts-artifacts",
        validation_alias=AliasChoices("RECEIPTS_BUCKET", "LAYOUTLM_TRAINING_BUCKET"),
    )
    create_resources: bool = False
    ocr_engine: Literal["tesseract", "vision", "stub"] = "tesseract"
    ocr_model: str | None = None
    """The OCR worker's model (directory, or a prefix in the artifact store); unset: the best
    checkpoint of the latest succeeded training job."""
    model_cache: Path | None = None
    """Where downloaded models are kept (the seeds' --layoutlm-cache-path); unset: under home."""
    training_backend: str = "none"  # of the start-training Lambda: none, simulated, module:factory
    # the inference Lambdas' (bootstrap/inference.py)
    inference_model: str | None = Field(None, validation_alias="MODEL_S3_URI")
    inference_cache_bucket: str | None = Field(None, validation_alias="S3_CACHE_BUCKET")
    # the SageMaker training container's (entrypoints/sagemaker_train.py; unset: SageMaker's)
    job_id: UUID | None = None
    job_name: str | None = None
    runs_prefix: str | None = None
    sagemaker_root: Path = Path("/opt/ml")
    sagemaker_checkpoint_dir: Path | None = None
    sagemaker_processes_per_host: int | None = Field(None, ge=1)
    sagemaker_keep_checkpoints: int = 2

    @property
    def archive_limits(self) -> ArchiveLimits:
        return ArchiveLimits(
            max_total_bytes=self.max_archive_bytes, max_ratio=self.max_archive_ratio
        )

    @property
    def events_dir(self) -> Path:
        return self.home.resolve() / "events"

    @property
    def artifacts_dir(self) -> Path:
        return self.home.resolve() / "artifacts"

    @property
    def labels_path(self) -> Path:
        """The local mode's word-label records written by the OCR worker."""
        return self.home.resolve() / "labels" / "ocr-receipts.jsonl"

    @property
    def model_cache_dir(self) -> Path:
        return (self.model_cache or self.home / "models").expanduser().resolve()

    @property
    def queue_db(self) -> Path:
        return self.home.resolve() / "queues.sqlite"
