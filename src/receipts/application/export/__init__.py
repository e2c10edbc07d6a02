"""Exports: the Exports application and auto-export policy, its views and the export worker."""
