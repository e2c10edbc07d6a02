"""boto3 clients configured from the environment: endpoint, region, retries with backoff."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

RETRIES = Config(
    retries={"max_attempts": 10, "mode": "adaptive"}, connect_timeout=5, read_timeout=30
)


def endpoint_for(service: str, env: Mapping[str, str] | None = None) -> str | None:
    """`AWS_ENDPOINT_URL_<SERVICE>` or `AWS_ENDPOINT_URL` (both also read by botocore)."""
    env = os.environ if env is None else env
    return env.get(f"AWS_ENDPOINT_URL_{service.upper()}") or env.get("AWS_ENDPOINT_URL") or None


def client(service: str, env: Mapping[str, str] | None = None) -> Any:
    env = os.environ if env is None else env
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.session.Session().client(
        service, region_name=region, endpoint_url=endpoint_for(service, env), config=RETRIES
    )
