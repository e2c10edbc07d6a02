"""`receipts inference-report`: a model's predictions beside ground truth (seed 002)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds this module's commands to `app`."""
