"""AWS clients configured from the environment: endpoint, region, retries with backoff.

boto3 clients for synchronous code and aioboto3 clients (async context managers) for
asyncio workers share one botocore `Config`, so both retry throttling and transient
errors the same way (adaptive mode: exponential backoff with jitter plus a client-side
rate limiter that slows down after throttling responses).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import aioboto3
import boto3
from botocore.config import Config

__all__ = ["RETRIES", "async_client", "client", "endpoint_for", "region_for", "retry_config"]


def retry_config(max_attempts: int = 10, mode: str = "adaptive") -> Config:
    """A botocore Config retrying `max_attempts` times in all (first try included)."""
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    return Config(
        retries={"max_attempts": max_attempts, "mode": mode}, connect_timeout=5, read_timeout=30
    )


RETRIES = retry_config()


def endpoint_for(service: str, env: Mapping[str, str] | None = None) -> str | None:
    """`AWS_ENDPOINT_URL_<SERVICE>` or `AWS_ENDPOINT_URL` (both also read by botocore)."""
    env = os.environ if env is None else env
    return env.get(f"AWS_ENDPOINT_URL_{service.upper()}") or env.get("AWS_ENDPOINT_URL") or None


def region_for(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


def client(service: str, env: Mapping[str, str] | None = None, config: Config = RETRIES) -> Any:
    """A boto3 client for `service` (thread-safe; share it)."""
    return boto3.session.Session().client(
        service, region_name=region_for(env), endpoint_url=endpoint_for(service, env), config=config
    )


def async_client(
    service: str, env: Mapping[str, str] | None = None, config: Config = RETRIES
) -> AbstractAsyncContextManager[Any]:
    """An aioboto3 client for `service`: `async with async_client("sqs") as sqs: ...`.

    The client belongs to the event loop it is entered in.
    """
    session = aioboto3.Session()
    manager: AbstractAsyncContextManager[Any] = session.client(
        service, region_name=region_for(env), endpoint_url=endpoint_for(service, env), config=config
    )
    return manager
