"""Model archives (tar, tar.gz): safe extraction."""

from receipts.adapters.archives.safe_tar import ArchiveLimits, SafeTarExtractor

__all__ = ["ArchiveLimits", "SafeTarExtractor"]
