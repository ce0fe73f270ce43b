"""The artifact store in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, ...), for cluster
mode without a ReadWriteMany volume.

Keys are ``<BKJOBS_S3_PREFIX><layout>``, the same layout as the directory store. Credentials
come from boto3's default chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, the
chart passes them from a Secret, or IRSA/EKS Pod Identity's web identity token, or an
instance profile); nothing here reads them. Objects are written with the configured
server-side encryption (``BKJOBS_S3_SSE``). Uploads are streamed into a multipart upload
bounded by ``max_bytes`` and aborted on any failure, so no object is ever half written;
reads are streamed by ranged GETs pinned to the object's ETag.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from bookkeeper_jobs.artifacts import attachment
from bookkeeper_jobs.artifacts.directory import (
    ARTIFACT_ID,
    EXPORTS_FOLDER,
    RECEIPTS_FOLDER,
    REPORT_SUFFIX,
    check_artifact_id,
    check_blob_name,
    check_folder_name,
)
from bookkeeper_jobs.errors import ArtifactTooLargeError, StorageError

if TYPE_CHECKING:
    from bookkeeper_jobs.settings import Settings

PART_BYTES = 8 * 1024 * 1024
"""Multipart part size (S3's minimum is 5 MiB for every part but the last); an upload
smaller than one part is a single PUT."""
READ_BUFFER_BYTES = 256 * 1024
_UPLOAD_FOLDER = re.compile(r"^[a-f0-9]{2}/$")
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})

Sse = Literal["none", "AES256", "aws:kms"]


class S3ArtifactStore:
    """:class:`~bookkeeper_jobs.artifacts.ArtifactStore` in ``bucket`` under ``prefix``."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        sse: Sse = "none",
        sse_kms_key_id: str | None = None,
        presign_seconds: int = 0,
        client_options: Mapping[str, Any] | None = None,
        shared_client: _SharedClient | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("the S3 artifact store needs a bucket")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url or None
        self.region = region or None
        self.sse = sse
        self.sse_kms_key_id = sse_kms_key_id or None
        self.presign_seconds = presign_seconds
        self._client_options = dict(client_options or {})
        self._shared = shared_client or _SharedClient(self._new_client)

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ArtifactStore:
        return cls(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            sse=settings.s3_sse,
            sse_kms_key_id=settings.s3_sse_kms_key_id,
            presign_seconds=settings.s3_presign_seconds,
        )

    @property
    def client(self) -> Any:
        """The boto3 client, made on first use in each process (task runners fork) and
        shared by this store's folders (``receipts``, ``exports``, ``models``)."""
        return self._shared.get()

    def close(self) -> None:
        """Close the client's connections (this store and its folders)."""
        self._shared.close()

    def _new_client(self) -> Any:
        config = Config(
            signature_version="s3v4",
            connect_timeout=5,
            read_timeout=60,
            retries={"mode": "standard", "max_attempts": 4},
            # Path-style for S3-compatibles (MinIO has no virtual-host buckets by default).
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            config=config,
            **self._client_options,
        )

    # --- layout -------------------------------------------------------------------

    def key(self, artifact_id: str) -> str:
        check_artifact_id(artifact_id)
        return f"{self.prefix}{artifact_id[:2]}/{artifact_id}"

    def report_key(self, artifact_id: str) -> str:
        return f"{self.key(artifact_id)}{REPORT_SUFFIX}"

    def folder(self, name: str) -> S3ArtifactStore:
        return S3ArtifactStore(
            self.bucket,
            prefix=f"{self.prefix}{check_folder_name(name)}/",
            endpoint_url=self.endpoint_url,
            region=self.region,
            sse=self.sse,
            sse_kms_key_id=self.sse_kms_key_id,
            presign_seconds=self.presign_seconds,
            client_options=self._client_options,
            shared_client=self._shared,
        )

    @property
    def receipts(self) -> S3ArtifactStore:
        return self.folder(RECEIPTS_FOLDER)

    @property
    def exports(self) -> S3ArtifactStore:
        return self.folder(EXPORTS_FOLDER)

    def _sse_args(self) -> dict[str, str]:
        if self.sse == "none":
            return {}
        args: dict[str, str] = {"ServerSideEncryption": self.sse}
        if self.sse == "aws:kms" and self.sse_kms_key_id:
            args["SSEKMSKeyId"] = self.sse_kms_key_id
        return args

    # --- writes -------------------------------------------------------------------

    async def save_stream(self, chunks: AsyncIterator[bytes], *, max_bytes: int) -> str:
        artifact_id = secrets.token_hex(16)
        key = self.key(artifact_id)
        buffer = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise ArtifactTooLargeError(max_bytes)
                buffer += chunk
                if len(buffer) >= PART_BYTES:
                    if upload_id is None:
                        upload_id = await asyncio.to_thread(self._start_multipart, key)
                    part = bytes(buffer)
                    buffer.clear()
                    parts.append(await asyncio.to_thread(self._part, key, upload_id, parts, part))
            if upload_id is None:
                await asyncio.to_thread(self._put, key, bytes(buffer))
            else:
                if buffer or not parts:
                    part = bytes(buffer)
                    parts.append(await asyncio.to_thread(self._part, key, upload_id, parts, part))
                await asyncio.to_thread(self._complete, key, upload_id, parts)
        except BaseException:
            if upload_id is not None:  # nothing half written: the parts are discarded
                with contextlib.suppress(BotoCoreError, ClientError):
                    await asyncio.shield(asyncio.to_thread(self._abort, key, upload_id))
            raise
        return artifact_id

    def save_bytes(self, data: bytes) -> str:
        artifact_id = secrets.token_hex(16)
        self._put(self.key(artifact_id), data)
        return artifact_id

    def save_report(self, artifact_id: str, data: BinaryIO) -> None:
        with s3_errors():
            self.client.upload_fileobj(
                data, self.bucket, self.report_key(artifact_id), ExtraArgs=self._sse_args()
            )

    def _put(self, key: str, data: bytes) -> None:
        with s3_errors():
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **self._sse_args())

    def _start_multipart(self, key: str) -> str:
        with s3_errors():
            answer = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, **self._sse_args()
            )
        return str(answer["UploadId"])

    def _part(
        self, key: str, upload_id: str, parts: list[dict[str, Any]], data: bytes
    ) -> dict[str, Any]:
        number = len(parts) + 1
        with s3_errors():
            answer = self.client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
        return {"ETag": answer["ETag"], "PartNumber": number}

    def _complete(self, key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
        with s3_errors():
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )

    def _abort(self, key: str, upload_id: str) -> None:
        self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    # --- reads --------------------------------------------------------------------

    def open(self, artifact_id: str) -> BinaryIO:
        return self._open_key(self.key(artifact_id))

    def open_report(self, artifact_id: str) -> BinaryIO:
        return self._open_key(self.report_key(artifact_id))

    def _open_key(self, key: str) -> BinaryIO:
        raw = S3ObjectReader(self.client, self.bucket, key)
        return io.BufferedReader(raw, buffer_size=READ_BUFFER_BYTES)

    def exists(self, artifact_id: str) -> bool:
        try:
            with s3_errors():
                self.client.head_object(Bucket=self.bucket, Key=self.key(artifact_id))
        except FileNotFoundError:
            return False
        return True

    def local_file(self, artifact_id: str, *, report: bool = False) -> Path | None:
        return None

    def download_url(
        self, artifact_id: str, *, filename: str, content_type: str, report: bool = False
    ) -> str | None:
        """A presigned GET valid ``presign_seconds`` (``BKJOBS_S3_PRESIGN_SECONDS``), or
        ``None`` (the default, 0): downloads go through the API."""
        if self.presign_seconds <= 0:
            return None
        key = self.report_key(artifact_id) if report else self.key(artifact_id)
        with s3_errors():
            return str(
                self.client.generate_presigned_url(
                    "get_object",
                    Params={
                        "Bucket": self.bucket,
                        "Key": key,
                        "ResponseContentType": content_type,
                        "ResponseContentDisposition": attachment(filename),
                    },
                    ExpiresIn=self.presign_seconds,
                )
            )

    # --- deletes ------------------------------------------------------------------

    def delete(self, artifact_id: str) -> None:
        keys = [self.key(artifact_id), self.report_key(artifact_id)]
        self._delete_keys(keys)

    def delete_report(self, artifact_id: str) -> None:
        self._delete_keys([self.report_key(artifact_id)])

    def _delete_keys(self, keys: list[str]) -> None:
        with s3_errors():
            for key in keys:  # DeleteObject of a missing key succeeds
                self.client.delete_object(Bucket=self.bucket, Key=key)

    # --- named blobs (the model cache) -------------------------------------------

    def read_blob(self, name: str) -> bytes | None:
        key = f"{self.prefix}{check_blob_name(name)}"
        try:
            with s3_errors():
                answer = self.client.get_object(Bucket=self.bucket, Key=key)
                return bytes(answer["Body"].read())
        except (FileNotFoundError, StorageError):
            return None

    def write_blob(self, name: str, data: bytes) -> None:
        self._put(f"{self.prefix}{check_blob_name(name)}", data)  # a PUT replaces atomically

    def keep_first(self, name: str, data: bytes) -> bytes:
        # Read, then write: no conditional write, which not every S3-compatible server has.
        stored = self.read_blob(name)
        if stored is not None:
            return stored
        self.write_blob(name, data)
        return data

    # --- maintenance --------------------------------------------------------------

    def delete_unreferenced(self, referenced: set[str], *, older_than: datetime) -> int:
        deleted = 0
        with s3_errors():
            pages = self.client.get_paginator("list_objects_v2")
            folders = [
                common["Prefix"][len(self.prefix) :]
                for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix, Delimiter="/")
                for common in page.get("CommonPrefixes") or []
            ]
            for folder in filter(_UPLOAD_FOLDER.fullmatch, folders):
                for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix + folder):
                    for item in page.get("Contents") or []:
                        name = item["Key"].rsplit("/", 1)[-1].split(".", 1)[0]
                        if name in referenced or not ARTIFACT_ID.fullmatch(name):
                            continue
                        if item["LastModified"] < older_than:
                            self.client.delete_object(Bucket=self.bucket, Key=item["Key"])
                            deleted += 1
            # Multipart uploads a killed process left open hold storage until aborted.
            uploads = self.client.get_paginator("list_multipart_uploads")
            for page in uploads.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for upload in page.get("Uploads") or []:
                    if upload["Initiated"] < older_than:
                        self._abort(upload["Key"], upload["UploadId"])
                        deleted += 1
        return deleted

    def unready_reason(self) -> str | None:
        """A small PUT and DELETE under the prefix: proves the bucket is reachable, the
        credentials may write and the encryption settings are accepted."""
        key = f"{self.prefix}.probe-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            self._put(key, b"probe")
            self._delete_keys([key])
        except (StorageError, FileNotFoundError) as exc:
            return str(exc) or "the artifact bucket cannot be written"
        return None


