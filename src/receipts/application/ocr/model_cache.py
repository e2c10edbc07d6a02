"""The OCR worker's models: each loaded once, remote ones downloaded into a local cache
first (the seeds' `--layoutlm-cache-path`)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
from pathlib import Path

from receipts.application.ports.artifact_store import ArtifactStore
from receipts.application.ports.predictor import ModelUnusable, Predictor, PredictorLoader
from receipts.domain.artifacts import ArtifactURI, InvalidArtifactURI


class ModelCache:
    """`get(uri)`: the predictor of a model directory given as a local path, a `file://`
    URI or a prefix in the artifact store (`s3://bucket/coreml/bundle/`); `get(None)` the
    default model. A model that fails to load raises ModelUnusable and is tried again next
    time (so a fixed bundle is picked up without a restart)."""

    def __init__(
        self,
        artifacts: ArtifactStore,
        cache_dir: Path,
        loader: PredictorLoader,
        default: str | None = None,
    ) -> None:
        self.artifacts = artifacts
        self.cache_dir = cache_dir
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
                remote = "://" in uri and not uri.startswith("file://")
                self._loaded[uri] = self.loader(
                    self.local_directory(uri), source_uri=uri if remote else None
                )
            return self._loaded[uri]

    def local_directory(self, uri: str) -> Path:
        if "://" not in uri:
            return Path(uri).expanduser()
        try:
            parsed = ArtifactURI.parse(uri)
        except InvalidArtifactURI as error:
            raise ModelUnusable(uri, str(error)) from None
        if parsed.scheme == "file":
            return Path("/" + parsed.key)
        target = self.cache_dir / hashlib.sha256(uri.encode()).hexdigest()[:16]
        if target.is_dir():
            return target
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=self.cache_dir))
        try:
            written = self.artifacts.download_dir(str(parsed.as_prefix()), staging)
            if not written:
                raise ModelUnusable(uri, f"no files under {parsed.as_prefix()}")
            try:
                staging.replace(target)
            except OSError:
                if not target.is_dir():
                    raise
                # another worker sharing the cache published the same model first: use its
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target
