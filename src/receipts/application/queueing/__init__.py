"""Queue workers: the shared loop, visibility heartbeats, the worker log, message formats."""
