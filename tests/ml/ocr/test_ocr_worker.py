"""The OCR worker end to end in memory and on the embedded default (SQLite + files): each
queued job is read, labelled, routed, recorded and reported; bad inputs fail their own job
with the reason while the worker goes on, and leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from tests.ml.ocr.conftest import MakeWorker, upload, write_receipt_image

from receipts.application.queueing.messages import OCRMessage, OCRResultMessage
from receipts.bootstrap import Runtime
from receipts.domain.labels import ValidationStatus
from receipts.domain.ocr_job import OCRStatus, RoutingDecision
from receipts.domain.routing import RoutingPolicy


def results(runtime: Runtime) -> list[OCRResultMessage]:
    messages = runtime.queues.ocr_results.receive(max_messages=10)
    for message in messages:
        runtime.queues.ocr_results.delete(message.receipt_handle)
    return [OCRResultMessage.parse(m.body) for m in messages]


def stored_results(runtime: Runtime) -> list[str]:
    prefix = runtime.artifacts_uri("")
    return [
        uri
        for uri in runtime.artifacts.list(prefix)
        if "/ocr_results/" in uri or uri.endswith("/labels.json")
    ]


def test_a_queued_image_becomes_labelled_words_fields_a_routing_and_a_message(
    ocr_runtime: Runtime, make_worker: MakeWorker, tmp_path: Path
) -> None:
    job_id = upload(ocr_runtime, write_receipt_image(tmp_path, 0), submitted_by="test")
    worker = make_worker(ocr_runtime)

    assert worker.serve(continuous=True) == ["completed"]

    job = ocr_runtime.ocr_jobs.get_ocr_job(job_id)
    assert job.status is OCRStatus.COMPLETED and job.outcome is not None
    outcome = job.outcome
    assert outcome.word_count > 20
    assert outcome.ocr_engine == "stub"
    assert outcome.labelled_words > 0
    assert outcome.fields.get("company")  # the tiny model finds the merchant
    assert outcome.routing in set(RoutingDecision) and outcome.routing_reason
    labels_doc = json.loads(ocr_runtime.artifacts.get_bytes(outcome.result_uris["labels"]))
    ocr_doc = json.loads(ocr_runtime.artifacts.get_bytes(outcome.result_uris["ocr"]))
    assert len(labels_doc["words"]) == len(ocr_doc["words"]) == outcome.word_count
    assert labels_doc["routing"]["decision"] == outcome.routing.value
    assert labels_doc["fields"] == outcome.fields
    record = ocr_runtime.labels.get(f"ocr-{job_id}")
    assert [w.text for w in record.words] == [w["text"] for w in ocr_doc["words"]]
    assert [w.label for w in record.words] == [w["label"] for w in labels_doc["words"]]
    expected = (
        ValidationStatus.VALID
        if outcome.routing is RoutingDecision.AUTO_ACCEPT
        else ValidationStatus.NEEDS_REVIEW
    )
    assert {w.validation_status for w in record.words if w.label != "O"} == {expected}
    [message] = results(ocr_runtime)
    assert message.job_id == job_id and message.status == "completed"
    assert message.word_count == outcome.word_count and message.routing == outcome.routing.value
    assert message.result_uris == outcome.result_uris
    assert ocr_runtime.queues.ocr_jobs.approximate_count() == 0


def test_routing_follows_the_policy(
    ocr_runtime: Runtime, make_worker: MakeWorker, tmp_path: Path
) -> None:
    accept = upload(ocr_runtime, write_receipt_image(tmp_path, 1))
    make_worker(ocr_runtime, policy=RoutingPolicy(required_fields=(), min_confidence=0.0)).serve(
        continuous=True
    )
    review = upload(ocr_runtime, write_receipt_image(tmp_path, 1))
    make_worker(ocr_runtime, policy=RoutingPolicy(min_confidence=1.0)).serve(continuous=True)

    accepted = ocr_runtime.ocr_jobs.get_ocr_job(accept).outcome
    reviewed = ocr_runtime.ocr_jobs.get_ocr_job(review).outcome
    assert accepted is not None and accepted.routing is RoutingDecision.AUTO_ACCEPT
    assert reviewed is not None and reviewed.routing is RoutingDecision.NEEDS_REVIEW
    assert "< 1.00" in reviewed.routing_reason or "missing" in reviewed.routing_reason
    record = ocr_runtime.labels.get(f"ocr-{accept}")
    assert {w.validation_status for w in record.words} == {ValidationStatus.VALID}


def test_bad_inputs_fail_their_job_with_the_reason_and_the_worker_goes_on(
    ocr_runtime: Runtime, make_worker: MakeWorker, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    text = tmp_path / "notes.png"
    text.write_text("a text file with an image name")
    blank = tmp_path / "blank.png"
    Image.new("L", (400, 600), 255).save(blank)
    (tmp_path / "blank.png.ocr.json").write_text(
        json.dumps({"width": 400, "height": 600, "words": []})
    )
    huge = tmp_path / "huge.png"
    Image.new("1", (9000, 7000), 1).save(huge)  # 63 MP: over the decompression-bomb limit
    no_sidecar = write_receipt_image(tmp_path, 2, with_sidecar=False)
    good = write_receipt_image(tmp_path, 3)
    jobs = {
        "corrupt": upload(ocr_runtime, corrupt),
        "text": upload(ocr_runtime, text),
        "blank": upload(ocr_runtime, blank),
        "huge": upload(ocr_runtime, huge),
        "no sidecar": upload(ocr_runtime, no_sidecar),
        "good": upload(ocr_runtime, good),
    }
    handled = make_worker(ocr_runtime).serve(continuous=True)

    assert sorted(handled) == ["completed"] + ["failed"] * 5
    errors = {name: ocr_runtime.ocr_jobs.get_ocr_job(i).error for name, i in jobs.items()}
    assert errors["good"] is None
    assert "not an image" in (errors["corrupt"] or "") or "corrupt" in (errors["corrupt"] or "")
    assert "not an image" in (errors["text"] or "") or "corrupt" in (errors["text"] or "")
    assert "no words" in (errors["blank"] or "")
    assert "megapixels" in (errors["huge"] or "")
    assert "sidecar" in (errors["no sidecar"] or "")
    failed = [i for name, i in jobs.items() if name != "good"]
    for job_id in failed:
        assert ocr_runtime.ocr_jobs.get_ocr_job(job_id).status is OCRStatus.FAILED
        with pytest.raises(KeyError):
            ocr_runtime.labels.get(f"ocr-{job_id}")
    # only the good job left results behind: its attempt's files and their published copies
    good = ocr_runtime.ocr_jobs.get_ocr_job(jobs["good"]).outcome or pytest.fail()
    stored = set(stored_results(ocr_runtime))
    assert set(good.result_uris.values()) <= stored
    assert all(str(jobs["good"]) in uri for uri in stored) and len(stored) == 5
    messages = {m.job_id: m for m in results(ocr_runtime)}
    assert set(messages) == set(jobs.values())
    assert all(messages[i].status == "failed" and messages[i].error for i in failed)


def test_a_missing_model_file_fails_each_job_and_a_fixed_model_is_picked_up(
    ocr_runtime: Runtime, make_worker: MakeWorker, tiny_model: Path, tmp_path: Path
) -> None:
    import shutil

    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_model, broken)
    (broken / "model.safetensors").unlink()
    worker = make_worker(ocr_runtime, model=str(broken))
    first = upload(ocr_runtime, write_receipt_image(tmp_path, 4))

    assert worker.serve(continuous=True) == ["failed"]
    error = ocr_runtime.ocr_jobs.get_ocr_job(first).error or ""
    assert "model.safetensors" in error and str(broken) in error

    shutil.copy(tiny_model / "model.safetensors", broken / "model.safetensors")
    second = upload(ocr_runtime, write_receipt_image(tmp_path, 4))
    assert worker.serve(continuous=True) == ["completed"]
    assert ocr_runtime.ocr_jobs.get_ocr_job(second).status is OCRStatus.COMPLETED


def test_redelivery_of_a_finished_job_only_resends_its_message(
    ocr_runtime: Runtime, make_worker: MakeWorker, tmp_path: Path
) -> None:
    job_id = upload(ocr_runtime, write_receipt_image(tmp_path, 5))
    worker = make_worker(ocr_runtime)
    worker.serve(continuous=True)
    events_before = len(list(ocr_runtime.ocr_jobs.repository.event_store.get(job_id)))
    results(ocr_runtime)
    image_uri = ocr_runtime.ocr_jobs.get_ocr_job(job_id).request.image_uri
    ocr_runtime.queues.ocr_jobs.send(OCRMessage(job_id=job_id, image_uri=image_uri).body())

    assert worker.serve(continuous=True) == ["resent"]
    assert len(list(ocr_runtime.ocr_jobs.repository.event_store.get(job_id))) == events_before
    [message] = results(ocr_runtime)
    assert message.job_id == job_id and message.status == "completed"


def test_poison_messages_are_left_for_the_dead_letter_queue_and_a_hand_queued_job_is_recorded(
    ocr_runtime: Runtime, make_worker: MakeWorker, tmp_path: Path
) -> None:
    from uuid import uuid4

    image = write_receipt_image(tmp_path, 6)
    uri = ocr_runtime.artifacts_uri("raw-receipts/by-hand.png")
    ocr_runtime.artifacts.upload_file(image, uri)
    ocr_runtime.artifacts.upload_file(image.with_name(image.name + ".ocr.json"), uri + ".ocr.json")
    by_hand = uuid4()
    ocr_runtime.queues.ocr_jobs.send("{not json")
    ocr_runtime.queues.ocr_jobs.send(
        json.dumps({"job_id": str(by_hand), "image_uri": uri, "ocr_engine": "stub"})
    )
    handled = make_worker(ocr_runtime).serve(continuous=True, max_messages=2)

    assert sorted(handled) == ["completed", "poison"]
    job = ocr_runtime.ocr_jobs.get_ocr_job(by_hand)
    assert job.status is OCRStatus.COMPLETED and job.request.submitted_by == "queue"
