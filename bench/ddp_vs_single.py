"""Data-parallel training (torchrun, N CPU processes on gloo) vs one process, same job.

    .venv/bin/python bench/ddp_vs_single.py [--receipts 200] [--epochs 2] [--procs 2]

Both run the SageMaker container entrypoint (`receipts.entrypoints.sagemaker_train`) in
local mode on the same synthetic receipts and hyperparameters (tiny model, batch 8 per
process, max_seq_length 128): one process with OMP_NUM_THREADS=procs, and torchrun with
procs processes of one thread each, so both use the same cores (--single-threads
changes the single run's threads). Runs alternate
(single, ddp, ddp, single) so that both see the same contention. Reported: wall time of
the whole command (interpreter start, imports and rendezvous included) and the trainer's
own `train_seconds` (data, training and evaluation), with the best F1 of each run. DDP
takes half the optimizer steps at twice the effective batch, so its F1 after the same
epochs differs: compare at equal quality, not only equal epochs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_pressure
from receipts.adapters.jsonl.label_store import to_record
from receipts.adapters.synthetic.generator import generate_receipts
from receipts.bootstrap import bootstrap
from receipts.settings import Settings

MODULE = "receipts.entrypoints.sagemaker_train"


def run(
    kind: str, procs: int, threads: int, work: Path, index: int, hyperparameters: dict[str, str]
) -> dict[str, float]:
    name = f"{kind}-{index}"
    root = work / name
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")},
        "RECEIPTS_MODE": "local",
        "RECEIPTS_HOME": str(work / "home"),
        "RECEIPTS_SAGEMAKER_ROOT": str(root),
        "RECEIPTS_JOB_NAME": name,
        "OMP_NUM_THREADS": str(threads if kind == "single" else 1),
    }
    command = [sys.executable, "-m", MODULE]
    if kind == "ddp":
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command += ["--nproc_per_node", str(procs), "-m", MODULE]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{name} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    runtime = bootstrap(Settings(mode="local", home=work / "home"))
    try:
        results = runtime.jobs.get_job_by_name(name).results
    finally:
        runtime.close()
    assert results is not None
    return {
        "wall": wall,
        "train": float(results.extra["train_seconds"]),
        "f1": results.best_f1,
        "steps": float(results.extra["global_steps"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--receipts", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument(
        "--single-threads", type=int, default=None, help="threads of the single run (procs)"
    )
    args = parser.parse_args()
    print(f"cpu pressure (some avg10): {cpu_pressure()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dataset = work / "receipts.jsonl"
        records = [json.dumps(to_record(r)) for r in generate_receipts(args.receipts, seed=0)]
        dataset.write_text("\n".join(records) + "\n")
        hyperparameters = {
            "epochs": str(args.epochs),
            "batch_size": "8",
            "learning_rate": "0.001",
            "early_stopping_patience": "0",
            "merge_amounts": "true",
            "model_size": "tiny",
            "max_seq_length": "128",
            "stride": "32",
            "dataset": str(dataset),
        }
        runs: dict[str, list[dict[str, float]]] = {"single": [], "ddp": []}
        for index, kind in enumerate(("single", "ddp", "ddp", "single")):
            threads = args.single_threads or args.procs
            runs[kind].append(run(kind, args.procs, threads, work, index, hyperparameters))
    print(
        f"{args.receipts} receipts, {args.epochs} epochs, ddp {args.procs} processes,"
        f" single {args.single_threads or args.procs} thread(s)"
    )
    print(f"{'run':<8} {'wall s':>8} {'train s':>8} {'steps':>6} {'best F1':>8}")
    for kind, measured in runs.items():
        for m in measured:
            print(f"{kind:<8} {m['wall']:8.1f} {m['train']:8.1f} {m['steps']:6.0f} {m['f1']:8.4f}")
    single = statistics.mean(m["train"] for m in runs["single"])
    ddp = statistics.mean(m["train"] for m in runs["ddp"])
    print(f"train time ddp / single: {ddp / single:.2f}")
    print(f"cpu pressure (some avg10): {cpu_pressure()}")


if __name__ == "__main__":
    main()
