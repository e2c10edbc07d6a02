"""One `receipts demo` per test run, shared by every test that inspects what it leaves
behind (and by every xdist worker: the first to ask runs it, the others wait and read)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock
from tests.e2e.cli import Result, run, run_script


@dataclass
class Demo:
    home: Path
    result: Result
    name: str


def shared_folder(tmp_path_factory: pytest.TempPathFactory, worker_id: str, uid: str) -> Path:
    """A folder every xdist worker of this run sees (without xdist: this session's)."""
    base = tmp_path_factory.getbasetemp()
    return base / "shared" if worker_id == "master" else base.parent / f"shared-{uid}"


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory, worker_id: str, testrun_uid: str) -> Demo:
    """`receipts demo` as a user runs it (the console script, a fresh process) in a home of
    its own; read-only for the tests."""
    folder = shared_folder(tmp_path_factory, worker_id, testrun_uid)
    folder.mkdir(parents=True, exist_ok=True)
    home, said = folder / "demo-home", folder / "demo.json"
    with FileLock(folder / "demo.lock"):
        if not said.is_file():
            done = run_script(home, "demo", "--receipts", "60", "--epochs", "2", timeout=600)
            said.write_text(json.dumps(done.__dict__))
    result = Result(**json.loads(said.read_text()))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = run(home, "jobs", "list", "--json").json()
    assert len(jobs) == 1, jobs
    return Demo(home, result, jobs[0]["name"])
