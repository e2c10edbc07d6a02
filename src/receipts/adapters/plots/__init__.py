"""Plots (matplotlib, Agg): figures of a training run for reports."""
