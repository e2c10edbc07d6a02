"""coremltools, imported through here, with its notices kept off the terminal.

At import coremltools logs that this torch is untested, that scikit-learn is too new and,
on Linux, that its native library is missing; converting, it prints progress bars and
warns about ops. All of that is expected here (conversion works without the native
library; prediction is macOS only), so `notices_logged` turns each notice (a coremltools
log record, a Python warning, a line it prints on stderr) into a debug record of the
`receipts.coreml` logger: shown with `RECEIPTS_LOG_LEVEL=debug`, silent otherwise.
Every module of this adapter imports coremltools through this one.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr

log = logging.getLogger("receipts.coreml")
_coremltools_log = logging.getLogger("coremltools")


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)  # below: per-op chatter, hundreds of lines
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def notices_logged(doing: str) -> Iterator[None]:
    """While `doing`: coremltools' log records, Python warnings and stderr output are kept,
    then logged at debug level (`coremltools notice while <doing>: <text>`)."""
    kept = _Kept()
    propagate, level = _coremltools_log.propagate, _coremltools_log.level
    _coremltools_log.addHandler(kept)
    _coremltools_log.propagate = False
    _coremltools_log.setLevel(logging.WARNING)
    printed = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, redirect_stderr(printed):
            warnings.simplefilter("always")
            yield
    finally:
        _coremltools_log.removeHandler(kept)
        _coremltools_log.propagate, _coremltools_log.level = propagate, level
        notices = [record.getMessage() for record in kept.records]
        notices += [f"{w.category.__name__}: {w.message}" for w in caught]
        # a progress bar redraws its line after each "\r": only its last state is kept
        lines = (line.rsplit("\r", 1)[-1].strip() for line in printed.getvalue().split("\n"))
        notices += [line for line in lines if line]
        for notice in notices:
            log.debug("coremltools notice while %s: %s", doing, notice)


with notices_logged("importing coremltools"):
    import coremltools as ct
    from coremltools.optimize.coreml import (
        OpLinearQuantizerConfig,
        OptimizationConfig,
        linear_quantize_weights,
    )

__all__ = [
    "OpLinearQuantizerConfig",
    "OptimizationConfig",
    "ct",
    "linear_quantize_weights",
    "notices_logged",
]
