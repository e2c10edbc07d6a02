"""An HTTP proxy in front of the moto server that answers chosen requests with an error
(throttling, a server fault) and forwards everything else, so tests can show what real
boto3 / aioboto3 clients do (retry with backoff, abort, report) without patching them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit

_HOP_BY_HOP = {"transfer-encoding", "connection", "content-length", "keep-alive"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]

    @property
    def operation(self) -> str:
        """The JSON-protocol operation (`SendMessage` for SQS), or "" for REST (S3)."""
        return self.headers.get("x-amz-target", "").rpartition(".")[2]

    @property
    def query(self) -> str:
        return urlsplit(self.path).query


@dataclass
class Fault:
    """Answer requests that `matches` with `status` and `body`, at most `times` times."""

    matches: Callable[[Request], bool]
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None


def sqs_throttling(operation: str, times: int | None) -> Fault:
    """SQS's JSON-protocol answer to a request over its rate."""
    return Fault(
        lambda request: request.operation == operation,
        400,
        b'{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded"}',
        {
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-query-error": "ThrottlingException;Sender",
        },
        times,
    )


def s3_slow_down(matches: Callable[[Request], bool], times: int | None) -> Fault:
    """S3's answer to a request over its rate (503 SlowDown)."""
    return Fault(
        matches,
        503,
        b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
        {"Content-Type": "application/xml"},
        times,
    )


class FaultProxy:
    """`with FaultProxy(moto_endpoint, [faults]) as proxy:` then point clients at `proxy.url`.

    `seen` lists (request, status answered, monotonic time) for every request.
    """

    def __init__(self, upstream: str, faults: list[Fault]) -> None:
        parsed = urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.faults = faults
        self.seen: list[tuple[Request, int, float]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answered(self, matches: Callable[[Request], bool]) -> list[int]:
        """The statuses answered to the requests that `matches`, in order."""
        with self._lock:
            return [status for request, status, _ in self.seen if matches(request)]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _fault_for(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if (fault.times is None or fault.times > 0) and fault.matches(request):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
            return None

    def _record(self, request: Request, status: int) -> None:
        with self._lock:
            self.seen.append((request, status, time.monotonic()))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Request(self.command, self.path, headers)
                fault = proxy._fault_for(request)
                if fault is not None:
                    proxy._record(request, fault.status)
                    self._reply(fault.status, fault.headers, fault.body)
                    return
                forwarded = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                forwarded["Content-Length"] = str(len(body))
                connection = HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    connection.request(self.command, self.path, body, forwarded)
                    response = connection.getresponse()
                    payload = response.read()
                    proxy._record(request, response.status)
                    kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
                    head_length = None
                    if self.command == "HEAD":  # no body, but the object's length
                        head_length = response.getheader("Content-Length") or "0"
                    self._reply(response.status, kept, payload, head_length)
                finally:
                    connection.close()

            def _reply(
                self,
                status: int,
                headers: dict[str, str],
                payload: bytes,
                head_length: str | None = None,
            ) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", head_length or str(len(payload)))
                self.end_headers()
                if head_length is None:
                    self.wfile.write(payload)

            def do_GET(self) -> None:
                self._handle()

            def do_PUT(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def do_DELETE(self) -> None:
                self._handle()

            def do_HEAD(self) -> None:
                self._handle()

        return Handler
