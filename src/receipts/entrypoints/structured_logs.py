"""structlog set-up: JSON lines in production (aws mode or when asked), pretty locally."""

from __future__ import annotations

import logging
import sys

import structlog

from receipts.domain.aggregate import iso, utc_now
from receipts.settings import Settings


def _timestamp(
    _: structlog.typing.WrappedLogger, __: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    event_dict["timestamp"] = iso(utc_now())
    return event_dict


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    use_json = settings.log_format == "json" or (
        settings.log_format == "auto" and (settings.mode == "aws" or not sys.stderr.isatty())
    )
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    _route_stdlib(renderer, level)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _timestamp,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


STDLIB_LOGGERS = ("receipts.coreml",)
"""Adapters' stdlib loggers whose records the command line renders like its own events."""


def _route_stdlib(renderer: structlog.typing.Processor, level: int) -> None:
    """Records of `STDLIB_LOGGERS` at `level` and above: rendered as structlog events on
    stderr (below `level`, such as coremltools' notices at debug, they are dropped)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[structlog.processors.add_log_level, _timestamp],
        )
    )
    for name in STDLIB_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False
