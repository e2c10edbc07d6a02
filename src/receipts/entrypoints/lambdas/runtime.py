"""One Runtime per Lambda container: bootstrapped on the first invocation, reused after.

A warm container keeps its Runtime (clients, aggregate cache, follower positions) between
invocations; each later invocation first catches up, so the Exports policy and the queue
dispatcher process whatever other processes (a training container, another function)
recorded since. In aws mode the bucket is checked at start, so a missing table, queue or
bucket fails the first invocation with an error naming it rather than later, half-way.
"""

from __future__ import annotations

import logging
import threading

from receipts.bootstrap import Runtime, bootstrap
from receipts.settings import Settings

_lock = threading.Lock()
_runtime: Runtime | None = None


def current_runtime() -> Runtime:
    """The container's Runtime, from the environment (Settings.from_env), caught up."""
    global _runtime
    with _lock:
        if _runtime is None:
            settings = Settings.from_env()
            level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
            logging.getLogger("receipts").setLevel(level)
            runtime = bootstrap(settings)
            try:
                check_bucket(runtime)
            except Exception:
                runtime.close()
                raise
            _runtime = runtime
        else:
            _runtime.catch_up()
        return _runtime


def reset_runtime() -> None:
    """Drops the cached Runtime (tests; a new environment)."""
    global _runtime
    with _lock:
        if _runtime is not None:
            _runtime.close()
        _runtime = None


def check_bucket(runtime: Runtime) -> None:
    """Raises BucketMissing naming the artifact bucket when it does not exist (aws mode)."""
    if runtime.settings.mode != "aws":
        return
    from botocore.exceptions import ClientError

    from receipts.adapters.s3.artifact_store import BucketMissing, S3ArtifactStore

    store = runtime.artifacts
    if not isinstance(store, S3ArtifactStore):
        return
    bucket = runtime.settings.bucket
    try:
        store.s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket"):
            raise BucketMissing(bucket) from None
        raise
