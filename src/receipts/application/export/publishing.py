"""Publishing a succeeded export's bundle, wherever its end was recorded.

The attempt that wins `Succeeded` staged its bundle under
`<output_prefix>/.staging/<export id>/<attempt>/`; publishing moves that tree to the bundle
prefix at once (`ArtifactStore.publish_dir`) and deletes every attempt's staging. The
worker publishes right after recording the success; when it dies in between, the
redelivery of the message or, once that reached the dead-letter queue, the sweep
(`dead_letters.py`) publishes it.
"""

from __future__ import annotations

from receipts.application.ports.artifact_store import ArtifactStore
from receipts.domain.artifacts import ArtifactURI
from receipts.domain.export_job import ExportJob


def publish_bundle(artifacts: ArtifactStore, export: ExportJob) -> bool:
    """Publishes the bundle the succeeded attempt staged; False when it is already published
    (or the export writes to another store, whose worker reported it)."""
    request = export.request
    if ArtifactURI.parse(request.output_prefix).scheme != artifacts.scheme:
        return False
    staged = request.staging_prefix(export.id, export.attempts)
    published = artifacts.publish_dir(staged, request.bundle_prefix())
    artifacts.delete_dir(request.staging_root(export.id))
    return published
