"""The artifact store: uploaded statements, receipt files, export files, error reports and
cached models, kept by id.

Requests never name a server path or key: an upload is saved under a random id, and specs
refer to it by that id only. Two implementations of one :class:`ArtifactStore` protocol:

* :class:`DirectoryArtifactStore`: a directory (``<data_dir>/artifacts``), the embedded
  mode's default and the cluster's ReadWriteMany volume when that is what the cluster has;
* :class:`S3ArtifactStore` (``BKJOBS_ARTIFACTS_BACKEND=s3``): an S3-compatible bucket, so
  no pod needs a shared volume.

Both keep the same layout: ``<id[:2]>/<id>`` for uploads (with ``<id>.errors.csv``, the
upload's error report, beside it; swept with finished jobs), ``receipts/`` and ``exports/``
(kept as long as their ledger rows) and ``models/`` (the categorizer cache).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol
from urllib.parse import quote

from bookkeeper_jobs.artifacts.directory import (
    EXPORTS_FOLDER,
    MODELS_FOLDER,
    RECEIPTS_FOLDER,
    REPORT_SUFFIX,
    DirectoryArtifactStore,
    check_artifact_id,
    check_blob_name,
    disk_errors,
)
from bookkeeper_jobs.errors import ArtifactTooLargeError

if TYPE_CHECKING:
    from bookkeeper_jobs.settings import Settings

__all__ = [
    "EXPORTS_FOLDER",
    "MODELS_FOLDER",
    "RECEIPTS_FOLDER",
    "REPORT_SUFFIX",
    "ArtifactStore",
    "ArtifactTooLargeError",
    "DirectoryArtifactStore",
    "artifact_store",
    "attachment",
    "check_artifact_id",
    "check_blob_name",
    "disk_errors",
]


class ArtifactStore(Protocol):
    """Where artifacts are kept. Every method raises
    :class:`~bookkeeper_jobs.errors.StorageError` when the storage under it fails (``full``
    for a full disk), and ``ValueError`` for an id that is not one this store made."""

    def folder(self, name: str) -> ArtifactStore:
        """The same kind of store for one folder (``receipts``, ``exports``, ``models``)."""
        ...

    @property
    def receipts(self) -> ArtifactStore:
        """Receipt files: kept as long as their receipt, outside what the sweep looks at."""
        ...

    @property
    def exports(self) -> ArtifactStore:
        """Export files (CSV, IIF for QuickBooks), outside the sweep too."""
        ...

    async def save_stream(self, chunks: AsyncIterator[bytes], *, max_bytes: int) -> str:
        """Store ``chunks`` as a new artifact; its id. Nothing is left behind if it is
        larger than ``max_bytes`` (:class:`ArtifactTooLargeError`) or the storage fails."""
        ...

    def save_bytes(self, data: bytes) -> str:
        """Store ``data`` (already read and checked) as a new artifact; its id."""
        ...

    def open(self, artifact_id: str) -> BinaryIO:
        """The artifact for reading, streamed and seekable; ``FileNotFoundError`` if gone."""
        ...

    def exists(self, artifact_id: str) -> bool: ...

    def delete(self, artifact_id: str) -> None:
        """Delete the artifact and its error report (nothing if they are gone already)."""
        ...

    def save_report(self, artifact_id: str, data: BinaryIO) -> None:
        """Store ``data`` (read from its start) as the error report of upload ``artifact_id``."""
        ...

    def open_report(self, artifact_id: str) -> BinaryIO:
        """The upload's error report; ``FileNotFoundError`` if it has none."""
        ...

    def delete_report(self, artifact_id: str) -> None: ...

    def local_file(self, artifact_id: str, *, report: bool = False) -> Path | None:
        """The artifact's file when the store is a local directory (the API then serves it
        with ``FileResponse``), else ``None``; the file may not exist."""
        ...

    def download_url(
        self, artifact_id: str, *, filename: str, content_type: str, report: bool = False
    ) -> str | None:
        """A short-lived URL the client may download the artifact from directly (a presigned
        S3 URL), or ``None`` when downloads go through the API. Only for a caller already
        authorised to read the artifact."""
        ...

    def read_blob(self, name: str) -> bytes | None:
        """The named blob (``models/<hash>.model``) or ``None`` when it is absent or
        unreadable; names are plain file names, never paths."""
        ...

    def write_blob(self, name: str, data: bytes) -> None:
        """Replace the named blob whole (a reader sees the old or the new one)."""
        ...

    def keep_first(self, name: str, data: bytes) -> bytes:
        """Store ``data`` under ``name`` unless a blob is there; what is stored afterwards."""
        ...

    def delete_unreferenced(self, referenced: set[str], *, older_than: datetime) -> int:
        """Delete uploads (and partial writes) no job refers to, written before
        ``older_than``; how many were deleted (the embedded mode's sweep)."""
        ...

    def unready_reason(self) -> str | None:
        """Why uploads cannot be stored now (a write probe), or ``None``."""
        ...


def attachment(filename: str) -> str:
    """A ``Content-Disposition`` for ``filename``, as Starlette's ``FileResponse`` writes it."""
    quoted = quote(filename)
    if quoted != filename:
        return f"attachment; filename*=utf-8''{quoted}"
    return f'attachment; filename="{filename}"'


def artifact_store(settings: Settings) -> ArtifactStore:
    """The store ``settings`` configure (``BKJOBS_ARTIFACTS_BACKEND``)."""
    if settings.artifacts_backend == "s3":
        from bookkeeper_jobs.artifacts.s3 import S3ArtifactStore

        return S3ArtifactStore.from_settings(settings)
    return DirectoryArtifactStore(settings.artifacts_dir)
