"""Helpers for testing the DynamoDB event store on the moto server: a client wrapper that
serializes transactions (moto does not isolate concurrent ones) and counts operations,
factories built as `bootstrap` configures applications, and a throttling HTTP proxy."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory, StoredEvent
from eventsourcing.utils import Environment

from receipts.adapters.dynamodb.event_store import DynamoDBFactory
from receipts.bootstrap import event_store_env
from receipts.settings import Settings

_TRANSACTIONS = threading.Lock()
"""One lock for every wrapped client in the process: recorders opened as if by separate
processes still race for the same table on the one moto server."""


class SerializedTransactions:
    """A boto3 DynamoDB client whose `transact_write_items` calls run one at a time.

    Real DynamoDB isolates transactions (a condition is checked and the write applied
    atomically); moto 5.2.5 does not, so concurrent tests would test moto's race instead of
    the store's conditions. Everything else passes straight through. `calls` counts the
    operations made through this client (reads included), for tests that check which
    requests a recorder issues.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def transact_write_items(self, **kwargs: Any) -> Any:
        self._count("transact_write_items")
        with _TRANSACTIONS:
            return self._client.transact_write_items(**kwargs)

    def get_paginator(self, operation: str) -> Any:
        """The client's paginator; each page it fetches counts as one `operation` call."""
        paginator = self._client.get_paginator(operation)

        def paginate(**kwargs: Any) -> Iterator[Any]:
            for page in paginator.paginate(**kwargs):
                self._count(operation)
                yield page

        return SimpleNamespace(paginate=paginate)

    def _count(self, operation: str) -> None:
        with self._count_lock:
            self.calls[operation] += 1

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("_") or name in {"get_waiter", "meta"}:
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._count(name)
            return attribute(*args, **kwargs)

        return counted


def event_store_settings(table: str, *, create: bool = True) -> Settings:
    return Settings(mode="aws", events_table=table, create_resources=create)


def open_factory(table: str, app_name: str = "Jobs", *, create: bool = True) -> DynamoDBFactory:
    """The persistence module's factory for one application, built from the environment
    `bootstrap` gives applications, its client wrapped in `SerializedTransactions`."""
    env = Environment(app_name, event_store_env(event_store_settings(table, create=create)))
    factory = InfrastructureFactory.construct(env)
    assert isinstance(factory, DynamoDBFactory)
    factory.datastore.db = SerializedTransactions(factory.datastore.db)
    return factory


def probe_of(recorder: object) -> SerializedTransactions:
    """The wrapped client of a recorder `open_factory` built."""
    db = recorder.datastore.db  # type: ignore[attr-defined]
    assert isinstance(db, SerializedTransactions)
    return db


def stored(originator_id: UUID, version: int, state: bytes = b"{}") -> StoredEvent:
    return StoredEvent(
        originator_id=originator_id, originator_version=version, topic="topic", state=state
    )


THROTTLED_BODY = json.dumps(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded.",
    }
).encode()


class ThrottlingProxy:
    """An HTTP proxy in front of the moto server that answers the first `throttle`
    requests of one DynamoDB operation with HTTP 400 ProvisionedThroughputExceededException,
    as DynamoDB does, and forwards everything else. `seen` lists (operation, status, time)."""

    def __init__(self, upstream: str, operation: str, throttle: int) -> None:
        parsed = urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.operation = operation
        self.throttle = throttle
        self.seen: list[tuple[str, int, float]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def operations(self, status: int | None = None) -> list[str]:
        return [op for op, code, _ in self.seen if status is None or code == status]

    def times_of(self, operation: str) -> list[float]:
        return [at for op, _, at in self.seen if op == operation]

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _decide(self, operation: str) -> bool:
        """Records the request; True when it is to be throttled."""
        with self._lock:
            throttled = operation == self.operation and self.throttle > 0
            if throttled:
                self.throttle -= 1
            self.seen.append((operation, 400 if throttled else 200, time.monotonic()))
            return throttled

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                operation = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
                if proxy._decide(operation):
                    self._reply(400, {"Content-Type": "application/x-amz-json-1.0"}, THROTTLED_BODY)
                    return
                connection = HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    connection.request("POST", self.path, body, dict(self.headers.items()))
                    response = connection.getresponse()
                    payload = response.read()
                    headers = {
                        k: v
                        for k, v in response.getheaders()
                        if k.lower() not in {"transfer-encoding", "connection", "content-length"}
                    }
                    self._reply(response.status, headers, payload)
                finally:
                    connection.close()

            def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
