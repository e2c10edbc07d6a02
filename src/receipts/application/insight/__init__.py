"""Insight: run history, dataset statistics, a live monitor, run comparison and report data."""

from receipts.application.insight.queries import Insight

__all__ = ["Insight"]
