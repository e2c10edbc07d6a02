"""`receipts history|dataset-stats|monitor|compare|report`: what decides the next training run."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds this module's commands to `app`."""
