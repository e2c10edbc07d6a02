"""`receipts export-coreml` as a user runs it: fresh processes on the embedded default,
a tiny LayoutLM checkpoint from a directory or from the artifact store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.e2e.cli import Result, no_traceback
from tests.e2e.cli import run as run_cli

pytest.importorskip("torch")
pytest.importorskip("coremltools")

FAST = {"OMP_NUM_THREADS": "1"}
FEW = ["--validation-receipts", "4"]


def run(home: Path, *args: str, script: str = "receipts") -> Result:
    return run_cli(home, "export-coreml", *args, script=script, **FAST)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose artifact store holds a tiny checkpoint at runs/tiny/best/."""
    from receipts.adapters.synthetic.generator import generate_receipts
    from receipts.adapters.torch.checkpoints import save_checkpoint
    from receipts.adapters.torch.models import build_model
    from receipts.adapters.torch.tokenization import train_tokenizer

    home = tmp_path_factory.mktemp("home")
    words = [word.text for receipt in generate_receipts(10) for word in receipt.words]
    tokenizer = train_tokenizer(words, vocab_size=400)
    model = build_model("tiny", ["O", "B-AMOUNT", "I-AMOUNT"], len(tokenizer))
    save_checkpoint(
        home / "artifacts" / "runs" / "tiny" / "best", model, tokenizer, {"job_name": "tiny"}
    )
    return home


def checkpoint_of(home: Path) -> Path:
    return home / "artifacts" / "runs" / "tiny" / "best"


def test_a_checkpoint_directory_exports_with_sizes_and_figures(home: Path) -> None:
    output = home / "bundles" / "int8"
    result = run(home, "--checkpoint", str(checkpoint_of(home)), "--output-dir", str(output),
                 "--quantize", "int8", *FEW)  # fmt: skip
    assert result.returncode == 0, result.said
    assert sorted(p.name for p in output.iterdir()) == [
        "LayoutLM.mlpackage",
        "config.json",
        "label_map.json",
        "manifest.json",
        "vocab.txt",
    ]
    said = result.said
    for expected in (
        r"LayoutLM\.mlpackage\W+\d+\.\d (MiB|KiB)",
        r"manifest\.json\W+\d+\.\d KiB",
        r"total\W+\d+\.\d (MiB|KiB)",
        r"float16 check\W+passed",
        r"weight quantization\W+8-bit linear_symmetric per_channel",
        r"entity F1 float32\W+[\d.]+",
        r"F1 delta\W+-?[\d.e-]+",
        r"exported .*best → .*int8 \(int8, ",
    ):
        assert re.search(expected, said), expected
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["quantization"] == "int8"
    assert manifest["source"]["checkpoint_uri"] == checkpoint_of(home).as_uri() + "/"


def test_a_uri_in_the_artifact_store_exports_and_prints_json(home: Path) -> None:
    output = home / "bundles" / "int4"
    uri = checkpoint_of(home).as_uri()
    result = run(home, "--s3-uri", uri, "--output-dir", str(output), "--quantize", "int4",
                 "--json", *FEW, script="layoutlm-cli")  # fmt: skip
    assert result.returncode == 0, result.said
    printed = result.json()
    assert printed["source"] == uri + "/"
    assert printed["quantization"] == "int4"
    assert printed["total_bytes"] == sum(printed["file_sizes"].values())
    assert printed["validation"]["weight_quantization"].startswith("4-bit")
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["validation"] == printed["validation"]
    assert manifest["model"]["minimum_deployment_target"] == "iOS18"
    assert manifest["source"]["checkpoint_uri"] == uri + "/"


def test_an_unknown_quantization_is_a_usage_error_naming_the_allowed_ones(home: Path) -> None:
    result = run(home, "--checkpoint", str(checkpoint_of(home)), "--output-dir",
                 str(home / "never"), "--quantize", "int2")  # fmt: skip
    assert result.returncode == 2
    assert "'int2' is not one of 'float16', 'int8', 'int4'" in result.said
    assert not (home / "never").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give exactly one of --checkpoint DIR and --s3-uri URI"),
        (["--checkpoint", "x", "--s3-uri", "file:///x/"], "give exactly one of"),
        (["--s3-uri", "bucket/key"], "is not a URI: expected scheme://bucket/key"),
        (["--s3-uri", "s3://bucket/../etc/"], "'.' and '..' segments are not allowed"),
    ],
)
def test_a_source_other_than_one_checkpoint_is_a_usage_error(
    home: Path, args: list[str], message: str
) -> None:
    result = run(home, *args, "--output-dir", str(home / "never"))
    assert result.returncode == 2, result.said
    assert message in result.said
    no_traceback(result)


def test_an_output_directory_that_holds_files_is_refused(home: Path) -> None:
    full = home / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    result = run(home, "--checkpoint", str(checkpoint_of(home)), "--output-dir", str(full))
    assert result.returncode == 2
    assert "exists and is not an empty directory" in result.said
    assert (full / "keep.txt").read_text() == "mine"


def test_a_pickle_checkpoint_is_refused_and_nothing_is_written(home: Path) -> None:
    pickled = home / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps({"model_type": "layoutlm"}))
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    result = run(home, "--checkpoint", str(pickled), "--output-dir", str(home / "out-pickle"))
    assert result.returncode == 1
    assert "pickle checkpoints are refused (pytorch_model.bin)" in result.said
    assert not (home / "out-pickle").exists()
    no_traceback(result)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            ["--checkpoint", "/nonexistent/best"],
            "checkpoint directory /nonexistent/best does not exist",
        ),
        (["--s3-uri", "s3://bucket/runs/x/best/"], "this store only handles file:// URIs"),
        (["--s3-uri", "file:///etc/"], "resolves outside the artifact root"),
    ],
)
def test_a_checkpoint_that_cannot_be_had_fails_with_the_reason(
    home: Path, source: list[str], message: str
) -> None:
    result = run(home, *source, "--output-dir", str(home / "out-missing"))
    assert result.returncode == 1, result.said
    assert message in result.said
    assert not (home / "out-missing").exists()
    no_traceback(result)
