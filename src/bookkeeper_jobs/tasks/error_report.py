"""The full list of an upload's bad rows, as a CSV file kept with the upload.

A job's result lists only the first few bad rows (every poll returns it); the report lists
all of them, one per line, for ``GET /api/jobs/{job_id}/error-report``. Its cells quote the
user's file, so a cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``,
tab, carriage return) is prefixed with ``'``: the report is data, never code.
"""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO

from bookkeeper_jobs.artifacts import ArtifactStore
from bookkeeper_jobs.errors import StorageError
from bookkeeper_jobs.lifecycle import bounded

MAX_REPORTED_CHARS = 1000
SPOOL_BYTES = 1024 * 1024
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """``text`` as a spreadsheet shows it, never runs it (OWASP's CSV injection advice)."""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


class ErrorReport:
    """Collects ``line,message`` rows and stores them as the error report of the upload
    ``artifact_id`` in ``store`` when the block ends (none if no row was written). A plain
    ``Path`` instead of a store writes the report to that file."""

    def __init__(self, store: ArtifactStore | Path, artifact_id: str = "") -> None:
        self._target = _FileTarget(store) if isinstance(store, Path) else store
        self._artifact_id = artifact_id
        self.rows = 0
        self._spool: IO[bytes] | None = None
        self._text: io.TextIOWrapper | None = None

    def add(self, line: int, message: str) -> None:
        if self._text is None:
            self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
            self._text = io.TextIOWrapper(self._spool, encoding="utf-8", newline="")
            csv.writer(self._text).writerow(["line", "error"])
        csv.writer(self._text).writerow([line, safe_cell(bounded(message, MAX_REPORTED_CHARS))])
        self.rows += 1

    def __enter__(self) -> ErrorReport:
        self._target.delete_report(self._artifact_id)  # a retried attempt writes its own report
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._text is None or self._spool is None:
            return
        try:
            self._text.flush()
            self._spool.seek(0)
            # The rows read before a failure are still worth reporting; a store that fails
            # then must not hide the error that ended the import.
            with (
                contextlib.suppress(StorageError) if kind is not None else contextlib.nullcontext()
            ):
                self._target.save_report(self._artifact_id, self._spool)  # type: ignore[arg-type]
        finally:
            self._text.close()


class _FileTarget:
    def __init__(self, path: Path) -> None:
        self.path = path

    def delete_report(self, _artifact_id: str) -> None:
        self.path.unlink(missing_ok=True)

    def save_report(self, _artifact_id: str, data: BinaryIO) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("wb") as out:
            shutil.copyfileobj(data, out)
