"""The inference cache (seed 002, options A and C): reports generated ahead and served.

- `generate`: a receipt with VALID labels (random, or the one asked for) → the model → the
  report stored at `layoutlm-inference-cache/latest.json` and a per-receipt copy at
  `layoutlm-inference-cache/receipts/<receipt>.json` (each object written whole: the
  artifact store's writes are atomic).
- `on_demand`: the same for one receipt, returned and not stored.
- `hybrid`: the receipt's cached copy when there is one (made by the expected model, when
  one is named); otherwise on demand, then its per-receipt copy is refreshed. `latest.json`
  stays the scheduled generator's choice.

The predictor is asked for only when a model has to run, so serving from the cache never
loads one.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from receipts.application.inference.report import build_inference_response
from receipts.application.inference.response import InferenceResponse
from receipts.application.ports.artifact_store import ArtifactNotFound, ArtifactStore
from receipts.application.ports.label_store import LabelStore
from receipts.application.ports.predictor import Predictor
from receipts.domain.errors import DomainError, NotFound
from receipts.domain.labels import OUTSIDE, ValidationStatus
from receipts.domain.receipt import Receipt

CACHE_PREFIX = "layoutlm-inference-cache/"
LATEST_KEY = f"{CACHE_PREFIX}latest.json"
_SAFE_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")


class ReceiptNotFound(NotFound):
    entity = "receipt"


class CacheNotFound(NotFound):
    entity = "cached inference report"


class NoGroundTruth(DomainError):
    """The receipt has no VALID label, so there is nothing to compare the model with."""

    def __init__(self, receipt_id: str) -> None:
        super().__init__(
            f"receipt {receipt_id!r} has no VALID labels: nothing to compare predictions with"
        )
        self.receipt_id = receipt_id


class NoLabelledReceipts(DomainError):
    def __init__(self, source: str) -> None:
        super().__init__(f"no receipt in {source} has a VALID label")
        self.source = source


class NoModel(DomainError):
    """A report has to be made and no model is configured to make it."""


def receipt_file_name(receipt_id: str) -> str:
    """The receipt id when it is a plain file name; else a safe one (with a hash of the id)."""
    if _SAFE_ID.fullmatch(receipt_id):
        return receipt_id
    digest = hashlib.sha256(receipt_id.encode()).hexdigest()[:16]
    return re.sub(r"[^A-Za-z0-9_-]+", "_", receipt_id)[:80] + f"-{digest}"


def receipt_key(receipt_id: str) -> str:
    return f"{CACHE_PREFIX}receipts/{receipt_file_name(receipt_id)}.json"


def has_valid_labels(receipt: Receipt) -> bool:
    return any(
        w.validation_status is ValidationStatus.VALID and w.label != OUTSIDE for w in receipt.words
    )


@dataclass
class InferenceCache:
    """Reports in an artifact store; `uri_for(key)` gives the URI of a key (the mode's)."""

    artifacts: ArtifactStore
    uri_for: Callable[[str], str]

    def latest(self) -> InferenceResponse:
        return self._read(LATEST_KEY, "latest")

    def of_receipt(self, receipt_id: str) -> InferenceResponse:
        return self._read(receipt_key(receipt_id), receipt_id)

    def store(self, response: InferenceResponse, *, as_latest: bool = True) -> list[str]:
        """Writes the per-receipt copy (and `latest.json`); returns the URIs written."""
        data = response.to_json()
        keys = [receipt_key(response.receipt_id)] + ([LATEST_KEY] if as_latest else [])
        uris = [self.uri_for(key) for key in keys]
        for uri in uris:
            self.artifacts.put_bytes(uri, data)
        return uris

    def _read(self, key: str, what: str) -> InferenceResponse:
        try:
            data = self.artifacts.get_bytes(self.uri_for(key))
        except ArtifactNotFound:
            raise CacheNotFound(what) from None
        return InferenceResponse.from_json(data)


PredictorProvider = Callable[[], Predictor]


@dataclass(frozen=True)
class ReportOutcome:
    response: InferenceResponse
    stored: tuple[str, ...] = ()
    """URIs the report was written to (none when it came from the cache or on demand)."""
    from_cache: bool = False


@dataclass
class InferenceReports:
    labels: LabelStore
    cache: InferenceCache
    predictor: PredictorProvider
    label_map: Mapping[str, str] | None = None

    def generate(self, receipt_id: str | None = None, seed: int | None = None) -> ReportOutcome:
        """The scheduled generator: one report made and stored as the latest."""
        receipt = self.receipt(receipt_id) if receipt_id else self.pick(seed)
        response = self._report(receipt)
        return ReportOutcome(response, tuple(self.cache.store(response)))

    def on_demand(self, receipt_id: str) -> ReportOutcome:
        return ReportOutcome(self._report(self.receipt(receipt_id)))

    def hybrid(self, receipt_id: str, *, model_uri: str | None = None) -> ReportOutcome:
        """The cached copy when it exists (and `model_uri`, if given, made it); else made
        now and its per-receipt copy refreshed."""
        try:
            cached = self.cache.of_receipt(receipt_id)
        except CacheNotFound:
            cached = None
        if cached is not None and model_uri in (None, cached.model_info.s3_uri):
            return ReportOutcome(cached, from_cache=True)
        response = self._report(self.receipt(receipt_id))
        return ReportOutcome(response, tuple(self.cache.store(response, as_latest=False)))

    def receipt(self, receipt_id: str) -> Receipt:
        try:
            receipt = self.labels.get(receipt_id)
        except KeyError:
            raise ReceiptNotFound(f"{receipt_id} (in {self.labels.source})") from None
        if not has_valid_labels(receipt):
            raise NoGroundTruth(receipt_id)
        return receipt

    def pick(self, seed: int | None = None) -> Receipt:
        """A receipt with VALID labels, at random (the same one for the same seed and data)."""
        candidates = sorted(r.receipt_id for r in self.labels.receipts() if has_valid_labels(r))
        if not candidates:
            raise NoLabelledReceipts(self.labels.source)
        return self.labels.get(random.Random(seed).choice(candidates))

    def _report(self, receipt: Receipt) -> InferenceResponse:
        predictor = self.predictor()
        [prediction] = predictor.predict([receipt])
        return build_inference_response(
            receipt, prediction, predictor.info, label_map=self.label_map
        )
