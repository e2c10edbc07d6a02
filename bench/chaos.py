"""The crash campaign: real worker and trainer processes killed with SIGKILL at chosen points.

    .venv/bin/python bench/chaos.py [--aws] [--images 12] [--keep HOME]

Everything runs in local mode (SQLite, files) in a fresh RECEIPTS_HOME, with short
visibility timeouts (RECEIPTS_VISIBILITY_TIMEOUT) and a low redrive limit. With `--aws`
the same experiments run in aws mode (DynamoDB, SQS, S3) against a moto server the bench
starts on 127.0.0.1 (a free port), as the tests' `moto_endpoint` does: every process gets
its AWS_ENDPOINT_URL and test credentials, and RECEIPTS_CREATE_RESOURCES=true with tables,
queues and a bucket named for this run; trainers still write their run directories under
RECEIPTS_HOME (`artifacts/runs/`) and publish to the bucket. Experiments, in order (each
uses what the one before left):

First a tiny model is trained to success (its export is queued; its model reads receipts).

- `trainer-killed-mid-checkpoint` (issue 16, failure 2): `receipts train` (tiny model) is
  killed while it writes its second checkpoint (the first is whole); once its lease (4 s
  here) has run out, `jobs recover`, then `train --resume`.
- `export-killed-mid-conversion` (failure 3): `export-worker --exporter onnx` is killed
  mid-conversion until its message reaches the DLQ; `exports recover` fails the export,
  `exports retry` queues it again, then a worker drains the queue.
- `ocr-two-workers` (failure 1): two `ocr-worker --continuous --stub-ocr` on one queue
  whose visibility (5 s) is shorter than their batch of 10 takes.
- `ocr-killed-between-messages`: an OCR worker killed right after it completed a job; a
  new one drains.

Each experiment prints, per piece of work (job, export, OCR job): processed once, twice
(completed by two attempts, from the workers' logs), lost (ended failed, or published
files missing or partial: `application/invariants.py`), stuck (not terminal, not
resumable). The goal is once = all, twice = lost = stuck = 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

from receipts.adapters.synthetic.generator import generate_receipt, render
from receipts.application.invariants import Invariant, check_invariants
from receipts.application.ports.read_model import JobSummary
from receipts.bootstrap import bootstrap
from receipts.settings import Settings

CLI = [sys.executable, "-c", "from receipts.entrypoints.cli import main; main()"]
VISIBILITY = 5
MAX_RECEIVES = 2
LEASE = 4  # seconds a killed trainer's job stays `running` before `jobs recover` may end it


@dataclass
class Tally:
    name: str
    once: int = 0
    twice: int = 0
    lost: int = 0
    stuck: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Campaign:
    home: Path
    logs: Path
    env: dict[str, str]
    settings: Settings
    """What the bench itself reads the outcome with: the children's mode, names and endpoint."""
    started: Counter[str] = field(default_factory=Counter)
    children: list[subprocess.Popen[str]] = field(default_factory=list)

    def receipts(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args], env=self.env, capture_output=True, text=True, check=check, timeout=900
        )

    def spawn(self, name: str, *args: str) -> subprocess.Popen[str]:
        self.started[name] += 1
        log = (self.logs / f"{name}-{self.started[name]}.log").open("w")
        child = subprocess.Popen([*CLI, *args], env=self.env, stdout=log, stderr=log, text=True)
        self.children.append(child)
        return child

    def kill_children(self) -> None:
        for child in self.children:
            if child.poll() is None:
                kill(child)

    def completions(self, event: str, key: str) -> Counter[str]:
        """How often each id was logged with `event`, across every worker's log."""
        counts: Counter[str] = Counter()
        for path in self.logs.glob("*.log"):
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("event") == event and key in entry:
                    counts[str(entry[key])] += 1
        return counts


