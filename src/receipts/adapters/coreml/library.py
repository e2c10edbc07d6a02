"""coremltools, imported without its import-time notices.

At import coremltools logs that torch 2.13 is untested and, on Linux, that its native
library is missing: both expected here (conversion works without them; prediction is
macOS only). Every module of this adapter imports coremltools through this one.
"""

from __future__ import annotations

import logging
import warnings

_logger = logging.getLogger("coremltools")
_level = _logger.level
_logger.setLevel(logging.ERROR)
try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import coremltools as ct
        from coremltools.optimize.coreml import (
            OpLinearQuantizerConfig,
            OptimizationConfig,
            linear_quantize_weights,
        )
finally:
    _logger.setLevel(_level)

__all__ = ["OpLinearQuantizerConfig", "OptimizationConfig", "ct", "linear_quantize_weights"]