class _SharedClient:
    """One boto3 client per process (boto3 clients are thread-safe, not fork-safe)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._client: Any = None
        self._pid = 0
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                self._client, self._pid = self._factory(), os.getpid()
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None


class S3ObjectReader(io.RawIOBase):
    """An object read as a seekable stream: a GET from the current position, re-issued
    (ranged, pinned to the first answer's ETag) after a seek; artifacts never change."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        super().__init__()
        self._client, self._bucket, self._key = client, bucket, key
        self._body: Any = None
        self._body_at = 0
        self._pos = 0
        self._etag = ""
        self.size = 0
        self._open_at(0)

    def _open_at(self, position: int) -> None:
        self._close_body()
        args: dict[str, Any] = {"Bucket": self._bucket, "Key": self._key}
        if position:
            args |= {"Range": f"bytes={position}-", "IfMatch": self._etag}
        with s3_errors():
            answer = self._client.get_object(**args)
        if not position:
            self._etag = str(answer["ETag"])
            self.size = int(answer["ContentLength"])
        self._body, self._body_at = answer["Body"], position

    def _close_body(self) -> None:
        if self._body is not None:
            with contextlib.suppress(Exception):
                self._body.close()
            self._body = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self.size:
            return 0
        if self._body is None or self._body_at != self._pos:
            self._open_at(self._pos)
        with s3_errors():
            data = self._body.read(len(buffer))
        count = len(data)
        buffer[:count] = data
        self._pos += count
        self._body_at += count
        return count

    def close(self) -> None:
        self._close_body()
        super().close()


@contextlib.contextmanager
def s3_errors() -> Iterator[None]:
    """A missing object as ``FileNotFoundError``; every other failure of the bucket or of
    reaching it as :class:`StorageError` (the API answers 503, ``/readyz`` says why)."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error") or {}
        code = str(error.get("Code") or "")
        if code in _MISSING or code == "NoSuchUpload":
            raise FileNotFoundError(f"the stored object is gone ({code})") from exc
        message = error.get("Message") or code
        raise StorageError(f"the artifact bucket refused: {code}: {message}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"the artifact bucket cannot be reached: {exc}") from exc
