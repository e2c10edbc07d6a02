"""`inference-report --model` takes what every model consumer takes (`application.model_files`):
a directory, a store URI, or SageMaker's `model.tar.gz`."""

from __future__ import annotations

import tarfile
from pathlib import Path

from tests.e2e.cli import no_traceback
from tests.e2e.cli import run as run_cli

from receipts.adapters.archives import SafeTarExtractor
from receipts.adapters.memory.artifact_store import InMemoryArtifactStore
from receipts.application.model_files import ModelDirectories
from receipts.bootstrap import bootstrap
from receipts.bootstrap.inference import forget_predictors, stored_predictor
from receipts.entrypoints.report_cli import _predictor_loader
from receipts.settings import Settings


def model_tar_gz(checkpoint: Path, path: Path) -> Path:
    """The checkpoint's files at the archive's root, as SageMaker packs /opt/ml/model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for file in sorted(checkpoint.iterdir()):
            archive.add(file, arcname=file.name)
    return path


def test_a_store_uri_is_taken_as_a_uri_not_a_path(tmp_path: Path, held_out_dataset: Path) -> None:
    uri = "s3://elsewhere/runs/sm-job/output/model.tar.gz"

    result = run_cli(tmp_path / "home", "inference-report", "--model", uri,
                     "--dataset", str(held_out_dataset), "--seed", "1")  # fmt: skip

    assert result.returncode == 1, result.said
    assert f"model {uri} is unusable" in result.said and "only handles file://" in result.said
    assert "no such file or directory" not in result.said
    no_traceback(result)


def test_a_sagemaker_archive_in_the_store_runs_through_the_report_loader(
    tmp_path: Path, tiny_model: Path
) -> None:
    uri = "memory://bucket/runs/sm-job/output/model.tar.gz"
    store = InMemoryArtifactStore()
    store.put_bytes(uri, model_tar_gz(tiny_model, tmp_path / "model.tar.gz").read_bytes())
    models = ModelDirectories(store, tmp_path / "cache", SafeTarExtractor())

    predictor = _predictor_loader(models, uri, "auto", None)()

    assert predictor.info.source_uri == uri


def test_the_report_runs_a_model_tar_gz_from_the_home_store(
    tmp_path: Path, tiny_model: Path, held_out_dataset: Path
) -> None:
    home = tmp_path / "home"
    archive = model_tar_gz(tiny_model, home / "artifacts/runs/sm-job/output/model.tar.gz")

    result = run_cli(home, "inference-report", "--model", archive.as_uri(), "--dataset",
                     str(held_out_dataset), "--seed", "1", "--output", str(tmp_path / "out"),
                     OMP_NUM_THREADS="1")  # fmt: skip

    assert result.returncode == 0, result.said
    assert "model ran" in result.said and len(list((tmp_path / "out").glob("*.html"))) == 1


def test_the_inference_lambdas_load_a_sagemaker_archive(tmp_path: Path, tiny_model: Path) -> None:
    runtime = bootstrap(Settings(mode="memory", home=tmp_path))
    uri = runtime.artifacts_uri("runs/sm-job/output/model.tar.gz")
    runtime.artifacts.upload_file(model_tar_gz(tiny_model, tmp_path / "model.tar.gz"), uri)
    forget_predictors()
    try:
        predictor = stored_predictor(runtime, uri, tmp_path / "lambda-tmp")
    finally:
        forget_predictors()
        runtime.close()

    assert predictor.info.source_uri == uri
