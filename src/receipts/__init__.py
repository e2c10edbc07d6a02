"""receipts: train, track, export and serve LayoutLM receipt models."""

__version__ = "0.1.0"
