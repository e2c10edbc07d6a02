"""The SageMaker container entrypoint, single-process and data-parallel (torchrun, 2 CPU
processes on gloo), on 20 synthetic receipts with a tiny model, in local mode (SQLite)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import load_file  # noqa: E402
from transformers import LayoutLMForTokenClassification  # noqa: E402

from receipts.adapters.jsonl.label_store import to_record  # noqa: E402
from receipts.adapters.sagemaker.results import read_results  # noqa: E402
from receipts.adapters.synthetic.generator import generate_receipts  # noqa: E402
from receipts.adapters.torch.tokenization import load_tokenizer  # noqa: E402
from receipts.bootstrap import Runtime, bootstrap  # noqa: E402
from receipts.domain.errors import JobNotFound  # noqa: E402
from receipts.domain.job import Job, JobDraft, JobStatus  # noqa: E402
from receipts.entrypoints import sagemaker_train  # noqa: E402
from receipts.settings import Settings  # noqa: E402

S = JobStatus
RECEIPTS = 20
BATCH_SIZE = 4
HYPERPARAMETERS = {
    "epochs": "2",
    "batch_size": str(BATCH_SIZE),
    "learning_rate": "0.001",
    "early_stopping_patience": "0",
    "merge_amounts": "true",
    "model_size": "tiny",
    "max_seq_length": "96",
    "stride": "16",
}
TORCHRUN_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass
class Container:
    """One training job's /opt/ml, under tmp."""

    root: Path
    job_name: str

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def run_dir(self) -> Path:
        return self.root / "checkpoints" / self.job_name

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        return {
            "RECEIPTS_MODE": "local",
            "RECEIPTS_HOME": str(home),
            "RECEIPTS_SAGEMAKER_ROOT": str(self.root),
            "RECEIPTS_JOB_NAME": self.job_name,
            "OMP_NUM_THREADS": "1",
            **extra,
        }


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "receipts.jsonl"
    records = [json.dumps(to_record(r)) for r in generate_receipts(RECEIPTS, seed=0)]
    path.write_text("\n".join(records) + "\n")
    return path


@pytest.fixture(scope="module")
def runtime(home: Path) -> Iterator[Runtime]:
    runtime = bootstrap(Settings(mode="local", home=home))
    yield runtime
    runtime.close()


def container(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    hyperparameters: dict[str, str],
    channel: Path | None = None,
) -> Container:
    """/opt/ml with the hyperparameters and, given a file, the `training` channel holding it
    (as SageMaker downloads the channel's S3 prefix)."""
    root = tmp_path_factory.mktemp(name)
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    if channel is not None:
        (root / "input" / "data" / "training").mkdir(parents=True)
        shutil.copy(channel, root / "input" / "data" / "training" / channel.name)
    return Container(root, name)


def run_in_process(c: Container, home: Path, monkeypatch: pytest.MonkeyPatch, **extra: str) -> int:
    """The entrypoint's main() in this process: what the container runs with one process."""
    for variable in TORCHRUN_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for key, value in c.env(home, **extra).items():
        monkeypatch.setenv(key, value)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return sagemaker_train.main()
    finally:
        torch.set_num_threads(threads)


def job_of(runtime: Runtime, c: Container) -> Job:
    return runtime.jobs.get_job_by_name(c.job_name)


@dataclass
class Outcome:
    container: Container
    returncode: int
    output: str


@pytest.fixture(scope="module")
def ddp(tmp_path_factory: pytest.TempPathFactory, home: Path, dataset: Path) -> Outcome:
    """`torchrun --standalone --nproc_per_node 2 -m receipts.entrypoints.sagemaker_train`."""
    c = container(tmp_path_factory, "ddp", {**HYPERPARAMETERS, "dataset": str(dataset)})
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARIABLES}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", "-m", "receipts.entrypoints.sagemaker_train"]
    done = subprocess.run(
        command, env={**env, **c.env(home)}, capture_output=True, text=True, timeout=300
    )
    return Outcome(c, done.returncode, done.stdout + done.stderr)


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory, home: Path, dataset: Path) -> Outcome:
    """The same job in one process (the entrypoint's main() in this process), its data
    named by S3 URI and read from the training channel."""
    on_s3 = {**HYPERPARAMETERS, "dataset": f"s3://bucket/data/{dataset.name}"}
    c = container(tmp_path_factory, "single", on_s3, channel=dataset)
    with pytest.MonkeyPatch.context() as monkeypatch:
        code = run_in_process(c, home, monkeypatch)
    return Outcome(c, code, "")


# -- data-parallel: two processes, one set of events and files ---------------------------------


