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
    assert (work / "target" / "config.json").stat().st_mode & 0o7777 == 0o755  # no setuid
    assert sorted(p.name for p in work.iterdir()) == ["target"]


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_plain_and_compressed_tars_are_read(tmp_path: Path, work: Path, mode: str) -> None:
    model = archive(tmp_path / "model.tar", file("config.json", b"{}"), mode=mode)

    SafeTarExtractor().extract(model, work)

    assert tree(work) == {"config.json": b"{}"}


def test_links_inside_the_archive_become_hard_links(tmp_path: Path, work: Path) -> None:
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
    assert {path.stat().st_ino for path in work.rglob("*") if path.is_file()} == {
        (work / "best" / "model.safetensors").stat().st_ino
    }


def test_leading_slashes_are_dropped_and_windows_only_oddities_are_plain_names(
    tmp_path: Path, work: Path
) -> None:
    model = archive(
        tmp_path / "model.tar.gz", file("/tmp/evil", b"a"), file("C:/evil", b"b"), file("..\\evil")
    )

    SafeTarExtractor().extract(model, work / "target")

    assert tree(work / "target") == {"tmp/evil": b"a", "C:/evil": b"b", "..\\evil": b"x"}


REFUSED: dict[str, tuple[Callable[[], list[Member]], str]] = {
    "dot-dot": (lambda: [file("best/../../evil", b"x")], "outside the destination"),
    "symlink out": (lambda: [link("config.json", "../../etc/passwd")], "outside the destination"),
    "absolute symlink": (lambda: [link("config.json", "/etc/passwd")], "link to an absolute path"),
    "hard link out": (
        lambda: [link("config.json", "/etc/passwd", tarfile.LNKTYPE)],
        "link to an absolute path",
    ),
    "hard link up": (
        lambda: [link("x", "../outside", tarfile.LNKTYPE)],
        "outside the destination",
    ),
    "dangling link": (lambda: [link("config.json", "missing.json")], "not a file in the archive"),
    "link to a directory": (
        lambda: [directory("best"), link("x", "best")],
        "not a file in the archive",
    ),
    "character device": (lambda: [special("tty", tarfile.CHRTYPE)], "'tty' is a special file"),
    "block device": (lambda: [special("sda", tarfile.BLKTYPE)], "'sda' is a special file"),
    "fifo": (lambda: [special("pipe", tarfile.FIFOTYPE)], "'pipe' is a special file"),
    # tarfile meets a hard link over an existing name by writing the earlier member without
    # the filter: on 3.11.7, run as root, `extractall(filter="data")` kept that member's owner
    "duplicate": (lambda: [file("config.json"), file("./config.json")], "appears twice"),
    "file as directory": (
        lambda: [file("best"), file("best/config.json")],
        "'best/config.json' cannot be unpacked: Not a directory",
    ),
    "symlink loop": (lambda: [link("a", "b"), link("b", "a")], "loop of links"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_unsafe_members_are_refused_and_nothing_is_left_behind(
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
    extractor = SafeTarExtractor(
        ArchiveLimits(max_members=3, max_member_bytes=100, max_total_bytes=100)
    )

    with pytest.raises(ArchiveRefused, match="more than 3 members"):
        extractor.extract(many, work)
    with pytest.raises(ArchiveRefused, match="101 bytes, over the limit of 100"):
        extractor.extract(big, work)
    with pytest.raises(ArchiveRefused, match="more than 100 bytes"):
        extractor.extract(total, work)
    assert list(work.iterdir()) == []
    linked = archive(tmp_path / "linked.tar.gz", file("a", b"\0" * 60), link("b", "a"))
    extractor.extract(linked, work)  # a hard link takes no bytes


class ZerosReader(io.RawIOBase):
    """`size` zero bytes, read without holding them."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def bomb(path: Path, size: int) -> Path:
    """A gzipped tar of a small config and `size` zero bytes: about a thousandth its size."""
    info = tarfile.TarInfo("model.safetensors")
    info.size = size
    with tarfile.open(path, "w:gz") as tar:
        config, data = file("config.json", b"{}")
        tar.addfile(config, io.BytesIO(data))
        tar.addfile(info, io.BufferedReader(ZerosReader(size)))
    return path


def test_an_archive_that_unpacks_past_the_ratio_is_refused_before_writing(
    tmp_path: Path, work: Path
) -> None:
    """An 8 MB model.tar.gz that unpacked to 3 GiB was extracted (issue 16); the same shape,
    4 MiB of zeros in about 4 KB, is refused at its header, and nothing is written."""
    model = bomb(tmp_path / "model.tar.gz", 4 * 1024**2)
    assert model.stat().st_size < 20_000

    with pytest.raises(ArchiveRefused, match=r"more than 100 times its [\d,]+ bytes.*bomb"):
        SafeTarExtractor().extract(model, work / "target")

    assert list(work.iterdir()) == []


def test_the_ratio_and_total_limits_are_settings(tmp_path: Path, work: Path) -> None:
    from receipts.settings import Settings

    model = bomb(tmp_path / "model.tar.gz", 64 * 1024)
    ratio = 64 * 1024 / model.stat().st_size
    lenient = Settings(max_archive_ratio=ratio * 2).archive_limits
    strict = Settings(max_archive_ratio=ratio * 2, max_archive_bytes=1000).archive_limits

    assert [p.name for p in SafeTarExtractor(lenient).extract(model, work / "a")] == [
        "config.json",
        "model.safetensors",
    ]
    with pytest.raises(ArchiveRefused, match="more than 1,000 bytes"):
        SafeTarExtractor(strict).extract(model, work / "b")
    assert not (work / "b").exists()


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

    with pytest.raises(
        # a prefix of a few hundred bytes still declares the whole member: over the ratio
        ArchiveRefused,
        match=r"model\.tar\.gz( is damaged| is not a readable|: member .* cannot| unpacks to more)",
    ):
        SafeTarExtractor().extract(truncated, work)
    with pytest.raises(ArchiveRefused, match=r"model\.zip is not a readable tar archive"):
        SafeTarExtractor().extract(foreign, work)


def test_a_target_that_holds_files_is_refused_and_left_alone(tmp_path: Path, work: Path) -> None:
    model = archive(tmp_path / "model.tar.gz", file("config.json", b"new"))
    (work / "config.json").write_bytes(b"old")

    with pytest.raises(ArchiveRefused, match="is not empty"):
        SafeTarExtractor().extract(model, work)

    assert (work / "config.json").read_bytes() == b"old"


def test_symlinks_are_never_written_so_the_python_3_11_7_escape_fails(
    tmp_path: Path, work: Path
) -> None:
    """CVE-2025-4517 (fixed in 3.11.13): symlinks written earlier take the data filter's
    realpath past PATH_MAX, where it stops resolving. On 3.11.7, `extractall(filter="data")`
    of this archive wrote `newfile` beside the target (measured); here links must end at files.
    """
    target = work / "target"
    steps = "abcdefghijklmnop"
    room = os.pathconf(work, "PC_PATH_MAX") - len(str(target)) - 1
    component, path, members = "d" * (room // (len(steps) + 1)), "", []
    for step in steps:
        members += [directory(f"{path}{component}"), link(f"{path}{step}", component)]
        path += f"{component}/"
    deepest = "/".join([*steps, "l" * 254])
    members += [link(deepest, "/".join([".."] * len(steps))), link("escape", f"{deepest}/..")]
    model = archive(tmp_path / "model.tar", *members, file("escape/newfile"), mode="w")

    with pytest.raises(ArchiveRefused, match=r"link 'a' points at 'ddd.*not a file in the archive"):
        SafeTarExtractor().extract(model, target)

    assert list(work.iterdir()) == []
    assert not list(tmp_path.rglob("newfile"))
