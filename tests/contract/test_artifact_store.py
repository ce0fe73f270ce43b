"""The ArtifactStore contract, on both implementations: the directory store and the S3
store against a real MinIO (``tests/support/minio.py``), never a mock."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest

from bookkeeper_jobs.artifacts import ArtifactStore, DirectoryArtifactStore
from bookkeeper_jobs.artifacts.s3 import PART_BYTES, S3ArtifactStore
from bookkeeper_jobs.errors import ArtifactTooLargeError
from bookkeeper_jobs.jobs import utcnow
from bookkeeper_jobs.tasks.error_report import ErrorReport
from bookkeeper_jobs.tasks.model_cache import ModelCache, TrainingVersion
from tests.support.minio import KMS_KEY_ID, Minio, running_minio


@pytest.fixture(scope="session")
def minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Minio]:
    with running_minio(tmp_path_factory.mktemp("minio")) as server:
        yield server


@pytest.fixture
def s3_store(minio: Minio) -> Iterator[Callable[..., S3ArtifactStore]]:
    """Makes S3 stores, each on a new bucket; their connections are closed afterwards."""
    made: list[S3ArtifactStore] = []

    def make(**options: Any) -> S3ArtifactStore:
        store = S3ArtifactStore(
            minio.new_bucket(),
            prefix="env/",
            endpoint_url=minio.endpoint_url,
            region="us-east-1",
            client_options=minio.credentials,
            **options,
        )
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture(params=["directory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "directory":
        return DirectoryArtifactStore(tmp_path / "artifacts")
    make: Callable[..., S3ArtifactStore] = request.getfixturevalue("s3_store")
    return make()


async def chunks_of(data: bytes, size: int = 1024 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def read(stream: BinaryIO) -> bytes:
    with stream:
        return stream.read()


def save(store: ArtifactStore, data: bytes, max_bytes: int = 64 * 1024 * 1024) -> str:
    return asyncio.run(store.save_stream(chunks_of(data), max_bytes=max_bytes))


def test_a_saved_stream_reads_back_and_seeks(store: ArtifactStore) -> None:
    data = b"Date,Description,Amount\n" + b"01/02/2024,Coffee,-3.50\n" * 1000
    artifact_id = save(store, data)

    assert store.exists(artifact_id)
    with store.open(artifact_id) as stream:
        assert stream.readline() == b"Date,Description,Amount\n"
        assert stream.read() == data[24:]
        stream.seek(0)  # the upload task counts the lines, then reads them again
        assert stream.read(4) == b"Date"
        assert stream.seek(0, io.SEEK_END) == len(data)
        stream.seek(10)
        assert stream.read() == data[10:]


def test_a_multipart_upload_reads_back_whole(store: ArtifactStore) -> None:
    data = bytes(range(256)) * ((2 * PART_BYTES + 12345) // 256)  # three parts in S3
    artifact_id = save(store, data)
    with store.open(artifact_id) as stream:
        assert stream.read() == data


def test_saved_bytes_and_folders_are_apart(store: ArtifactStore) -> None:
    receipt = store.receipts.save_bytes(b"\xff\xd8 a jpeg")
    export = store.exports.save_bytes(b"csv")
    assert read(store.receipts.open(receipt)) == b"\xff\xd8 a jpeg"
    assert read(store.exports.open(export)) == b"csv"
    assert not store.exists(receipt) and not store.exports.exists(receipt)


def test_delete_removes_the_upload_and_its_report(store: ArtifactStore) -> None:
    artifact_id = save(store, b"a,b\n")
    store.save_report(artifact_id, io.BytesIO(b"line,error\n2,bad\n"))
    assert read(store.open_report(artifact_id)) == b"line,error\n2,bad\n"

    store.delete(artifact_id)
    store.delete(artifact_id)  # twice is fine

    assert not store.exists(artifact_id)
    with pytest.raises(FileNotFoundError):
        store.open(artifact_id)
    with pytest.raises(FileNotFoundError):
        store.open_report(artifact_id)


def test_a_missing_artifact_is_file_not_found(store: ArtifactStore) -> None:
    missing = "0" * 32
    assert not store.exists(missing)
    with pytest.raises(FileNotFoundError):
        read(store.open(missing))
    with pytest.raises(ValueError, match="not an artifact id"):
        store.open("../../etc/passwd")


@pytest.mark.parametrize("size", [100, 3 * PART_BYTES])
def test_a_too_large_upload_leaves_nothing(store: ArtifactStore, size: int) -> None:
    with pytest.raises(ArtifactTooLargeError):
        save(store, b"x" * size, max_bytes=size - 1)
    assert nothing_stored(store)


def test_a_failing_stream_leaves_nothing(store: ArtifactStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"y" * (PART_BYTES + 1)  # a part is uploaded before the client goes away
        raise RuntimeError("the request broke off")

    with pytest.raises(RuntimeError, match="broke off"):
        asyncio.run(store.save_stream(broken(), max_bytes=10 * PART_BYTES))
    assert nothing_stored(store)


def nothing_stored(store: ArtifactStore) -> bool:
    if isinstance(store, DirectoryArtifactStore):
        return not store.root.exists() or not any(p.is_file() for p in store.root.rglob("*"))
    assert isinstance(store, S3ArtifactStore)
    client = store.client
    objects = client.list_objects_v2(Bucket=store.bucket).get("Contents") or []
    uploads = client.list_multipart_uploads(Bucket=store.bucket).get("Uploads") or []
    return objects == [] and uploads == []


def test_the_sweep_deletes_only_unreferenced_uploads(store: ArtifactStore) -> None:
    kept, orphan = save(store, b"kept"), save(store, b"orphan")
    store.save_report(orphan, io.BytesIO(b"line,error\n"))
    receipt = store.receipts.save_bytes(b"receipt")

    assert store.delete_unreferenced({kept}, older_than=utcnow() - timedelta(hours=1)) == 0
    deleted = store.delete_unreferenced({kept}, older_than=utcnow() + timedelta(seconds=5))

    assert deleted == 2  # the upload and its report
    assert store.exists(kept) and not store.exists(orphan)
    assert store.receipts.exists(receipt), "receipts are never swept"


def test_error_reports_and_the_model_cache_use_the_store(store: ArtifactStore) -> None:
    artifact_id = save(store, b"a,b\n")
    with ErrorReport(store, artifact_id) as report:
        report.add(2, "=HYPERLINK()")
    assert read(store.open_report(artifact_id)) == b"line,error\r\n2,'=HYPERLINK()\r\n"
    with ErrorReport(store, artifact_id):  # a retry without bad rows: no report
        pass
    with pytest.raises(FileNotFoundError):
        store.open_report(artifact_id)

    cache = ModelCache.in_store(store, None)
    cache.store("company-1", TrainingVersion(36, 0), b"pickled model")
    again = ModelCache.in_store(store, None)  # the signing key is kept in the store too
    loaded = again.load("company-1")
    assert loaded is not None and loaded.data == b"pickled model"
    assert again.load("company-2") is None


def test_the_store_is_ready(store: ArtifactStore) -> None:
    assert store.unready_reason() is None


# --- S3 only ------------------------------------------------------------------------


@pytest.mark.parametrize("sse", ["AES256", "aws:kms"])
def test_objects_are_encrypted_server_side_when_configured(
    minio: Minio, s3_store: Callable[..., S3ArtifactStore], sse: str
) -> None:
    store = s3_store(sse=sse, sse_kms_key_id=KMS_KEY_ID if sse == "aws:kms" else None)
    small = store.save_bytes(b"receipt")
    large = save(store, b"z" * (PART_BYTES + 10))  # multipart
    store.save_report(large, io.BytesIO(b"line,error\n"))

    for key in (store.key(small), store.key(large), store.report_key(large)):
        head = store.client.head_object(Bucket=store.bucket, Key=key)
        assert head["ServerSideEncryption"] == sse, key
        if sse == "aws:kms":
            assert KMS_KEY_ID in head["SSEKMSKeyId"]
    assert read(store.open(large)) == b"z" * (PART_BYTES + 10)


def test_without_sse_objects_are_not_encrypted_by_the_store(
    minio: Minio, s3_store: Callable[..., S3ArtifactStore]
) -> None:
    store = s3_store()
    head = store.client.head_object(Bucket=store.bucket, Key=store.key(store.save_bytes(b"x")))
    assert "ServerSideEncryption" not in head


def test_presigned_urls_serve_the_file_then_expire(
    minio: Minio, s3_store: Callable[..., S3ArtifactStore]
) -> None:
    store = s3_store(presign_seconds=1)
    artifact_id = store.receipts.save_bytes(b"\x89PNG receipt")
    url = store.receipts.download_url(
        artifact_id, filename="café receipt.png", content_type="image/png"
    )
    assert url is not None

    fresh = httpx.get(url)
    assert fresh.status_code == 200 and fresh.content == b"\x89PNG receipt"
    assert fresh.headers["content-type"] == "image/png"
    assert (
        fresh.headers["content-disposition"]
        == "attachment; filename*=utf-8''caf%C3%A9%20receipt.png"
    )

    time.sleep(2.5)
    assert httpx.get(url).status_code == 403, "expired"


def test_no_presigned_urls_unless_configured(
    minio: Minio, s3_store: Callable[..., S3ArtifactStore]
) -> None:
    store = s3_store()
    artifact_id = store.save_bytes(b"x")
    assert store.download_url(artifact_id, filename="a", content_type="text/csv") is None


def test_an_unreachable_or_missing_bucket_is_unready(minio: Minio) -> None:
    missing = S3ArtifactStore(
        "no-such-bucket-here",
        endpoint_url=minio.endpoint_url,
        region="us-east-1",
        client_options=minio.credentials,
    )
    assert "NoSuchBucket" in (missing.unready_reason() or "")
    missing.close()
    wrong_key = S3ArtifactStore(
        minio.new_bucket(),
        endpoint_url=minio.endpoint_url,
        region="us-east-1",
        client_options={**minio.credentials, "aws_secret_access_key": "wrong"},
    )
    assert "SignatureDoesNotMatch" in (wrong_key.unready_reason() or "")
    wrong_key.close()
