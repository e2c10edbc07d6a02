"""The OCR worker's models: each loaded once, remote ones downloaded into a local cache
first (the seeds' `--layoutlm-cache-path`); archives unpacked there too."""

from __future__ import annotations

import threading
from pathlib import Path

from receipts.application.model_files import ModelDirectories, is_remote
from receipts.application.ports.archives import ArchiveExtractor
from receipts.application.ports.artifact_store import ArtifactStore
from receipts.application.ports.predictor import ModelUnusable, Predictor, PredictorLoader


class ModelCache:
    """`get(uri)`: the predictor of the model at `uri`: a local path, a `file://` URI, a
    prefix in the artifact store (`s3://bucket/coreml/bundle/`) or an archive object
    (SageMaker's `model.tar.gz`), made local by `ModelDirectories`; `get(None)` the
    default model. A model that fails to load raises ModelUnusable and is tried again next
    time (so a fixed bundle is picked up without a restart)."""

    def __init__(
        self,
        artifacts: ArtifactStore,
        cache_dir: Path,
        loader: PredictorLoader,
        default: str | None = None,
        extractor: ArchiveExtractor | None = None,
    ) -> None:
        self.files = ModelDirectories(artifacts, cache_dir, extractor)
        self.loader = loader
        self.default = default
        self._loaded: dict[str, Predictor] = {}
        self._lock = threading.Lock()

    def get(self, uri: str | None = None) -> Predictor:
        uri = uri or self.default
        if not uri:
            raise ModelUnusable(
                "(none)", "no model given: pass --model DIR or train a job that succeeds first"
            )
        with self._lock:
            if uri not in self._loaded:
                self._loaded[uri] = self.loader(
                    self.local_directory(uri), source_uri=uri if is_remote(uri) else None
                )
            return self._loaded[uri]

    def local_directory(self, uri: str) -> Path:
        """The model at `uri` as a local directory (`ModelDirectories`)."""
        return self.files.local_directory(uri)
