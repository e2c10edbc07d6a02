"""Adapters backed by SQLite files: the embedded default queue."""

from receipts.adapters.sqlite.queue import ReceiptHandleInvalid, SQLiteQueue

__all__ = ["ReceiptHandleInvalid", "SQLiteQueue"]
