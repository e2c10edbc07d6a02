"""boto3 clients for DynamoDB: the shared factory of `receipts.adapters.aws_clients`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from botocore.config import Config

from receipts.adapters.aws_clients import RETRIES, client, endpoint_for, retry_config

__all__ = ["RETRIES", "client", "dynamodb_client", "endpoint_for", "retry_config_from_env"]

RETRY_MODES = ("legacy", "standard", "adaptive")


def retry_config_from_env(env: Mapping[str, str] | None = None) -> Config:
    """The shared retry Config (adaptive, 11 attempts in all), with `AWS_RETRY_MODE` and
    `AWS_MAX_ATTEMPTS` winning when set: botocore reads them itself, but an explicit Config
    overrides them. As botocore reads it, `AWS_MAX_ATTEMPTS` counts every attempt."""
    env = os.environ if env is None else env
    mode = env.get("AWS_RETRY_MODE") or "adaptive"
    if mode not in RETRY_MODES:
        raise ValueError(f"AWS_RETRY_MODE must be one of {', '.join(RETRY_MODES)}, not {mode!r}")
    raw = env.get("AWS_MAX_ATTEMPTS")
    if not raw:
        return retry_config(mode=mode)
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"AWS_MAX_ATTEMPTS must be a whole number of at least 1, not {raw!r}")
    return retry_config(max_attempts=int(raw), mode=mode)


def dynamodb_client(env: Mapping[str, str] | None = None) -> Any:
    """A DynamoDB client retrying throttling and transient errors with backoff."""
    return client("dynamodb", env, config=retry_config_from_env(env))
