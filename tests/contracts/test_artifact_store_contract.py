"""Contract tests every ArtifactStore adapter must pass.

S3 (boto3, and aioboto3 through a blocking facade) runs against the moto server, in a
fresh bucket per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.contracts.blocking import Blocking, event_loop_thread

from receipts.adapters.aws_clients import async_client
from receipts.adapters.local.artifact_store import LocalArtifactStore, PathOutsideRoot
from receipts.adapters.memory.artifact_store import InMemoryArtifactStore
from receipts.adapters.s3.artifact_store import S3ArtifactStore
from receipts.adapters.s3.async_artifact_store import AsyncS3ArtifactStore
from receipts.application.ports.artifact_store import ArtifactNotFound, ArtifactStore


@dataclass
class Subject:
    store: ArtifactStore
    base: str

    def uri(self, key: str) -> str:
        return self.base + key


@pytest.fixture(
    params=[
        "memory",
        "local",
        pytest.param("s3", marks=pytest.mark.aws),
        pytest.param("s3-async", marks=pytest.mark.aws),
    ]
)
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    if request.param == "memory":
        yield Subject(InMemoryArtifactStore(), "memory://bucket/")
    elif request.param == "s3":
        request.getfixturevalue("aws_env")
        bucket = request.getfixturevalue("unique_name")
        s3_store = S3ArtifactStore()
        s3_store.create_bucket(bucket)
        yield Subject(s3_store, f"s3://{bucket}/")
    elif request.param == "s3-async":
        request.getfixturevalue("aws_env")
        bucket = request.getfixturevalue("unique_name")
        with event_loop_thread() as loop, loop.entered(async_client("s3")) as s3:
            async_store = AsyncS3ArtifactStore(s3)
            loop.run(async_store.create_bucket(bucket))
            blocking: ArtifactStore = Blocking(async_store, loop)
            yield Subject(blocking, f"s3://{bucket}/")
    else:
        store = LocalArtifactStore(tmp_path / "root")
        yield Subject(store, f"file://{store.root.as_posix()}/")


def tree(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file()
    }


def test_implements_the_port(subject: Subject) -> None:
    assert isinstance(subject.store, ArtifactStore)


def test_bytes_round_trip_and_overwrite(subject: Subject) -> None:
    uri = subject.uri("runs/r1/metrics.json")
    subject.store.put_bytes(uri, b"first")
    assert subject.store.get_bytes(uri) == b"first"

    subject.store.put_bytes(uri, b"\x00second\xff")

    assert subject.store.get_bytes(uri) == b"\x00second\xff"
    assert subject.store.list(subject.base) == [uri]


def test_missing_object_raises_artifact_not_found(subject: Subject) -> None:
    uri = subject.uri("nothing/here.bin")
    with pytest.raises(ArtifactNotFound) as raised:
        subject.store.get_bytes(uri)
    assert raised.value.uri == uri


def test_exists_and_delete(subject: Subject) -> None:
    uri = subject.uri("a/b.bin")
    assert not subject.store.exists(uri)
    subject.store.put_bytes(uri, b"x")
    assert subject.store.exists(uri)
    assert not subject.store.exists(subject.uri("a"))

    subject.store.delete(uri)
    subject.store.delete(uri)

    assert not subject.store.exists(uri)
    with pytest.raises(ArtifactNotFound):
        subject.store.get_bytes(uri)


def test_list_under_prefix_is_sorted_and_bounded(subject: Subject) -> None:
    for key in ["runs/r1/b.bin", "runs/r1/a.bin", "runs/r1/sub/c.bin", "runs/r10/x", "other/y"]:
        subject.store.put_bytes(subject.uri(key), key.encode())

    expected = [subject.uri(k) for k in ["runs/r1/a.bin", "runs/r1/b.bin", "runs/r1/sub/c.bin"]]
    assert subject.store.list(subject.uri("runs/r1/")) == expected
    assert subject.store.list(subject.uri("runs/r1")) == expected
    assert subject.store.list(subject.uri("missing/")) == []
    assert len(subject.store.list(subject.base)) == 5


def test_file_round_trip(subject: Subject, tmp_path: Path) -> None:
    source = tmp_path / "in" / "model.bin"
    source.parent.mkdir()
    source.write_bytes(b"weights" * 1000)
    uri = subject.uri("models/model.bin")

    subject.store.upload_file(source, uri)
    target = tmp_path / "out" / "nested" / "model.bin"
    subject.store.download_file(uri, target)

    assert target.read_bytes() == source.read_bytes()
    assert subject.store.get_bytes(uri) == source.read_bytes()


def test_download_file_replaces_existing_file(subject: Subject, tmp_path: Path) -> None:
    uri = subject.uri("x.txt")
    subject.store.put_bytes(uri, b"new")
    target = tmp_path / "x.txt"
    target.write_bytes(b"old content")

    subject.store.download_file(uri, target)

    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "root") == ["x.txt"]


def test_download_of_missing_object_leaves_no_file(subject: Subject, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()

    with pytest.raises(ArtifactNotFound):
        subject.store.download_file(subject.uri("missing.bin"), out / "missing.bin")

    assert list(out.iterdir()) == []


def test_upload_file_of_missing_path_writes_nothing(subject: Subject, tmp_path: Path) -> None:
    uri = subject.uri("never.bin")
    with pytest.raises(FileNotFoundError):
        subject.store.upload_file(tmp_path / "absent.bin", uri)
    assert not subject.store.exists(uri)
    assert subject.store.list(subject.base) == []


def test_directory_trees_round_trip(subject: Subject, tmp_path: Path) -> None:
    source = tmp_path / "bundle"
    files = {"config.json": b"{}", "weights/part-0.bin": b"\x01" * 10, "weights/deep/x": b"x"}
    for relative, data in files.items():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_bytes(data)
    prefix = subject.uri("bundles/v1/")

    uploaded = subject.store.upload_dir(source, prefix)

    assert uploaded == [prefix + k for k in sorted(files)]
    assert subject.store.list(prefix) == uploaded
    target = tmp_path / "restored"
    written = subject.store.download_dir(subject.uri("bundles/v1"), target)
    assert sorted(written) == sorted(target / k for k in files)
    assert tree(target) == files


def test_download_dir_of_empty_prefix_writes_nothing(subject: Subject, tmp_path: Path) -> None:
    assert subject.store.download_dir(subject.uri("none/"), tmp_path / "empty") == []
    assert tree(tmp_path / "empty") == {}


def stage(subject: Subject, tmp_path: Path, prefix: str, files: dict[str, bytes]) -> None:
    source = tmp_path / prefix.strip("/").replace("/", "-")
    for relative, data in files.items():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_bytes(data)
    subject.store.upload_dir(source, subject.uri(prefix))


def published(subject: Subject, prefix: str) -> dict[str, bytes]:
    base = subject.uri(prefix)
    return {
        uri.removeprefix(base): subject.store.get_bytes(uri) for uri in subject.store.list(base)
    }


def test_publish_dir_replaces_the_tree_and_removes_the_staging(
    subject: Subject, tmp_path: Path
) -> None:
    old = {"manifest.json": b"old", "LayoutLM.mlpackage/weights.bin": b"w0", "old-only": b"x"}
    stage(subject, tmp_path, "out/.staging/e/1/", old)
    assert subject.store.publish_dir(subject.uri("out/.staging/e/1/"), subject.uri("out/f16/"))
    new = {"manifest.json": b"new", "LayoutLM.mlpackage/weights.bin": b"w1", "vocab.txt": b"v"}
    stage(subject, tmp_path, "out/.staging/e/2/", new)

    assert subject.store.publish_dir(subject.uri("out/.staging/e/2/"), subject.uri("out/f16/"))

    assert published(subject, "out/f16/") == new
    assert subject.store.list(subject.uri("out/.staging/")) == []
    # a second publish of the same staging finds nothing staged and changes nothing
    assert not subject.store.publish_dir(subject.uri("out/.staging/e/2/"), subject.uri("out/f16/"))
    assert published(subject, "out/f16/") == new


def test_delete_dir_removes_every_object_under_the_prefix_only(
    subject: Subject, tmp_path: Path
) -> None:
    stage(subject, tmp_path, "out/.staging/e/", {"1/a": b"a", "2/deep/b": b"b"})
    subject.store.put_bytes(subject.uri("out/.staging/other"), b"kept")

    subject.store.delete_dir(subject.uri("out/.staging/e/"))
    subject.store.delete_dir(subject.uri("out/none/"))

    assert subject.store.list(subject.uri("out/")) == [subject.uri("out/.staging/other")]


def test_upload_dir_needs_a_directory(subject: Subject, tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        subject.store.upload_dir(tmp_path / "absent", subject.uri("x/"))


def test_wrong_scheme_is_refused(subject: Subject) -> None:
    expected = f"{subject.store.scheme}://"
    for foreign in ["s3://bucket/key", "memory://bucket/key", "file:///tmp/key"]:
        if foreign.startswith(expected):
            continue
        with pytest.raises(ValueError, match=expected):
            subject.store.put_bytes(foreign, b"x")
        with pytest.raises(ValueError, match=expected):
            subject.store.get_bytes(foreign)
        with pytest.raises(ValueError, match=expected):
            subject.store.list(foreign)


@pytest.mark.parametrize("bad", ["not a uri", "memory://bucket/a/../b", "file:///x/./y"])
def test_malformed_uri_is_refused(subject: Subject, bad: str) -> None:
    with pytest.raises(ValueError):
        subject.store.exists(bad)


def test_prefix_uri_is_not_an_object(subject: Subject) -> None:
    with pytest.raises(ValueError, match="prefix"):
        subject.store.put_bytes(subject.uri("dir/"), b"x")


@pytest.fixture
def local(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "root")


def test_local_store_refuses_paths_outside_root(local: LocalArtifactStore) -> None:
    with pytest.raises(PathOutsideRoot, match="file:///etc/passwd"):
        local.get_bytes("file:///etc/passwd")
    with pytest.raises(ValueError, match="outside"):
        local.put_bytes(f"file://{local.root.parent.as_posix()}/escaped.bin", b"x")
    assert not (local.root.parent / "escaped.bin").exists()
    with pytest.raises(ValueError, match="outside"):
        local.list("file:///etc/")


def test_local_store_refuses_symlinks_escaping_root(
    local: LocalArtifactStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    (local.root / "link").symlink_to(outside, target_is_directory=True)
    (local.root / "secret-link.txt").symlink_to(outside / "secret.txt")
    local.put_bytes(local.uri_for(Path("kept.txt")), b"kept")
    base = f"file://{local.root.as_posix()}"

    with pytest.raises(PathOutsideRoot):
        local.get_bytes(f"{base}/link/secret.txt")
    with pytest.raises(PathOutsideRoot):
        local.get_bytes(f"{base}/secret-link.txt")
    with pytest.raises(PathOutsideRoot):
        local.put_bytes(f"{base}/link/planted.txt", b"x")
    with pytest.raises(PathOutsideRoot):
        local.download_file(f"{base}/secret-link.txt", tmp_path / "stolen.txt")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert not (tmp_path / "stolen.txt").exists()
    assert local.list(base + "/") == [f"{base}/kept.txt"]


def test_local_store_writes_leave_no_temporary_files(local: LocalArtifactStore) -> None:
    uri = local.uri_for(Path("a/b.bin"))
    for index in range(3):
        local.put_bytes(uri, bytes([index]) * 100)

    assert [p.name for p in (local.root / "a").iterdir()] == ["b.bin"]


def test_local_store_uri_for(local: LocalArtifactStore, tmp_path: Path) -> None:
    (local.root / "runs").mkdir()

    assert local.uri_for(Path("runs/m.bin")) == f"file://{local.root.as_posix()}/runs/m.bin"
    assert local.uri_for(local.root / "runs") == f"file://{local.root.as_posix()}/runs/"
    with pytest.raises(PathOutsideRoot):
        local.uri_for(tmp_path / "elsewhere.bin")
    with pytest.raises(PathOutsideRoot):
        local.uri_for(Path("../elsewhere.bin"))


def test_local_store_accepts_localhost_uris(local: LocalArtifactStore) -> None:
    local.put_bytes(f"file://localhost{local.root.as_posix()}/x.bin", b"x")
    assert local.get_bytes(local.uri_for(Path("x.bin"))) == b"x"
