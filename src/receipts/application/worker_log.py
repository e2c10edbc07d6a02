"""The log a worker writes: events with fields (structlog's shape), stdlib logging by default."""

from __future__ import annotations

import logging
from typing import Any, Protocol


class WorkerLog(Protocol):
    """`log.info("export succeeded", export_id=..., bundle_uri=...)`: a structlog logger fits."""

    def info(self, event: str, **fields: Any) -> Any: ...

    def warning(self, event: str, **fields: Any) -> Any: ...

    def error(self, event: str, **fields: Any) -> Any: ...


class StdlibWorkerLog:
    """Writes each event as one stdlib logging record: `event key=value ...`."""

    def __init__(self, name: str = "receipts.worker") -> None:
        self._logger = logging.getLogger(name)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields)

    def _log(self, level: int, event: str, fields: dict[str, Any]) -> None:
        if not self._logger.isEnabledFor(level):
            return  # spares formatting the fields (ids, URIs, enums) of a dropped record
        exc_info = bool(fields.pop("exc_info", False))
        text = " ".join(f"{key}={value}" for key, value in fields.items())
        self._logger.log(level, "%s %s", event, text, exc_info=exc_info)
