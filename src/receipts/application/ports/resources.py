"""What every adapter raises when the infrastructure it was configured with is not there."""

from __future__ import annotations


class ResourceMissing(LookupError):
    """A table, queue, bucket or directory named by the configuration does not exist.

    Adapters raise subclasses whose message names the resource; entrypoints report it
    without a traceback (the request was fine, the environment is not)."""
