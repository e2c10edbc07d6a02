"""Queue message bodies, in the seeds' formats."""

from __future__ import annotations

import json
from typing import Any, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from receipts.application.ports.queue import MAX_MESSAGE_BYTES
from receipts.domain.artifacts import URIText
from receipts.domain.config import validation_problems
from receipts.domain.errors import InvalidInput
from receipts.domain.ocr_job import OCREngineName
from receipts.domain.quantization import Quantization


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)

    @classmethod
    def parse(cls, body: str | bytes) -> Self:
        """Parses a message body; a clear InvalidInput names what is wrong (a body over the
        queue's limit is refused unread)."""
        size = len(body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass"))
        if size > MAX_MESSAGE_BYTES:
            raise InvalidInput(
                f"{cls.__name__} body",
                [f"{size:,} bytes, over the {MAX_MESSAGE_BYTES:,}-byte limit of a queue message"],
            )
        try:
            data: Any = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InvalidInput(f"{cls.__name__} body", [f"not JSON: {error}"]) from None
        if not isinstance(data, dict):
            raise InvalidInput(f"{cls.__name__} body", ["expected a JSON object"])
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise InvalidInput(f"{cls.__name__} body", validation_problems(error)) from None

    def body(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)


class ExportMessage(Message):
    """The seeds' export request: export_id, job_id, model_s3_uri, quantize, output_s3_prefix.

    `job_id` is what the seeds put there: the training job's name (its id when it has no
    name); `job_uuid` adds the Job aggregate's id for consumers of this project."""

    export_id: UUID
    job_id: str
    job_uuid: UUID | None = None
    model_uri: URIText = Field(alias="model_s3_uri")
    quantize: Quantization = Quantization.FLOAT16
    output_prefix: URIText = Field(alias="output_s3_prefix")


class ExportResultMessage(Message):
    export_id: UUID
    job_id: str
    job_uuid: UUID | None = None
    status: str
    bundle_uri: str | None = None
    total_bytes: int | None = None
    error: str | None = None


class OCRMessage(Message):
    """An engine this project does not know makes the message poison (not a request)."""

    job_id: UUID
    image_uri: URIText
    ocr_engine: OCREngineName | None = None


class DeadOCRMessage(Message):
    """What a dead-letter sweep needs of an OCR message: the job it names (the rest may be
    what made it poison)."""

    job_id: UUID
    image_uri: str | None = None
    ocr_engine: str | None = None


class OCRResultMessage(Message):
    """The seeds' completion message ({job_id, status, word_count, routing, result_uris |
    error}); this project's worker adds the routing reason, the fields and the record id."""

    job_id: UUID
    status: str
    word_count: int | None = None
    routing: str | None = None
    result_uris: dict[str, str] = Field(default_factory=dict)
    error: str | None = None
    routing_reason: str | None = None
    receipt_id: str | None = None
    fields: dict[str, str] | None = None
