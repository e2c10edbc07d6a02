"""How an exported model's weights are stored."""

from __future__ import annotations

from enum import StrEnum


class Quantization(StrEnum):
    FLOAT16 = "float16"
    INT8 = "int8"
    INT4 = "int4"
