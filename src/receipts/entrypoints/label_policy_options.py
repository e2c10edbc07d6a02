"""The label-policy flags `train` and `dataset-stats` share (the seeds' names)."""

from __future__ import annotations

from typing import Annotated

import typer

MergeAmounts = Annotated[
    bool, typer.Option(help="LINE_TOTAL, SUBTOTAL, TAX, GRAND_TOTAL → AMOUNT.")
]
MergeDateTime = Annotated[bool, typer.Option(help="TIME → DATE.")]
MergeAddressPhone = Annotated[bool, typer.Option(help="ADDRESS_LINE, PHONE_NUMBER → ADDRESS.")]
Presets = Annotated[
    list[str] | None, typer.Option(help="Merge preset (amounts, date_time, sroie, ...).")
]
AllowedLabels = Annotated[
    list[str] | None, typer.Option(help="Keep only these labels, the rest become O (repeat).")
]
