"""The artifact store in a directory: ``<data_dir>/artifacts`` in the embedded mode, a
ReadWriteMany volume shared by the pods in a cluster that offers one."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from bookkeeper_jobs.errors import ArtifactTooLargeError, StorageError

PROBE_BYTES = 4096
RECEIPTS_FOLDER = "receipts"
EXPORTS_FOLDER = "exports"
MODELS_FOLDER = "models"
REPORT_SUFFIX = ".errors.csv"

ARTIFACT_ID = re.compile(r"^[a-f0-9]{32}$")
_BLOB_NAME = re.compile(r"^\.?[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$")
_FOLDER_NAME = re.compile(r"^[a-z][a-z0-9-]{2,62}$")  # never two hex digits: those are uploads


def check_artifact_id(artifact_id: str) -> str:
    if not ARTIFACT_ID.fullmatch(artifact_id):
        raise ValueError(f"not an artifact id: {artifact_id!r}")
    return artifact_id


def check_blob_name(name: str) -> str:
    if not _BLOB_NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"not a blob name: {name!r}")
    return name


def check_folder_name(name: str) -> str:
    if not _FOLDER_NAME.fullmatch(name):
        raise ValueError(f"not a folder name: {name!r}")
    return name


class DirectoryArtifactStore:
    """:class:`~bookkeeper_jobs.artifacts.ArtifactStore` in the directory ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, artifact_id: str) -> Path:
        check_artifact_id(artifact_id)
        return self.root / artifact_id[:2] / artifact_id

    def report_path(self, artifact_id: str) -> Path:
        """Where the error report of the upload ``artifact_id`` is kept (deleted with it)."""
        return self.path(artifact_id).with_name(f"{artifact_id}{REPORT_SUFFIX}")

    def folder(self, name: str) -> DirectoryArtifactStore:
        return DirectoryArtifactStore(self.root / check_folder_name(name))

    @property
    def receipts(self) -> DirectoryArtifactStore:
        return self.folder(RECEIPTS_FOLDER)

    @property
    def exports(self) -> DirectoryArtifactStore:
        return self.folder(EXPORTS_FOLDER)

    def open(self, artifact_id: str) -> BinaryIO:
        return self.path(artifact_id).open("rb")

    def exists(self, artifact_id: str) -> bool:
        return self.path(artifact_id).is_file()

    def delete(self, artifact_id: str) -> None:
        self.path(artifact_id).unlink(missing_ok=True)
        self.report_path(artifact_id).unlink(missing_ok=True)

    async def save_stream(self, chunks: AsyncIterator[bytes], *, max_bytes: int) -> str:
        """Write ``chunks`` to a new artifact; nothing is left behind if it is too large or
        the disk fails (full, read-only): that is a :class:`StorageError`."""
        size = 0
        artifact_id = secrets.token_hex(16)
        with self._write_whole(self.path(artifact_id)) as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise ArtifactTooLargeError(max_bytes)
                out.write(chunk)
        return artifact_id

    def save_bytes(self, data: bytes) -> str:
        """Write ``data`` (already read and checked) to a new artifact, as ``save_stream``."""
        artifact_id = secrets.token_hex(16)
        with self._write_whole(self.path(artifact_id)) as out:
            out.write(data)
        return artifact_id

    def save_report(self, artifact_id: str, data: BinaryIO) -> None:
        with self._write_whole(self.report_path(artifact_id)) as out:
            shutil.copyfileobj(data, out)

    def open_report(self, artifact_id: str) -> BinaryIO:
        return self.report_path(artifact_id).open("rb")

    def delete_report(self, artifact_id: str) -> None:
        self.report_path(artifact_id).unlink(missing_ok=True)

    def local_file(self, artifact_id: str, *, report: bool = False) -> Path | None:
        return self.report_path(artifact_id) if report else self.path(artifact_id)

    def download_url(
        self, artifact_id: str, *, filename: str, content_type: str, report: bool = False
    ) -> str | None:
        return None

    def read_blob(self, name: str) -> bytes | None:
        try:
            return (self.root / check_blob_name(name)).read_bytes()
        except OSError:
            return None

    def write_blob(self, name: str, data: bytes) -> None:
        with self._write_whole(self.root / check_blob_name(name), durable=False) as out:
            out.write(data)

    def keep_first(self, name: str, data: bytes) -> bytes:
        path = self.root / check_blob_name(name)
        with disk_errors():
            self.root.mkdir(parents=True, exist_ok=True)
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: theirs
                return path.read_bytes()
            with os.fdopen(descriptor, "wb") as out:
                out.write(data)
        return data

    @contextlib.contextmanager
    def _write_whole(self, final: Path, *, durable: bool = True) -> Iterator[BinaryIO]:
        """``final`` open for writing: in place (synced, before any answer refers to it,
        when ``durable``) when the block ends, untouched if the block fails."""
        partial = final.with_name(f"{final.name}.{secrets.token_hex(4)}.part")
        try:
            with disk_errors():
                final.parent.mkdir(parents=True, exist_ok=True)
                with partial.open("wb") as out:
                    yield out
                    out.flush()
                    if durable:
                        os.fsync(out.fileno())
                os.replace(partial, final)
                if durable:
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
            name = _artifact_of(path.name)
            if name in referenced or not ARTIFACT_ID.fullmatch(name):
                continue
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    deleted += 1
        return deleted

    def unready_reason(self) -> str | None:
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


def _artifact_of(name: str) -> str:
    """The artifact id a stored file name belongs to (``<id>``, ``<id>.errors.csv``,
    ``<id>.<random>.part``, ``<id>.errors.csv.<random>.part``)."""
    return name.split(".", 1)[0]


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX needs the directory synced)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def disk_errors() -> Iterator[None]:
    """The artifact store's disk failures as :class:`StorageError`."""
    try:
        yield
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        raise StorageError(f"uploads cannot be stored: {exc.strerror or exc}", full=full) from exc
