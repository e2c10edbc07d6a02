"""Safe extraction of model archives: what a checkpoint needs comes out, nothing else does."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from receipts.adapters.archives import ArchiveLimits, SafeTarExtractor
from receipts.application.ports.archives import ArchiveRefused

Member = tuple[tarfile.TarInfo, bytes | None]


def file(name: str, data: bytes = b"x") -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o4755  # setuid: must not survive
    return info, data


def directory(name: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info, None


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def special(name: str, kind: bytes) -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info, None


def archive(path: Path, *members: Member, mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:  # type: ignore[call-overload]
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The target's parent: the test checks nothing lands here beside `target/`."""
    (tmp_path / "work").mkdir()
    return tmp_path / "work"


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_a_sagemaker_model_archive_unpacks_in_place(tmp_path: Path, work: Path) -> None:
    model = archive(
        tmp_path / "model.tar.gz",
        directory("./"),
        file("./config.json", b'{"id2label": {}}'),
        file("./model.safetensors", b"\0" * 3000),
        directory("./best"),
        file("./best/vocab.txt", b"[PAD]\n"),
    )

    written = SafeTarExtractor().extract(model, work / "target")

    assert tree(work / "target") == {
        "best/vocab.txt": b"[PAD]\n",
        "config.json": b'{"id2label": {}}',
        "model.safetensors": b"\0" * 3000,
    }
    assert sorted(p.relative_to(work / "target").as_posix() for p in written) == [
        "best/vocab.txt",
        "config.json",
        "model.safetensors",
    ]
    assert (work / "target" / "config.json").stat().st_mode & 0o7777 == 0o644
    assert sorted(p.name for p in work.iterdir()) == ["target"]


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_plain_and_compressed_tars_are_read(tmp_path: Path, work: Path, mode: str) -> None:
    model = archive(tmp_path / "model.tar", file("config.json", b"{}"), mode=mode)

    SafeTarExtractor().extract(model, work)

    assert tree(work) == {"config.json": b"{}"}


def test_links_inside_the_archive_become_copies(tmp_path: Path, work: Path) -> None:
    model = archive(
        tmp_path / "model.tar.gz",
        file("best/model.safetensors", b"weights"),
        link("latest", "best/model.safetensors"),
        link("best/again", "model.safetensors"),
        link("hard", "best/model.safetensors", tarfile.LNKTYPE),
        link("chain", "latest"),
    )

    SafeTarExtractor().extract(model, work)

    assert tree(work) == {
        "best/again": b"weights",
        "best/model.safetensors": b"weights",
        "chain": b"weights",
        "hard": b"weights",
        "latest": b"weights",
    }
    assert not any(path.is_symlink() for path in work.rglob("*"))


REFUSED: dict[str, tuple[Callable[[], list[Member]], str]] = {
    "absolute path": (lambda: [file("/tmp/evil", b"x")], "absolute path"),
    "drive letter": (lambda: [file("C:/evil", b"x")], "absolute path"),
    "dot-dot": (lambda: [file("best/../../evil", b"x")], "'..' segment"),
    "backslash": (lambda: [file("..\\evil", b"x")], "backslash"),
    "symlink out": (lambda: [link("config.json", "../../etc/passwd")], "leaving the archive"),
    "absolute symlink": (lambda: [link("config.json", "/etc/passwd")], "absolute path"),
    "hard link out": (
        lambda: [link("config.json", "/etc/passwd", tarfile.LNKTYPE)],
        "absolute path",
    ),
    "hard link up": (lambda: [link("x", "../outside", tarfile.LNKTYPE)], "'..' segment"),
    "dangling link": (lambda: [link("config.json", "missing.json")], "not a file in the archive"),
    "link to a directory": (
        lambda: [directory("best"), link("x", "best")],
        "not a file in the archive",
    ),
    "character device": (lambda: [special("tty", tarfile.CHRTYPE)], "device file"),
    "block device": (lambda: [special("sda", tarfile.BLKTYPE)], "device file"),
    "fifo": (lambda: [special("pipe", tarfile.FIFOTYPE)], "FIFO"),
    "duplicate": (lambda: [file("config.json"), file("./config.json")], "appears twice"),
    "file as directory": (lambda: [file("best"), file("best/config.json")], "also a directory"),
    "symlink loop": (lambda: [link("a", "b"), link("b", "a")], "chain of more than"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_unsafe_members_are_refused_before_anything_is_written(
    tmp_path: Path, work: Path, case: str
) -> None:
    members, reason = REFUSED[case]
    model = archive(tmp_path / "model.tar.gz", file("config.json.ok", b"{}"), *members())

    with pytest.raises(ArchiveRefused, match=reason):
        SafeTarExtractor().extract(model, work / "target")

    assert list(work.rglob("*")) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tar.gz", "work"]


def test_limits_on_members_and_sizes(tmp_path: Path, work: Path) -> None:
    many = archive(tmp_path / "many.tar.gz", *(file(f"f{i}") for i in range(4)))
    big = archive(tmp_path / "big.tar.gz", file("model.safetensors", b"\0" * 101))
    total = archive(tmp_path / "total.tar.gz", file("a", b"\0" * 60), file("b", b"\0" * 60))
    linked = archive(tmp_path / "linked.tar.gz", file("a", b"\0" * 60), link("b", "a"))
    extractor = SafeTarExtractor(
        ArchiveLimits(max_members=3, max_member_bytes=100, max_total_bytes=100)
    )

    with pytest.raises(ArchiveRefused, match="more than 3 members"):
        extractor.extract(many, work)
    with pytest.raises(ArchiveRefused, match="101 bytes, over the limit of 100"):
        extractor.extract(big, work)
    with pytest.raises(ArchiveRefused, match="more than 100 bytes"):
        extractor.extract(total, work)
    with pytest.raises(ArchiveRefused, match="more than 100 bytes"):
        extractor.extract(linked, work)
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("keep", [0.002, 0.5, 0.9])
def test_a_damaged_or_foreign_file_is_refused_with_its_name(
    tmp_path: Path, work: Path, keep: float
) -> None:
    good = archive(tmp_path / "good.tar.gz", file("model.safetensors", os.urandom(100_000)))
    truncated = tmp_path / "model.tar.gz"
    data = good.read_bytes()
    truncated.write_bytes(data[: int(len(data) * keep)])
    foreign = tmp_path / "model.zip"
    foreign.write_bytes(b"PK\3\4 not a tar")

    with pytest.raises(ArchiveRefused, match=r"model\.tar\.gz is (damaged|not a readable)"):
        SafeTarExtractor().extract(truncated, work)
    with pytest.raises(ArchiveRefused, match=r"model\.zip is not a readable tar archive"):
        SafeTarExtractor().extract(foreign, work)


def test_a_target_that_already_holds_the_file_is_not_overwritten(
    tmp_path: Path, work: Path
) -> None:
    model = archive(tmp_path / "model.tar.gz", file("config.json", b"new"))
    (work / "config.json").write_bytes(b"old")

    with pytest.raises(ArchiveRefused, match="already exists"):
        SafeTarExtractor().extract(model, work)

    assert (work / "config.json").read_bytes() == b"old"