def test_a_ddp_run_succeeds_with_one_evaluation_per_epoch(ddp: Outcome, runtime: Runtime) -> None:
    assert ddp.returncode == 0, ddp.output[-3000:]
    job = job_of(runtime, ddp.container)

    assert job.status is S.SUCCEEDED, job.status_reason
    evaluations = runtime.jobs.evaluations_of(job.id)
    assert [e.epoch for e in evaluations] == [1, 2]
    logs = runtime.jobs.logs_of(job.id)
    [run_config] = [entry for entry in logs if entry.kind == "run_config"]
    assert run_config.data["world_size"] == 2
    assert [entry.kind for entry in logs].count("run_summary") == 1
    assert not ddp.container.failure.exists()


def test_a_ddp_run_writes_one_set_of_checkpoints_with_half_the_steps(
    ddp: Outcome, single: Outcome, runtime: Runtime
) -> None:
    assert ddp.returncode == 0 and single.returncode == 0, ddp.output[-3000:]
    ours = job_of(runtime, ddp.container).results
    theirs = job_of(runtime, single.container).results
    assert ours is not None and theirs is not None
    single_steps = theirs.extra["global_steps"] // 2

    per_epoch = ours.extra["global_steps"] // 2
    assert per_epoch == math.ceil(single_steps / 2)
    names = sorted(p.name for p in ddp.container.run_dir.iterdir())
    assert names == ["best", f"checkpoint-{per_epoch}", f"checkpoint-{2 * per_epoch}", "run.json"]
    history = json.loads((ddp.container.run_dir / "run.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]


def test_the_ddp_model_in_sm_model_dir_loads_and_predicts(ddp: Outcome) -> None:
    assert ddp.returncode == 0, ddp.output[-3000:]
    model_dir = ddp.container.model_dir

    assert not list(model_dir.glob("*.bin"))
    model = LayoutLMForTokenClassification.from_pretrained(model_dir)
    tokenizer = load_tokenizer(model_dir)
    encoded = tokenizer(["TOTAL", "12.50"], is_split_into_words=True, return_tensors="pt")
    bbox = torch.zeros((*encoded["input_ids"].shape, 4), dtype=torch.long)
    logits = model(input_ids=encoded["input_ids"], bbox=bbox).logits
    labels = model.config.id2label
    assert labels is not None and logits.shape[-1] == len(labels)
    assert "B-AMOUNT" in labels.values()
    assert (ddp.container.root / "output" / "data" / "run.json").is_file()


def test_a_single_process_run_of_the_entrypoint_succeeds(single: Outcome, runtime: Runtime) -> None:
    assert single.returncode == 0
    job = job_of(runtime, single.container)

    assert job.status is S.SUCCEEDED
    assert [e.epoch for e in runtime.jobs.evaluations_of(job.id)] == [1, 2]
    assert (single.container.model_dir / "model.safetensors").is_file()
    assert job.results is not None and job.results.best_checkpoint_uri.endswith("single/best/")


# -- failures, the launcher's job, spot restarts ---------------------------------------------


def test_a_missing_dataset_fails_the_job_and_writes_the_failure_file(
    tmp_path_factory: pytest.TempPathFactory,
    home: Path,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = container(tmp_path_factory, "missing", {**HYPERPARAMETERS, "dataset": "s3://b/nope.jsonl"})

    assert run_in_process(c, home, monkeypatch) == 1

    job = job_of(runtime, c)
    assert job.status is S.FAILED
    assert "nope.jsonl" in (job.status_reason or "")
    assert c.failure.read_text() == job.status_reason


def test_an_unknown_hyperparameter_fails_before_any_job_exists(
    tmp_path_factory: pytest.TempPathFactory,
    home: Path,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = container(tmp_path_factory, "unknown", {**HYPERPARAMETERS, "lr": "0.1"})

    assert run_in_process(c, home, monkeypatch) == 1

    assert "unknown hyperparameter 'lr'" in c.failure.read_text()
    with pytest.raises(JobNotFound):
        runtime.jobs.get_job_by_name("unknown")


def test_a_bad_setting_is_named_in_the_failure_file_before_anything_runs(
    tmp_path_factory: pytest.TempPathFactory, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container(tmp_path_factory, "bad-setting", HYPERPARAMETERS)
    # unreadable settings leave only SageMaker's own variables to say where the failure goes
    output = str(c.failure.parent)

    assert run_in_process(c, home, monkeypatch, RECEIPTS_JOB_ID="nope", SM_OUTPUT_DIR=output) == 1

    assert "RECEIPTS_JOB_ID: Input should be a valid UUID" in c.failure.read_text()


def test_with_the_launchers_job_id_it_records_and_leaves_results_without_ending_the_job(
    tmp_path_factory: pytest.TempPathFactory,
    home: Path,
    dataset: Path,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = {**HYPERPARAMETERS, "dataset": str(dataset), "epochs": "1"}
    c = container(tmp_path_factory, "attached", {})
    from receipts.adapters.sagemaker.hyperparameters import from_hyperparameters

    job_id = runtime.jobs.create_job(
        JobDraft(name="attached", config=from_hyperparameters(config).model_dump(mode="json"))
    )
    runtime.jobs.start_job(job_id)  # as SageMakerTrainingBackend's run_training does

    assert run_in_process(c, home, monkeypatch, RECEIPTS_JOB_ID=str(job_id)) == 0

    assert runtime.jobs.get_job(job_id).status is S.RUNNING
    assert [e.epoch for e in runtime.jobs.evaluations_of(job_id)] == [1]
    results = read_results(runtime.artifacts, runtime.runs_prefix(), "attached")
    assert results is not None and results.epochs_run == 1
    assert results.best_checkpoint_uri == runtime.runs_prefix() + "attached/best/"
    assert (c.model_dir / "model.safetensors").is_file()
    # the container renewed the job's lease with each whole checkpoint it wrote
    lease = runtime.jobs.lease_of(job_id)
    assert lease is not None and lease.attempt == 1
    assert lease.checkpoint_uri is not None and "/checkpoint-" in lease.checkpoint_uri


def test_a_restarted_container_resumes_from_its_checkpoint_and_ends_identical(
    tmp_path_factory: pytest.TempPathFactory,
    home: Path,
    dataset: Path,
    single: Outcome,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A spot restart: the job is still running (the old container died), and
    /opt/ml/checkpoints holds what SageMaker synced back: the end-of-epoch-1 checkpoint and
    best/ (the single run's final best/ stands in: epoch 2 replaces it if it improves)."""
    assert single.returncode == 0
    c = container(tmp_path_factory, "restarted", {}, channel=dataset)
    steps = sorted(
        int(p.name.removeprefix("checkpoint-"))
        for p in single.container.run_dir.glob("checkpoint-*")
    )
    assert len(steps) == 2
    c.run_dir.mkdir(parents=True)
    shutil.copytree(
        single.container.run_dir / f"checkpoint-{steps[0]}", c.run_dir / f"checkpoint-{steps[0]}"
    )
    shutil.copytree(single.container.run_dir / "best", c.run_dir / "best")
    job = job_of(runtime, single.container)
    job_id = runtime.jobs.create_job(
        JobDraft(name="restarted", config=job.config.model_dump(mode="json"))
    )
    runtime.jobs.start_job(job_id)

    assert run_in_process(c, home, monkeypatch) == 0

    events = [type(e).__name__ for e in runtime.jobs.repository.event_store.get(job_id)]
    assert events == ["Created", "Started", "Interrupted", "Resumed", "Succeeded"]
    assert [e.epoch for e in runtime.jobs.evaluations_of(job_id)] == [2]
    last = f"checkpoint-{steps[1]}/model.safetensors"
    assert_same_weights(c.run_dir / last, single.container.run_dir / last)
    assert_same_weights(
        c.model_dir / "model.safetensors", single.container.model_dir / "model.safetensors"
    )


def assert_same_weights(a: Path, b: Path) -> None:
    mine, theirs = load_file(str(a)), load_file(str(b))
    assert mine.keys() == theirs.keys()
    assert [k for k in mine if not torch.equal(mine[k], theirs[k])] == []


def test_a_signal_to_one_rank_stops_every_rank_at_the_same_step_and_they_resume(
    tmp_path: Path,
) -> None:
    """SIGTERM reaches rank 1 only (a spot notice, a stop): both ranks stop at one step,
    rank 0 alone checkpoints and reports, and both resume from that checkpoint."""
    probe = Path(__file__).with_name("ddp_interrupt_probe.py")
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARIABLES}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", str(probe), str(tmp_path)]

    done = subprocess.run(
        command, env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300
    )

    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    rank_0, rank_1 = (json.loads((tmp_path / f"rank-{r}.json").read_text()) for r in (0, 1))
    assert rank_1["interrupted"]["reason"] == "interrupted by SIGTERM"
    assert rank_0["interrupted"]["reason"] == "interrupted by a signal to another rank"
    checkpoint = rank_0["interrupted"]["checkpoint"]
    assert checkpoint == rank_1["interrupted"]["checkpoint"]
    assert checkpoint.rstrip("/").endswith("probe/checkpoint-1")
    assert rank_0["first"]["logs"] == ["run_config"] and rank_1["first"]["logs"] == []
    assert rank_0["second"]["evaluations"] == [1, 2] and rank_1["second"]["evaluations"] == []
    assert rank_0["second"]["logs"] == ["run_config", "resumed at epoch 1, step 1"]
    assert rank_1["second"]["logs"] == []
    assert rank_0["results"]["epochs_run"] == rank_1["results"]["epochs_run"] == 2
    run_dir = tmp_path / "runs" / "probe"
    assert (run_dir / "best" / "model.safetensors").is_file()
    assert not list(run_dir.glob("*.partial"))
