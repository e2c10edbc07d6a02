"""S3ArtifactStore (boto3) on the moto server: what the artifact-store contract does not cover."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from receipts.adapters.aws_clients import client
from receipts.adapters.s3.artifact_store import BucketMissing, S3ArtifactStore
from receipts.application.ports.artifact_store import ArtifactNotFound
from receipts.domain.artifacts import InvalidArtifactURI

MiB = 1024 * 1024
SMALL_PARTS = TransferConfig(multipart_threshold=6 * MiB, multipart_chunksize=5 * MiB)
"""S3's smallest part is 5 MiB; a lowered threshold makes an 11 MiB file go up in three."""


@pytest.fixture
def bucket(aws_env: dict[str, str], unique_name: str) -> str:
    S3ArtifactStore().create_bucket(unique_name)
    return unique_name


@pytest.fixture
def store(bucket: str) -> S3ArtifactStore:
    return S3ArtifactStore(transfer=SMALL_PARTS)


def parts_of(s3: Any, bucket: str, key: str) -> int:
    """How many parts the object was uploaded in (1 for a single PUT), from its ETag."""
    etag: str = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    return int(etag.partition("-")[2] or 1)


def test_missing_bucket_is_named_by_every_operation(
    aws_env: dict[str, str], unique_name: str, tmp_path: Path
) -> None:
    store = S3ArtifactStore()
    uri = f"s3://{unique_name}/a/b.bin"
    source = tmp_path / "x.bin"
    source.write_bytes(b"x")
    calls: dict[str, Callable[[], object]] = {
        "put_bytes": lambda: store.put_bytes(uri, b"x"),
        "get_bytes": lambda: store.get_bytes(uri),
        "exists": lambda: store.exists(uri),
        "list": lambda: store.list(f"s3://{unique_name}/a/"),
        "delete": lambda: store.delete(uri),
        "upload_file": lambda: store.upload_file(source, uri),
        "download_file": lambda: store.download_file(uri, tmp_path / "out.bin"),
        "download_dir": lambda: store.download_dir(f"s3://{unique_name}/a/", tmp_path / "d"),
    }
    for name, call in calls.items():
        with pytest.raises(BucketMissing, match=f"'{unique_name}' does not exist") as raised:
            call()
        assert raised.value.bucket == unique_name, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_missing_key_names_the_uri(store: S3ArtifactStore, bucket: str, tmp_path: Path) -> None:
    uri = f"s3://{bucket}/runs/none.bin"
    with pytest.raises(ArtifactNotFound, match=f"no artifact at {uri}"):
        store.download_file(uri, tmp_path / "none.bin")
    with pytest.raises(ArtifactNotFound, match=f"no artifact at {uri}"):
        store.get_bytes(uri)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("s3:///key", "names no bucket"),
        ("s3://bucket/a/../b", "'..' segments"),
        ("s3://bucket/./b", "'..' segments"),
        ("https://bucket/key", "unknown scheme"),
        ("file:///tmp/key", "s3://"),
        ("s3://Bad_Bucket/key", "not a valid S3 bucket name"),
        ("bucket/key", "not a URI"),
    ],
)
def test_invalid_uris_are_refused_before_any_request(uri: str, problem: str) -> None:
    store = S3ArtifactStore(s3=object())  # a request would fail on this "client"
    for call in (store.exists, store.get_bytes, store.delete):
        with pytest.raises(InvalidArtifactURI, match=problem):
            call(uri)


def test_large_file_goes_up_in_parts_and_round_trips(
    store: S3ArtifactStore, bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "model.safetensors"
    data = os.urandom(11 * MiB + 123)
    source.write_bytes(data)
    uri = f"s3://{bucket}/runs/r1/model.safetensors"

    store.upload_file(source, uri)

    assert parts_of(store.s3, bucket, "runs/r1/model.safetensors") == 3
    target = tmp_path / "back" / "model.safetensors"
    store.download_file(uri, target)
    assert target.read_bytes() == data
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.safetensors"]


def test_large_bytes_go_up_in_parts(store: S3ArtifactStore, bucket: str) -> None:
    data = os.urandom(7 * MiB)
    store.put_bytes(f"s3://{bucket}/blob", data)

    assert parts_of(store.s3, bucket, "blob") == 2
    assert store.get_bytes(f"s3://{bucket}/blob") == data


def test_small_file_is_one_put(store: S3ArtifactStore, bucket: str, tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b"{}")
    store.upload_file(tmp_path / "a.json", f"s3://{bucket}/a.json")
    assert parts_of(store.s3, bucket, "a.json") == 1


def test_nested_directory_round_trips(store: S3ArtifactStore, bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "bundle"
    files = {
        f"LayoutLM.mlpackage/Data/com.apple.CoreML/weights/{i}/w.bin": os.urandom(i * 10)
        for i in range(8)
    }
    files["LayoutLM.mlpackage/Manifest.json"] = b'{"x": 1}'
    files["labels.txt"] = b"O\nB-TOTAL\n"
    for relative, data in files.items():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_bytes(data)

    uploaded = store.upload_dir(source, f"s3://{bucket}/coreml/job-1")
    written = store.download_dir(f"s3://{bucket}/coreml/job-1/", tmp_path / "restored")

    assert len(uploaded) == len(files)
    assert sorted(written) == sorted(tmp_path / "restored" / k for k in files)
    for relative, data in files.items():
        assert (tmp_path / "restored" / relative).read_bytes() == data


@pytest.mark.parametrize(
    "key",
    ["bundle/../../escaped.txt", "bundle/a/../../../escaped.txt", "bundle//etc/x", "bundle/./x"],
)
def test_download_dir_refuses_keys_escaping_the_target(
    store: S3ArtifactStore, bucket: str, tmp_path: Path, key: str
) -> None:
    s3 = client("s3")
    s3.put_object(Bucket=bucket, Key="bundle/a.txt", Body=b"fine")
    s3.put_object(Bucket=bucket, Key=key, Body=b"planted")
    target = tmp_path / "work" / "out"

    with pytest.raises(InvalidArtifactURI, match=key.replace(".", r"\.")):
        store.download_dir(f"s3://{bucket}/bundle/", target)

    assert not (tmp_path / "work").exists()
    assert not list(tmp_path.rglob("escaped.txt"))


def test_download_dir_refuses_a_symlink_out_of_the_target(
    store: S3ArtifactStore, bucket: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "out"
    target.mkdir()
    (target / "link").symlink_to(outside, target_is_directory=True)
    store.put_bytes(f"s3://{bucket}/bundle/link/planted.txt", b"x")

    with pytest.raises(InvalidArtifactURI, match="outside"):
        store.download_dir(f"s3://{bucket}/bundle/", target)

    assert list(outside.iterdir()) == []


def test_folder_markers_are_skipped(store: S3ArtifactStore, bucket: str, tmp_path: Path) -> None:
    store.s3.put_object(Bucket=bucket, Key="bundle/empty-dir/", Body=b"")
    store.put_bytes(f"s3://{bucket}/bundle/file.txt", b"x")

    assert store.download_dir(f"s3://{bucket}/bundle", tmp_path) == [tmp_path / "file.txt"]
