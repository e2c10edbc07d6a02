"""Insight: history, dataset statistics, monitor, comparison and the run report."""
