"""Importing the domain and application layers builds no pydantic schema.

With `defer_build=True` on every base model, a model's validator and serializer are built
on its first use, so a process (a CLI call, a Lambda cold start) pays only for the models
it uses. A model instance at module level (a field default such as `= Hyperparameters()`)
would build its schema at import, and with it load pydantic's plugin loader, which imports
`importlib.metadata`: both are checked here in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import importlib, json, pkgutil, sys
from pydantic import BaseModel
for layer in ("receipts.domain", "receipts.application"):
    package = importlib.import_module(layer)
    for info in pkgutil.walk_packages(package.__path__, layer + "."):
        importlib.import_module(info.name)

def models(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from models(sub)

ours = {m for m in models(BaseModel) if m.__module__.startswith("receipts.")}
print(json.dumps({
    "models": len(ours),
    "built": sorted(f"{m.__module__}.{m.__qualname__}" for m in ours if m.__pydantic_complete__),
    "metadata": "importlib.metadata" in sys.modules,
}))
"""


def test_importing_the_layers_builds_no_model_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    assert report["models"] > 50  # the walk found the layers' models
    assert report["built"] == []
    assert report["metadata"] is False


def test_a_deferred_model_builds_on_first_use() -> None:
    from receipts.domain.config import JobConfig

    config = JobConfig.parse({"hyperparameters": {"epochs": 2}})

    assert config.hyperparameters.epochs == 2
    assert JobConfig.__pydantic_complete__
    assert JobConfig() == JobConfig.model_validate_json(JobConfig().model_dump_json())
