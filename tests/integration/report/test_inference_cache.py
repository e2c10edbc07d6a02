"""The cache generator, on-demand and hybrid use cases on in-memory adapters."""

from __future__ import annotations

import json

import pytest
from tests.integration.report.fakes import EchoPredictor

from receipts.adapters.memory.artifact_store import InMemoryArtifactStore
from receipts.adapters.memory.label_store import InMemoryLabelStore
from receipts.adapters.synthetic.generator import generate_receipts
from receipts.application.inference.cache import (
    LATEST_KEY,
    CacheNotFound,
    InferenceCache,
    InferenceReports,
    NoGroundTruth,
    NoLabelledReceipts,
    ReceiptNotFound,
    receipt_key,
)
from receipts.domain.labels import OUTSIDE, ValidationStatus
from receipts.domain.receipt import Receipt

RECEIPTS = generate_receipts(5, seed=21)


def uri(key: str) -> str:
    return f"memory://cache-bucket/{key}"


def unlabelled(receipt: Receipt) -> Receipt:
    """Its labels all under review: no VALID label left (its O words stay)."""
    words = tuple(
        w.model_copy(update={"validation_status": ValidationStatus.NEEDS_REVIEW})
        if w.label != OUTSIDE
        else w
        for w in receipt.words
    )
    return receipt.model_copy(update={"receipt_id": "no-truth", "words": words})


@pytest.fixture
def artifacts() -> InMemoryArtifactStore:
    return InMemoryArtifactStore()


@pytest.fixture
def predictor() -> EchoPredictor:
    return EchoPredictor()


def reports(
    artifacts: InMemoryArtifactStore, predictor: EchoPredictor, receipts: list[Receipt]
) -> InferenceReports:
    return InferenceReports(
        labels=InMemoryLabelStore(receipts),
        cache=InferenceCache(artifacts, uri),
        predictor=lambda: predictor,
    )


def test_generate_stores_the_latest_and_a_per_receipt_copy(
    artifacts: InMemoryArtifactStore, predictor: EchoPredictor
) -> None:
    use_case = reports(artifacts, predictor, RECEIPTS)

    outcome = use_case.generate(seed=3)

    receipt_id = outcome.response.receipt_id
    assert set(outcome.stored) == {uri(LATEST_KEY), uri(receipt_key(receipt_id))}
    stored = json.loads(artifacts.get_bytes(uri(LATEST_KEY)))
    assert stored["original"]["receipt"]["receipt_id"] == receipt_id
    assert use_case.cache.latest() == outcome.response
    assert use_case.cache.of_receipt(receipt_id) == outcome.response
    assert predictor.calls == [receipt_id]
    assert 0 < outcome.response.metrics.overall_accuracy < 1


def test_the_random_pick_depends_on_the_seed_and_skips_receipts_without_valid_labels(
    artifacts: InMemoryArtifactStore, predictor: EchoPredictor
) -> None:
    use_case = reports(artifacts, predictor, [*RECEIPTS, unlabelled(RECEIPTS[0])])

    picks = {use_case.pick(seed).receipt_id for seed in range(40)}

    assert picks == {r.receipt_id for r in RECEIPTS}
    assert use_case.pick(7) == use_case.pick(7)


def test_a_given_receipt_is_reported_and_bad_requests_are_named(
    artifacts: InMemoryArtifactStore, predictor: EchoPredictor
) -> None:
    use_case = reports(artifacts, predictor, [*RECEIPTS, unlabelled(RECEIPTS[0])])

    assert use_case.generate(RECEIPTS[2].receipt_id).response.receipt_id == RECEIPTS[2].receipt_id
    with pytest.raises(ReceiptNotFound, match="receipt not found: nope"):
        use_case.generate("nope")
    with pytest.raises(NoGroundTruth, match="'no-truth' has no VALID labels"):
        use_case.on_demand("no-truth")
    with pytest.raises(NoLabelledReceipts, match="memory"):
        reports(artifacts, predictor, [unlabelled(RECEIPTS[0])]).generate()
    with pytest.raises(NoLabelledReceipts):
        reports(artifacts, predictor, []).generate()


def test_an_empty_cache_is_named(artifacts: InMemoryArtifactStore) -> None:
    cache = InferenceCache(artifacts, uri)

    with pytest.raises(CacheNotFound, match="latest"):
        cache.latest()
    with pytest.raises(CacheNotFound, match="r-9"):
        cache.of_receipt("r-9")


def test_on_demand_stores_nothing(
    artifacts: InMemoryArtifactStore, predictor: EchoPredictor
) -> None:
    outcome = reports(artifacts, predictor, RECEIPTS).on_demand(RECEIPTS[1].receipt_id)

    assert outcome.stored == () and not outcome.from_cache
    assert artifacts.list("memory://cache-bucket/") == []


def test_hybrid_serves_the_cache_then_runs_the_model_once_and_refreshes_the_copy(
    artifacts: InMemoryArtifactStore, predictor: EchoPredictor
) -> None:
    use_case = reports(artifacts, predictor, RECEIPTS)
    target = RECEIPTS[4].receipt_id

    first = use_case.hybrid(target)
    second = use_case.hybrid(target)

    assert not first.from_cache and first.stored == (uri(receipt_key(target)),)
    assert second.from_cache and second.response == first.response
    assert predictor.calls == [target]
    assert not artifacts.exists(uri(LATEST_KEY))


def test_hybrid_remakes_a_copy_another_model_made(
    artifacts: InMemoryArtifactStore, predictor: EchoPredictor
) -> None:
    use_case = reports(artifacts, predictor, RECEIPTS)
    target = RECEIPTS[0].receipt_id
    use_case.hybrid(target)

    assert use_case.hybrid(target, model_uri=predictor.source_uri).from_cache
    again = use_case.hybrid(target, model_uri="memory://models/newer/")
    assert not again.from_cache
    assert predictor.calls == [target, target]


def test_hybrid_needs_no_model_for_a_cached_receipt(
    artifacts: InMemoryArtifactStore, predictor: EchoPredictor
) -> None:
    reports(artifacts, predictor, RECEIPTS).generate(RECEIPTS[3].receipt_id)

    def no_model() -> EchoPredictor:
        raise AssertionError("the model was loaded")

    serving = InferenceReports(
        labels=InMemoryLabelStore(RECEIPTS),
        cache=InferenceCache(artifacts, uri),
        predictor=no_model,
    )
    assert serving.hybrid(RECEIPTS[3].receipt_id).from_cache


@pytest.mark.parametrize(
    ("receipt_id", "plain"),
    [("synthetic-1-00002", True), ("a/b#c", False), ("..", False), ("x" * 300, False)],
)
def test_receipt_keys_are_single_safe_names(receipt_id: str, plain: bool) -> None:
    key = receipt_key(receipt_id)
    name = key.removeprefix("layoutlm-inference-cache/receipts/").removesuffix(".json")

    assert "/" not in name and not name.startswith(".") and len(name) <= 200
    assert (name == receipt_id) is plain
    assert receipt_key(receipt_id + "!") != key
