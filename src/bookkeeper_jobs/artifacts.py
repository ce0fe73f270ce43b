"""The artifact store: uploaded files kept in a directory (a shared volume in a cluster).

Requests never name a server path: an upload is saved here under a random id, and specs
refer to it by that id only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from bookkeeper_jobs.errors import ArtifactTooLargeError, StorageError

__all__ = ["ArtifactStore", "ArtifactTooLargeError"]

_ARTIFACT_ID = re.compile(r"^[a-f0-9]{32}$")


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, artifact_id: str) -> Path:
        if not _ARTIFACT_ID.fullmatch(artifact_id):
            raise ValueError(f"not an artifact id: {artifact_id!r}")
        return self.root / artifact_id[:2] / artifact_id

    def open(self, artifact_id: str) -> BinaryIO:
        return self.path(artifact_id).open("rb")

    def exists(self, artifact_id: str) -> bool:
        return self.path(artifact_id).is_file()

    def report_path(self, artifact_id: str) -> Path:
        """Where the error report of the upload ``artifact_id`` is kept (deleted with it)."""
        return self.path(artifact_id).with_name(f"{artifact_id}{REPORT_SUFFIX}")

    @property
    def receipts(self) -> ArtifactStore:
        """Where receipt files are kept: as long as their receipt, so outside the folders the
        sweep of finished jobs' uploads looks at."""
        return ArtifactStore(self.root / RECEIPTS_FOLDER)

    @property
    def exports(self) -> ArtifactStore:
        """Where export files (CSV, IIF for QuickBooks) are kept, outside the sweep too."""
        return ArtifactStore(self.root / EXPORTS_FOLDER)

    def delete(self, artifact_id: str) -> None:
        self.path(artifact_id).unlink(missing_ok=True)
        self.report_path(artifact_id).unlink(missing_ok=True)

    async def save_stream(self, chunks: AsyncIterator[bytes], *, max_bytes: int) -> str:
        """Write ``chunks`` to a new artifact; nothing is left behind if it is too large or
        the disk fails (full, read-only): that is a :class:`StorageError`."""
        size = 0
        with self._new_artifact() as (artifact_id, out):
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise ArtifactTooLargeError(max_bytes)
                out.write(chunk)
        return artifact_id

    def save_bytes(self, data: bytes) -> str:
        """Write ``data`` (already read and checked) to a new artifact, as ``save_stream``."""
        with self._new_artifact() as (artifact_id, out):
            out.write(data)
        return artifact_id

    @contextlib.contextmanager
    def _new_artifact(self) -> Iterator[tuple[str, BinaryIO]]:
        """A new artifact's id and its file open for writing: on disk under that id (synced,
        before any answer refers to it) when the block ends, gone if the block fails."""
        artifact_id = secrets.token_hex(16)
        final = self.path(artifact_id)
        partial = final.with_suffix(".part")
        try:
            with disk_errors():
                final.parent.mkdir(parents=True, exist_ok=True)
                with partial.open("wb") as out:
                    yield artifact_id, out
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(partial, final)
                _fsync_directory(final.parent)
        finally:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)

    def delete_unreferenced(self, referenced: set[str], *, older_than: datetime) -> int:
        """Delete stored files no job refers to, last written before ``older_than``: uploads
        whose submission never happened (a crash, a refused request) and partial writes."""
        cutoff = older_than.timestamp()
        deleted = 0
        for path in self.root.glob("??/*"):
            name = path.name.removesuffix(".part").removesuffix(REPORT_SUFFIX)
            if name in referenced or not _ARTIFACT_ID.fullmatch(name):
                continue
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    deleted += 1
        return deleted

    def unready_reason(self) -> str | None:
        """Why uploads cannot be stored now (a write probe), or ``None``."""
        probe = self.root / f".probe-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            with disk_errors():
                self.root.mkdir(parents=True, exist_ok=True)
                with probe.open("wb") as out:
                    out.write(bytes(PROBE_BYTES))
                    out.flush()
                    os.fsync(out.fileno())
        except StorageError as exc:
            return str(exc)
        finally:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)
        return None


PROBE_BYTES = 4096
RECEIPTS_FOLDER = "receipts"
EXPORTS_FOLDER = "exports"
REPORT_SUFFIX = ".errors.csv"


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX needs the directory synced)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def disk_errors() -> Iterator[None]:
    """The upload store's disk failures as :class:`StorageError`."""
    try:
        yield
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        raise StorageError(f"uploads cannot be stored: {exc.strerror or exc}", full=full) from exc
