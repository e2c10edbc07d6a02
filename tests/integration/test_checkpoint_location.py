"""locate_checkpoint: config.json at the root, in best/, or in an archive's one folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from receipts.application.export.checkpoint_source import locate_checkpoint
from receipts.application.ports.exporter import ExportFailed


def files(root: Path, *names: str) -> Path:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"{}")
    return root


@pytest.mark.parametrize(
    ("layout", "found"),
    [
        (("config.json", "model.safetensors"), "."),
        (("best/config.json", "checkpoint-100/config.json"), "best"),
        (("model/config.json", "model/model.safetensors"), "model"),
        ((".hidden", "model/config.json"), "model"),  # dot entries do not count
        (("config.json", "best/config.json"), "."),  # the root comes first
    ],
)
def test_the_checkpoint_directory_is_found(
    tmp_path: Path, layout: tuple[str, ...], found: str
) -> None:
    root = files(tmp_path / "c", *layout)

    assert locate_checkpoint(root, "memory://b/run/") == (root / found if found != "." else root)


@pytest.mark.parametrize(
    "layout",
    [
        (),
        ("a/config.json", "b/config.json"),  # two folders: ambiguous
        ("readme.txt",),
        ("config.json/nested",),  # config.json is a directory
    ],
)
def test_no_checkpoint_is_named_in_the_error(tmp_path: Path, layout: tuple[str, ...]) -> None:
    root = files(tmp_path / "c", *layout)
    root.mkdir(exist_ok=True)

    with pytest.raises(ExportFailed, match="holds no checkpoint"):
        locate_checkpoint(root, "memory://b/run/")


def test_pickled_weights_alone_are_refused_and_named(tmp_path: Path) -> None:
    root = files(tmp_path / "c", "config.json", "pytorch_model.bin")

    with pytest.raises(ExportFailed, match=r"only pickled weights \(pytorch_model.bin\)"):
        locate_checkpoint(root, "memory://b/run/")


def test_safetensors_beside_pickled_weights_are_accepted(tmp_path: Path) -> None:
    root = files(tmp_path / "c", "best/config.json", "best/pytorch_model.bin")
    files(root, "best/model.safetensors")

    assert locate_checkpoint(root, "memory://b/run/") == root / "best"


def test_a_symlinked_config_counts_as_a_file(tmp_path: Path) -> None:
    target = files(tmp_path / "elsewhere", "config.json") / "config.json"
    root = tmp_path / "c"
    root.mkdir()
    (root / "config.json").symlink_to(target)

    assert locate_checkpoint(root, "memory://b/run/") == root
