"""Lifecycle throughput and import time, each against its floor measured in the same run.

    .venv/bin/python bench/lifecycle.py [--jobs 2000] [--sqlite-jobs 200] [--repeat 3]

A lifecycle is what `receipts simulate` runs: create a job, train it (simulated, metrics
per epoch), succeed or fail, auto-export through the queue and worker, and one OCR job.
Throughput is the best of `--repeat` runs, each on a fresh runtime; the row under it is the
floor, the eventsourcing library alone doing the same events and saves with its own
aggregates (`library_floor.py`), measured in the same conditions. Import time is the
median of 5 fresh interpreters importing every module of `receipts.domain` and
`receipts.application`; the row under it is the floor, the libraries alone (eventsourcing
and pydantic, with one model built) in the same kind of fresh interpreter.

Imports are timed as an installed project runs them: with Python's bytecode cache (one
untimed warm-up run writes `__pycache__`). Where PYTHONDONTWRITEBYTECODE is set (this
machine's sandbox sets it) every run would compile the project's sources again (about 50 ms
here), which no installed copy does, so the probes run without it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from library_floor import lifecycles_per_second as library_lifecycles_per_second
from machine import cpu_pressure
from receipts.bootstrap import bootstrap
from receipts.entrypoints.simulation import simulate_lifecycles
from receipts.entrypoints.structured_logs import configure_logging
from receipts.settings import Mode, Settings

FLOOR_SHARE_TARGET = 0.5  # memory lifecycles/s as a share of the library floor's
IMPORT_OVER_FLOOR_MS = 40.0  # import time above the libraries' own
IMPORT_RUNS = 5

IMPORT_PROBE = """
import time
started = time.perf_counter()
import importlib, pkgutil
for layer in ("receipts.domain", "receipts.application"):
    package = importlib.import_module(layer)
    for info in pkgutil.walk_packages(package.__path__, layer + "."):
        importlib.import_module(info.name)
print((time.perf_counter() - started) * 1000)
"""


FLOOR_PROBE = """
import time
started = time.perf_counter()
import eventsourcing.application, eventsourcing.domain, eventsourcing.persistence
import eventsourcing.system, eventsourcing.utils
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic import ValidationError, field_validator, model_validator

class Probe(BaseModel):
    value: int = Field(0, ge=0)

Probe(value=1)
print((time.perf_counter() - started) * 1000)
"""
"""What any import of the layers costs at least: the eventsourcing modules they use, and
pydantic with one model built (the first model loads pydantic's schema machinery)."""


def lifecycles_per_second(mode: Mode, jobs: int, home: Path | None = None) -> float:
    settings = Settings(mode=mode, home=home or Path(".receipts"), log_level="warning")
    runtime = bootstrap(settings)
    try:
        report = simulate_lifecycles(runtime, jobs)
    finally:
        runtime.close()
    assert sum(report.job_statuses.values()) == jobs, report
    return report.per_second


def best_of(repeat: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    runs = [measure() for _ in range(repeat)]
    return max(runs), runs


def sqlite_run(jobs: int) -> float:
    with tempfile.TemporaryDirectory(prefix="receipts-bench-") as home:
        return lifecycles_per_second("local", jobs, Path(home))


def import_ms(probe: str = IMPORT_PROBE) -> tuple[float, list[float]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    runs = []
    for attempt in range(IMPORT_RUNS + 1):
        done = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env=env,
        )
        if attempt:  # the first run writes the bytecode cache
            runs.append(float(done.stdout.strip()))
    return statistics.median(runs), runs


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="lifecycles per memory run")
    parser.add_argument("--sqlite-jobs", type=int, default=200, help="lifecycles per SQLite run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per store (best is kept)")
    args = parser.parse_args(argv)
    configure_logging(Settings(mode="memory", log_level="warning"))

    print(f"python {sys.version.split()[0]}  cpu pressure (some avg10): {cpu_pressure()}")
    print("(pressure above a few % means another process competes for the CPU: numbers swing)")

    memory, memory_runs = best_of(args.repeat, lambda: lifecycles_per_second("memory", args.jobs))
    library, library_runs = best_of(args.repeat, lambda: library_lifecycles_per_second(args.jobs))
    on_sqlite, sqlite_runs = best_of(args.repeat, lambda: sqlite_run(args.sqlite_jobs))
    imports, import_runs = import_ms()
    floor, floor_runs = import_ms(FLOOR_PROBE)

    rows = [
        (
            f"lifecycles/s, memory ({args.jobs} jobs, best of {args.repeat})",
            f"{memory:,.0f}",
            f"{memory / library:.0%} of floor (>= {FLOOR_SHARE_TARGET:.0%})",
            verdict(memory >= FLOOR_SHARE_TARGET * library),
            ", ".join(f"{r:,.0f}" for r in memory_runs),
        ),
        (
            "  floor: eventsourcing alone, same events and saves (bench/library_floor.py)",
            f"{library:,.0f}",
            "-",
            "-",
            ", ".join(f"{r:,.0f}" for r in library_runs),
        ),
        (
            f"lifecycles/s, SQLite ({args.sqlite_jobs} jobs, best of {args.repeat})",
            f"{on_sqlite:,.0f}",
            "-",
            "-",
            ", ".join(f"{r:,.0f}" for r in sqlite_runs),
        ),
        (
            f"import domain+application, ms (median of {IMPORT_RUNS})",
            f"{imports:,.0f}",
            f"floor {imports - floor:+,.0f} ms (<= +{IMPORT_OVER_FLOOR_MS:,.0f})",
            verdict(imports <= floor + IMPORT_OVER_FLOOR_MS),
            ", ".join(f"{r:,.0f}" for r in import_runs),
        ),
        (
            f"  of which eventsourcing + pydantic alone, ms (median of {IMPORT_RUNS})",
            f"{floor:,.0f}",
            "-",
            "-",
            ", ".join(f"{r:,.0f}" for r in floor_runs),
        ),
    ]
    header = ("measure", "value", "target", "", "runs")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(f"cpu pressure after (some avg10): {cpu_pressure()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
