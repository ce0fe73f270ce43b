"""The full list of an upload's bad rows, as a CSV file beside the upload.

A job's result lists only the first few bad rows (every poll returns it); the report lists
all of them, one per line, for ``GET /api/jobs/{job_id}/error-report``. Its cells quote the
user's file, so a cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``,
tab, carriage return) is prefixed with ``'``: the report is data, never code.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import TracebackType
from typing import TextIO

from bookkeeper_jobs.lifecycle import bounded

MAX_REPORTED_CHARS = 1000
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """``text`` as a spreadsheet shows it, never runs it (OWASP's CSV injection advice)."""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


class ErrorReport:
    """Writes ``line,message`` rows to ``path``; removes the file if no row was written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._file: TextIO | None = None

    def add(self, line: int, message: str) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8", newline="")
            csv.writer(self._file).writerow(["line", "error"])
        csv.writer(self._file).writerow([line, safe_cell(bounded(message, MAX_REPORTED_CHARS))])
        self.rows += 1

    def __enter__(self) -> ErrorReport:
        self.path.unlink(missing_ok=True)  # a retried attempt writes its own report
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()