def wait_for(condition: Callable[[], bool], timeout: float, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


def logged(campaign: Campaign, name: str, event: str) -> bool:
    path = campaign.logs / f"{name}-{campaign.started[name]}.log"
    return path.is_file() and f'"event": "{event}"' in path.read_text()


def classify(
    campaign: Campaign,
    tally: Tally,
    kind: str,
    done: Counter[str],
    skip: frozenset[str] = frozenset(),
) -> Tally:
    """Each job / export / OCR job of `kind` (but those in `skip`) counted once, twice, lost
    or stuck."""
    runtime = bootstrap(campaign.settings)
    try:
        catalog = runtime.catalog()
        violations = check_invariants(catalog, runtime.artifacts)
        if kind == "job":
            items = {str(j.job_id): j.status.value for j in catalog.all()}
        elif kind == "export":
            items = {
                str(e.export_id): e.status.value
                for j in catalog.all()
                for e in catalog.exports_of(j.job_id)
            }
        else:
            items = {
                str(r.ocr_job_id): r.status.value
                for status in ("pending", "processing", "completed", "failed")
                for r in catalog.ocr_jobs_by_status(status)
            }
    finally:
        runtime.close()
    broken = {
        v.subject.rsplit(" ", 1)[-1] for v in violations if v.invariant is not Invariant.SETTLED
    }
    for item, status in items.items():
        if item in skip:
            continue
        if status in ("pending", "queued", "running", "processing"):
            tally.stuck += 1
        elif status in ("failed", "cancelled") or item in broken:
            tally.lost += 1
        elif done[item] > 1:
            tally.twice += 1
        else:
            tally.once += 1
    return tally


def trainer_killed(campaign: Campaign, dataset: Path) -> Tally:
    tally = Tally("trainer-killed-mid-checkpoint")
    args = (
        "train",
        "--dataset",
        str(dataset),
        "--model-size",
        "tiny",
        "--epochs",
        "3",
        "--job-name",
        "chaos-train",
        "--max-seq-length",
        "128",
        "--stride",
        "32",
        "--tag",
        "skip-coreml-export=true",
    )
    trainer = campaign.spawn("train", *args)
    runs = campaign.home / "artifacts" / "runs"

    def writing_the_second() -> bool:  # a whole checkpoint, and the next one being written
        found = list(runs.glob("chaos-train/checkpoint-*"))
        whole = [p for p in found if not p.name.endswith(".partial")]
        return bool(whole) and len(found) > len(whole)

    seen = wait_for(lambda: trainer.poll() is not None or writing_the_second(), 600, 0.01)
    if seen and trainer.poll() is None:
        kill(trainer)
    else:
        trainer.wait()
        tally.notes.append(f"trainer exited {trainer.returncode} before a checkpoint")
    time.sleep(LEASE + 1)  # the dead trainer's lease runs out
    recovered = campaign.receipts("jobs", "recover")
    if "interrupted" not in recovered.stdout:
        tally.notes.append(f"recover: {(recovered.stderr or recovered.stdout).strip()[-80:]}")
    resumed = campaign.receipts("train", *args[1:], "--resume", "chaos-train")
    if resumed.returncode:
        tally.notes.append(f"resume: {(resumed.stderr or resumed.stdout).strip()[-80:]}")
    others = frozenset(str(j.job_id) for j in jobs(campaign) if j.name != "chaos-train")
    return classify(campaign, tally, "job", Counter(), skip=others)


def jobs(campaign: Campaign) -> list[JobSummary]:
    runtime = bootstrap(campaign.settings)
    try:
        return runtime.catalog().all()
    finally:
        runtime.close()


def export_killed(campaign: Campaign) -> Tally:
    tally = Tally("export-killed-mid-conversion")
    worker = (
        "export-worker",
        "--exporter",
        "onnx",
        "--visibility-timeout",
        str(VISIBILITY),
        "--heartbeat-every",
        "1",
    )
    for _ in range(MAX_RECEIVES + 1):
        process = campaign.spawn("export", *worker, "--once", "--wait-seconds", "10")
        if wait_for(lambda: logged(campaign, "export", "export started"), timeout=60):
            time.sleep(0.5)  # into the conversion
            kill(process)
        else:
            process.wait()
        time.sleep(VISIBILITY + 1)
    campaign.receipts("exports", "recover")  # its message is in the DLQ: the export fails
    for export_id in failed_exports(campaign):  # an operator queues it again
        campaign.receipts("exports", "retry", export_id, check=True)
    campaign.spawn("export", *worker, "--continuous", "--until-empty", "--wait-seconds", "1").wait()
    return classify(
        campaign, tally, "export", campaign.completions("export succeeded", "export_id")
    )


def failed_exports(campaign: Campaign) -> list[str]:
    runtime = bootstrap(campaign.settings)
    try:
        catalog = runtime.catalog()
        return [
            str(export.export_id)
            for job in catalog.all()
            for export in catalog.exports_of(job.job_id)
            if export.status.value == "failed"
        ]
    finally:
        runtime.close()


def submit_images(campaign: Campaign, images: Path, count: int, seed: int) -> None:
    images.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        receipt, _ = generate_receipt(seed, index)
        path = images / f"receipt-{seed}-{index}.png"
        render(seed, index).save(path)
        words = [
            {"text": w.text, "box": w.box.as_list(), "line_id": w.line_id} for w in receipt.words
        ]
        sidecar = {"width": receipt.width, "height": receipt.height, "words": words}
        path.with_name(path.name + ".ocr.json").write_text(json.dumps(sidecar))
        paths.append(str(path))
    campaign.receipts("ocr-submit", *paths, "--engine", "stub", check=True)


def ocr_two_workers(campaign: Campaign, images: Path, count: int) -> Tally:
    tally = Tally("ocr-two-workers")
    submit_images(campaign, images / "two", count, seed=101)
    worker = ("ocr-worker", "--continuous", "--stub-ocr", "--wait-seconds", "1")
    both = [campaign.spawn("ocr", *worker), campaign.spawn("ocr", *worker)]
    for process in both:
        process.wait()
    codes = [p.returncode for p in both]
    if any(codes):
        tally.notes.append(f"worker exit codes {codes}")
    done = campaign.completions("OCR job completed", "ocr_job_id")
    return classify(campaign, tally, "ocr", done)


def ocr_killed_between(campaign: Campaign, images: Path, count: int) -> Tally:
    tally = Tally("ocr-killed-between-messages")
    earlier = frozenset(campaign.completions("OCR job completed", "ocr_job_id")) | frozenset(
        campaign.completions("OCR job started", "ocr_job_id")
    )
    submit_images(campaign, images / "between", count, seed=202)
    worker = ("ocr-worker", "--continuous", "--stub-ocr", "--batch", "1", "--wait-seconds", "1")
    process = campaign.spawn("ocr", *worker)
    if wait_for(lambda: logged(campaign, "ocr", "OCR job completed"), timeout=300, every=0.02):
        kill(process)
    time.sleep(VISIBILITY + 1)
    campaign.spawn("ocr", *worker).wait()
    done = campaign.completions("OCR job completed", "ocr_job_id")
    return classify(campaign, tally, "ocr", done, skip=earlier)


AWS_TEST_ENV = {  # as tests/conftest.py's: never real AWS
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@contextmanager
def moto_server() -> Iterator[None]:
    """A moto server on 127.0.0.1 (a free port), with this process's environment (which the
    children inherit) pointed at it, as the tests' `moto_endpoint` and `aws_env` do."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for key in list(os.environ):
        if key.startswith("AWS_ENDPOINT_URL_") or key in {"AWS_PROFILE", "AWS_CONFIG_FILE"}:
            del os.environ[key]
    os.environ.update(AWS_TEST_ENV, AWS_ENDPOINT_URL=f"http://{host}:{port}")
    try:
        yield
    finally:
        server.stop()


def campaign_settings(home: Path, aws: bool) -> dict[str, str]:
    """The campaign's settings by field name (each process gets RECEIPTS_<NAME>): in aws
    mode on tables, queues and a bucket named for this run, created on first use."""
    fields = {
        "home": str(home),
        "mode": "local",
        "visibility_timeout": str(VISIBILITY),
        "max_receive_count": str(MAX_RECEIVES),
        "job_lease_seconds": str(LEASE),
    }
    if aws:
        run = f"chaos-{uuid4().hex[:10]}"
        fields |= {
            "mode": "aws",
            "create_resources": "true",
            "events_table": f"{run}-events",
            "table": f"{run}-table",
            "bucket": f"{run}-bucket",
            "export_queue": f"{run}-export",
            "export_results_queue": f"{run}-export-results",
            "ocr_queue": f"{run}-ocr",
            "ocr_results_queue": f"{run}-ocr-results",
        }
    return fields


def run_experiments(campaign: Campaign, images: int) -> list[Tally]:
    dataset = campaign.home / "receipts.jsonl"
    campaign.receipts("synthesize", "--output", str(dataset), "--count", "60", check=True)
    # a job that succeeds: its export is queued (export experiment), its model reads receipts
    campaign.receipts(
        "train",
        "--dataset",
        str(dataset),
        "--model-size",
        "tiny",
        "--epochs",
        "1",
        "--max-seq-length",
        "128",
        "--stride",
        "32",
        "--job-name",
        "chaos-base",
        check=True,
    )
    try:
        return [
            trainer_killed(campaign, dataset),
            export_killed(campaign),
            ocr_two_workers(campaign, campaign.home / "images", images),
            ocr_killed_between(campaign, campaign.home / "images", images),
        ]
    finally:
        campaign.kill_children()  # none outlives the campaign


def print_table(tallies: list[Tally]) -> None:
    header = ("experiment", "once", "twice", "lost", "stuck", "notes")
    rows = [
        (t.name, str(t.once), str(t.twice), str(t.lost), str(t.stuck), "; ".join(t.notes))
        for t in tallies
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aws", action="store_true", help="aws mode, on a moto server")
    parser.add_argument("--images", type=int, default=12, help="OCR jobs per OCR experiment")
    parser.add_argument("--keep", type=Path, help="run in this home and keep it")
    args = parser.parse_args(argv)
    if args.aws and not all(importlib.util.find_spec(m) for m in ("boto3", "moto")):
        parser.error("--aws needs boto3 and moto (the aws and dev extras)")
    home = args.keep or Path(tempfile.mkdtemp(prefix="receipts-chaos-"))
    logs = home / "worker-logs"
    logs.mkdir(parents=True, exist_ok=True)
    fields = campaign_settings(home, args.aws)
    settings = Settings.model_validate({**fields, "log_level": "error"})
    with moto_server() if args.aws else nullcontext():
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIPTS_")}
        env.update({f"RECEIPTS_{name.upper()}": value for name, value in fields.items()})
        env.update(RECEIPTS_LOG_FORMAT="json", NO_COLOR="1")
        campaign = Campaign(home, logs, env, settings)
        print(f"home: {home}" + (f" (aws mode, {env['AWS_ENDPOINT_URL']})" if args.aws else ""))
        tallies = run_experiments(campaign, args.images)
    print_table(tallies)
    return 0 if all(t.twice == t.lost == t.stuck == 0 for t in tallies) else 1


if __name__ == "__main__":
    sys.exit(main())
