"""AWS clients configured from the environment: endpoint, region, retries with backoff.

boto3 clients for synchronous code and aioboto3 clients (async context managers) for
asyncio workers share one botocore `Config`, so every client (DynamoDB, S3, SQS, SageMaker)
retries throttling and transient errors the same way: adaptive mode by default (exponential
backoff with jitter plus a client-side rate limiter that slows down after throttling
responses), `AWS_RETRY_MODE` and `AWS_MAX_ATTEMPTS` winning when set.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import boto3
from botocore.config import Config

__all__ = [
    "async_client",
    "client",
    "endpoint_for",
    "region_for",
    "retry_config",
    "retry_config_from_env",
]

RETRY_MODES = ("legacy", "standard", "adaptive")


def retry_config(max_attempts: int = 11, mode: str = "adaptive") -> Config:
    """A botocore Config making at most `max_attempts` attempts, the first included
    (by default the first and up to 10 retries).

    (botocore's own `max_attempts` key counts retries only; `total_max_attempts` counts
    what the name says.)
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    return Config(
        retries={"total_max_attempts": max_attempts, "mode": mode},
        connect_timeout=5,
        read_timeout=30,
    )


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


def endpoint_for(service: str, env: Mapping[str, str] | None = None) -> str | None:
    """`AWS_ENDPOINT_URL_<SERVICE>` or `AWS_ENDPOINT_URL` (both also read by botocore)."""
    env = os.environ if env is None else env
    return env.get(f"AWS_ENDPOINT_URL_{service.upper()}") or env.get("AWS_ENDPOINT_URL") or None


def region_for(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
_sessions: dict[tuple[str | None, ...], boto3.session.Session] = {}
_sessions_lock = threading.Lock()


def client(service: str, env: Mapping[str, str] | None = None, config: Config | None = None) -> Any:
    """A boto3 client for `service` (thread-safe; share it), retrying as
    `retry_config_from_env` says unless given a `config`.

    Sessions are reused while the credential variables stay the same: a new session
    loads the service models again (~0.2 s a client instead of ~0.05 s). Sessions are
    not thread-safe, so clients are made under a lock.
    """
    key = tuple(os.environ.get(name) for name in _CREDENTIAL_VARIABLES)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = _sessions[key] = boto3.session.Session()
        return session.client(
            service,
            region_name=region_for(env),
            endpoint_url=endpoint_for(service, env),
            config=config or retry_config_from_env(env),
        )


def async_client(
    service: str, env: Mapping[str, str] | None = None, config: Config | None = None
) -> AbstractAsyncContextManager[Any]:
    """An aioboto3 client for `service`: `async with async_client("sqs") as sqs: ...`.

    The client belongs to the event loop it is entered in.
    """
    import aioboto3  # only async code needs it (and a Lambda package can leave it out)

    session = aioboto3.Session()
    manager: AbstractAsyncContextManager[Any] = session.client(
        service,
        region_name=region_for(env),
        endpoint_url=endpoint_for(service, env),
        config=config or retry_config_from_env(env),
    )
    return manager
