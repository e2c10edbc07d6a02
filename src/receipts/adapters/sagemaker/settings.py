"""Where and on what SageMaker trains: `RECEIPTS_SAGEMAKER_*` environment variables."""

from __future__ import annotations

import re

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from receipts.settings import EnvSettings

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/\S+$")


class SageMakerSettings(EnvSettings):
    """`role_arn` and `image_uri` are required; the rest has the seeds' defaults
    (one g5.xlarge, on demand). `max_wait_seconds` applies to spot only and must be at
    least `max_runtime_seconds`."""

    model_config = SettingsConfigDict(env_prefix="RECEIPTS_SAGEMAKER_")

    role_arn: str
    image_uri: str = Field(min_length=1)
    instance_type: str = "ml.g5.xlarge"
    instance_count: int = Field(1, ge=1, le=64)
    volume_size_gb: int = Field(50, ge=1, le=16384)
    max_runtime_seconds: int = Field(24 * 3600, ge=1, le=28 * 24 * 3600)
    use_spot: bool = False
    max_wait_seconds: int | None = Field(None, ge=1)
    poll_seconds: float = Field(30.0, gt=0)
    input_uri: str | None = None
    """The `training` channel's S3 prefix; by default the job's dataset when it is on S3."""

    @field_validator("role_arn")
    @classmethod
    def _role_arn(cls, value: str) -> str:
        if not ROLE_ARN.match(value):
            raise ValueError("expected arn:aws:iam::<12-digit account>:role/<name>")
        return value

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        if not value.startswith("ml."):
            raise ValueError("a SageMaker instance type starts with 'ml.' (e.g. ml.g5.xlarge)")
        return value

    @property
    def max_wait(self) -> int:
        """MaxWaitTimeInSeconds of a spot job: at least the runtime (SageMaker's rule)."""
        return max(self.max_wait_seconds or 2 * self.max_runtime_seconds, self.max_runtime_seconds)
