"""`receipts ocr`, `ocr-submit` and `ocr-worker`: receipt images → labelled words."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds this module's commands to `app`."""
