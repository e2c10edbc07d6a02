"""The log a worker writes: events with fields (structlog's shape), stdlib logging by default."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import logging

# logging's fixed level numbers: logging itself is imported when a StdlibWorkerLog is made,
# so importing the application layer does not load it (about 2 ms of every cold start)
_INFO, _WARNING, _ERROR = 20, 30, 40


class WorkerLog(Protocol):
    """`log.info("export succeeded", export_id=..., bundle_uri=...)`: a structlog logger fits."""

    def info(self, event: str, **fields: Any) -> Any: ...

    def warning(self, event: str, **fields: Any) -> Any: ...

    def error(self, event: str, **fields: Any) -> Any: ...


class StdlibWorkerLog:
    """Writes each event as one stdlib logging record: `event key=value ...`."""

    def __init__(self, name: str = "receipts.worker") -> None:
        import logging

        self._logger: logging.Logger = logging.getLogger(name)

    def info(self, event: str, **fields: Any) -> None:
        self._log(_INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(_WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(_ERROR, event, fields)

    def _log(self, level: int, event: str, fields: dict[str, Any]) -> None:
        if not self._logger.isEnabledFor(level):
            return  # spares formatting the fields (ids, URIs, enums) of a dropped record
        exc_info = bool(fields.pop("exc_info", False))
        text = " ".join(f"{key}={value}" for key, value in fields.items())
        self._logger.log(level, "%s %s", event, text, exc_info=exc_info)
