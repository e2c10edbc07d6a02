"""Settings: which adapters run, read from the environment (`RECEIPTS_*`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

Mode = Literal["memory", "local", "aws"]
LogFormat = Literal["auto", "json", "console"]


class InvalidSettings(ValueError):
    pass


SEED_VARIABLES = {
    "DYNAMO_TABLE_NAME": "table",
    "OCR_JOB_QUEUE_URL": "ocr_queue",
    "OCR_RESULTS_QUEUE_URL": "ocr_results_queue",
    "COREML_EXPORT_JOB_QUEUE_URL": "export_queue",
    "COREML_EXPORT_RESULTS_QUEUE_URL": "export_results_queue",
    "LAYOUTLM_TRAINING_BUCKET": "bucket",
}
"""The seeds' environment variables, read when the `RECEIPTS_*` one is not set."""


class Settings(BaseModel):
    """`memory`: everything in this process. `local` (the embedded default): SQLite event
    store, SQLite queues and files under `home`. `aws`: DynamoDB, SQS and S3.

    In `aws` mode a queue setting is a queue name or URL, `events_table` holds every
    application's events, `table` is the seeds' single table (read models, word labels) and
    `bucket` holds artifacts. `create_resources` creates missing tables, queues and the bucket
    (development and tests; production declares them in `infra/`). Clients follow
    `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`."""

    model_config = ConfigDict(frozen=True)

    mode: Mode = "local"
    home: Path = Path(".receipts")
    log_format: LogFormat = "auto"
    log_level: str = "info"
    export_queue: str = "coreml-export-job-queue"
    export_results_queue: str = "coreml-export-results-queue"
    ocr_queue: str = "ocr-job-queue"
    ocr_results_queue: str = "ocr-results-queue"
    max_receive_count: int = 5
    visibility_timeout: float = 900.0
    table: str = "receipts"
    events_table: str = "receipts-events"
    bucket: str = "receipts-artifacts"
    create_resources: bool = False
    ocr_engine: Literal["tesseract", "vision", "stub"] = "tesseract"
    ocr_model: str | None = None
    """The OCR worker's model (directory, or a prefix in the artifact store); unset: the best
    checkpoint of the latest succeeded training job."""
    model_cache: Path | None = None
    """Where downloaded models are kept (the seeds' --layoutlm-cache-path); unset: under home."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        fields = {
            name: env[variable] for variable, name in SEED_VARIABLES.items() if variable in env
        }
        fields.update(
            {
                name: env[f"RECEIPTS_{name.upper()}"]
                for name in cls.model_fields
                if f"RECEIPTS_{name.upper()}" in env
            }
        )
        try:
            return cls.model_validate(fields)
        except ValidationError as error:
            problems = "; ".join(
                f"RECEIPTS_{str(e['loc'][0]).upper()}: {e['msg']}" for e in error.errors()
            )
            raise InvalidSettings(f"invalid settings: {problems}") from None

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
