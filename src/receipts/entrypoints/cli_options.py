"""The flags several commands share (the seeds' names), and the job config they spell."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import typer

from receipts.domain.config import SECTION_OF

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
LogLevel = Annotated[
    Literal["trace", "debug", "info", "warn", "error"] | None,
    typer.Option(help="Log level (the seeds' Mac worker's; trace is debug here)."),
]
DynamoTable = Annotated[str | None, typer.Option(help="DynamoDB table with the labels (aws mode).")]
MaxMessages = Annotated[int | None, typer.Option(min=1, help="Stop after this many deliveries.")]
ValidationSplit = Annotated[float, typer.Option(help="Share of receipts held out.")]
MergeAmounts = Annotated[
    bool, typer.Option(help="LINE_TOTAL, SUBTOTAL, TAX, GRAND_TOTAL → AMOUNT.")
]
MergeDateTime = Annotated[bool, typer.Option(help="TIME → DATE.")]
MergeAddressPhone = Annotated[bool, typer.Option(help="ADDRESS_LINE, PHONE_NUMBER → ADDRESS.")]
Presets = Annotated[
    list[str] | None,
    typer.Option("--preset", help="Merge preset (amounts, date_time, sroie, ...)."),
]
AllowedLabels = Annotated[
    list[str] | None,
    typer.Option("--allowed-label", help="Keep only these labels, the rest become O (repeat)."),
]


def job_config_input(params: Mapping[str, object]) -> dict[str, dict[str, object]]:
    """JobConfig input from a command's parameters named after config fields (None: not
    given, the default holds); the data set's path is made absolute."""
    sections: dict[str, dict[str, object]] = {}
    for name, value in params.items():
        if name not in SECTION_OF or value is None:
            continue
        if isinstance(value, Path):
            value = str(value.resolve() if name == "dataset" else value)
        sections.setdefault(SECTION_OF[name], {})[name] = value
    return sections
