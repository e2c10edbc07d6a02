"""Running the command line as a user does: `run` calls the CLI's `main` in this process
(the same code the console scripts call, with its own argv, environment and captured
output); `run_script` starts the installed console script, for the tests where the process
itself is under test (exit codes from signals, a fresh interpreter, the demo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

BIN = Path(sys.executable).parent


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def said(self) -> str:
        """stdout and stderr with rich's line wrapping undone."""
        return " ".join((self.stdout + " " + self.stderr).split())

    def json(self) -> Any:
        return json.loads(self.stdout)


def environ(home: Path, **env: str) -> dict[str, str]:
    """The process environment of a user of `home`: no RECEIPTS_ setting but those given."""
    values = {k: v for k, v in os.environ.items() if not k.startswith("RECEIPTS_")}
    values.update(RECEIPTS_HOME=str(home), COLUMNS="200", NO_COLOR="1", **env)
    return values


def run(home: Path, *args: str, script: str = "receipts", **env: str) -> Result:
    """`script *args` in this process, as `main()` runs it (its exit codes, its messages)."""
    from receipts.entrypoints.cli import main

    overrides: dict[str, str | None] = {k: None for k in os.environ if k.startswith("RECEIPTS_")}
    overrides.update(RECEIPTS_HOME=str(home), NO_COLOR="1", **env)
    with CliRunner().isolation(env=overrides) as (stdout, stderr, _):
        argv, sys.argv = sys.argv, [script, *args]
        try:
            main()
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except Exception:
            # what the console script would print: a traceback, exit status 1
            sys.stderr.write(traceback.format_exc())
            code = 1
        finally:
            sys.argv = argv
            sys.stdout.flush()
            sys.stderr.flush()
        return Result(code, stdout.getvalue().decode(), stderr.getvalue().decode())


def run_script(
    home: Path, *args: str, script: str = "receipts", timeout: float = 300, **env: str
) -> Result:
    """The installed console script in a fresh process."""
    executable = BIN / script
    if not executable.exists():
        pytest.skip(f"console script {script} is not installed next to {sys.executable}")
    done = subprocess.run(
        [str(executable), *args],
        env=environ(home, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
