"""`receipts exports recover | retry | show` and the export worker's start, as an operator
uses them on the local mode: an export whose message reached the dead-letter queue ends
failed with the reason and is queued again by a retry."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from tests.e2e.cli import no_traceback, run

from receipts.application.queueing.messages import ExportMessage
from receipts.bootstrap import bootstrap
from receipts.domain.export_job import ExportRequest, ExportStatus
from receipts.settings import Settings


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def dead_export(home: Path) -> UUID:
    """A running export whose message is in the dead-letter queue (its workers died)."""
    runtime = bootstrap(Settings(mode="local", home=home))
    try:
        checkpoint = runtime.artifacts_uri("runs/dead/best/")
        request = ExportRequest(
            checkpoint_uri=checkpoint,
            output_prefix=runtime.artifacts_uri("runs/dead/coreml/"),
            requested_by="queue",
        )
        export_id = runtime.exports.request_export(request)
        runtime.exports.start_export(export_id, "export-worker@gone:1")
        message = ExportMessage(
            export_id=export_id,
            job_id="dead",
            model_uri=checkpoint,
            output_prefix=request.output_prefix,
        )
        runtime.queues.dead_letters[runtime.settings.export_queue].send(message.body())
        return export_id
    finally:
        runtime.close()


def show(home: Path, export_id: UUID) -> dict[str, object]:
    shown = run(home, "exports", "show", str(export_id), "--json")
    assert shown.returncode == 0, shown.said
    detail: dict[str, object] = shown.json()
    return detail


def test_recover_fails_the_dead_export_and_retry_queues_it_again(home: Path) -> None:
    export_id = dead_export(home)

    recovered = run(home, "exports", "recover")

    assert recovered.returncode == 0, recovered.said
    assert "1 failed, 0 already ended, 0 left in coreml-export-job-queue-dlq" in recovered.said
    detail = show(home, export_id)
    assert detail["status"] == "failed"
    assert (
        detail["error"]
        == "moved to the dead-letter queue coreml-export-job-queue-dlq after 5 deliveries"
    )

    retried = run(home, "exports", "retry", str(export_id))

    assert retried.returncode == 0, retried.said
    assert f"queued {export_id} again" in retried.said
    assert show(home, export_id)["status"] == "queued"
    runtime = bootstrap(Settings(mode="local", home=home))
    try:
        [message] = runtime.queues.export_jobs.receive(max_messages=10)
        assert ExportMessage.parse(message.body).export_id == export_id
    finally:
        runtime.close()
    again = run(home, "exports", "retry", str(export_id))
    assert again.returncode == 1
    assert f"export job {export_id} cannot be retried: it is queued" in again.said
    no_traceback(again)


def test_the_export_worker_fails_dead_exports_when_it_starts(home: Path) -> None:
    export_id = dead_export(home)

    done = run(home, "export-worker", "--once", "--exporter", "simulated", "--wait-seconds", "0")

    assert done.returncode == 0, done.said
    assert "exports failed: their message is in the dead-letter queue" in done.said
    assert show(home, export_id)["status"] == ExportStatus.FAILED.value


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (("exports", "retry", "not-an-id"), 2, "Input should be a valid UUID"),
        (("exports", "show", str(uuid4())), 1, "export job not found"),
        (("exports", "retry", str(uuid4())), 1, "export job not found"),
    ],
)
def test_a_bad_export_id_is_named_without_a_traceback(
    home: Path, args: tuple[str, ...], code: int, said: str
) -> None:
    done = run(home, *args)

    assert done.returncode == code
    assert said in done.said
    no_traceback(done)


def test_show_prints_every_field(home: Path) -> None:
    export_id = dead_export(home)

    shown = run(home, "exports", "show", str(export_id))

    assert shown.returncode == 0
    assert f"export_id: {export_id}" in shown.said
    assert "status: running" in shown.said and "attempts: 1" in shown.said
    assert (
        json.loads(run(home, "exports", "show", str(export_id), "--json").stdout)["attempts"] == 1
    )
