"""The ``upload-and-categorize`` task: stream a stored bank statement into the ledger, each
row booked to its category as it is written.

The file is read in chunks of ``BATCH_SIZE`` rows: parsed, categorized by the company's
categorizer (loaded or trained once, before the first chunk) and written in bulk, each chunk
one database transaction, so each row is written once and memory stays flat for any file
size. Fingerprints make a re-run (or a re-upload of the same file) insert nothing twice. Bad
rows are reported by line and never stop the good ones. Imported rows are tagged with the
job's id (``import_job_id``); rows the ledger already had uncategorized are taken over and
categorized at the end. Cancellation is honoured between chunks. Progress: 0-95 reading the
file, 95-100 the rows taken over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from bookkeeper_jobs.artifacts import ArtifactStore
from bookkeeper_jobs.errors import FatalTaskError, TaskError
from bookkeeper_jobs.jobs import UploadAndCategorizeSpec
from bookkeeper_jobs.ledger import (
    NewTransaction,
    new_transaction_problem,
    normalize_description,
    task_errors,
    to_cents,
)
from bookkeeper_jobs.lifecycle import bounded
from bookkeeper_jobs.results import CategorizeResult, UploadAndCategorizeResult, UploadRowError
from bookkeeper_jobs.tasks.categorize import (
    Tally,
    booking_of,
    categorize_result,
    categorize_transactions,
    trained_categorizer,
)
from bookkeeper_jobs.tasks.categorizer import Categorizer, Item, Prediction
from bookkeeper_jobs.tasks.context import TaskContext
from bookkeeper_jobs.tasks.error_report import ErrorReport
from bookkeeper_jobs.tasks.model_cache import ModelCache
from bookkeeper_jobs.tasks.statements import (
    ParsedRow,
    RowError,
    StatementFormatError,
    count_data_lines,
    parse_statement,
)

BATCH_SIZE = 10_000
"""Rows per chunk: parsed, categorized and written (one database transaction) together."""
MAX_LISTED_ERRORS = 20
MAX_ROW_ERROR_CHARS = 200
"""A row's error quotes the row: bounded, so the listed ones keep the result a few KB; the
error report (``error_report.py``) has them all."""
IMPORT_SHARE = 95.0
"""Progress while reading the file; the rest is for rows the import took over."""


@dataclass
class ImportTally:
    rows: int = 0
    imported: int = 0
    error_count: int = 0
    errors: list[UploadRowError] = field(default_factory=list)
    cancelled: bool = False
    report: ErrorReport | None = None
    booked: Tally = field(default_factory=lambda: Tally(total=0))
    """The categories booked to the rows this attempt wrote."""

    def chunk(
        self, rows: Sequence[NewTransaction], predictions: Sequence[Prediction], added: list[bool]
    ) -> None:
        self.rows += len(rows)
        self.imported += sum(added)
        self.booked.booked([p for p, new in zip(predictions, added, strict=True) if new])

    def bad_row(self, error: RowError) -> None:
        self.error_count += 1
        if self.report is not None:
            self.report.add(error.line, error.message)
        if len(self.errors) < MAX_LISTED_ERRORS:
            message = bounded(error.message, MAX_ROW_ERROR_CHARS)
            self.errors.append(UploadRowError(line=error.line, message=message))


class Occurrences:
    """Numbers identical (date, description, amount, currency) rows within one file, so two
    same-day coffees stay two transactions while a re-import stays idempotent. "Identical"
    is what the ledger's fingerprint sees (normalized description, amount in cents): rows
    that differ only in what the fingerprint drops must still get different numbers.

    Each row is remembered as a 64-bit hash in one sorted array: 8 bytes a row, where a
    dict of counts took about 75 (75 MB for a million-row file)."""

    def __init__(self) -> None:
        self._seen = np.empty(0, dtype=np.int64)

    def number(self, rows: Sequence[NewTransaction]) -> list[NewTransaction]:
        """``rows`` with their occurrence: how many identical rows came before in the file."""
        keys = np.fromiter((_identity(row) for row in rows), dtype=np.int64, count=len(rows))
        order = np.argsort(keys, kind="stable")  # stable: equal keys stay in file order
        ordered = keys[order]
        earlier = np.searchsorted(self._seen, ordered, "right") - np.searchsorted(
            self._seen, ordered, "left"
        )
        counts = np.empty(len(rows), dtype=np.int64)
        counts[order] = earlier + _ranks_among_equals(ordered)
        self._seen = np.insert(self._seen, np.searchsorted(self._seen, ordered), ordered)
        return [
            replace(row, occurrence=int(count)) if count else row
            for row, count in zip(rows, counts, strict=True)
        ]


def _identity(row: NewTransaction) -> int:
    return hash(
        (
            row.date,
            normalize_description(row.description),
            to_cents(row.amount),
            row.currency.upper(),
        )
    )


def _ranks_among_equals(ordered: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """For a sorted array, each element's position within its run of equal values."""
    positions = np.arange(len(ordered))
    run_starts = np.ones(len(ordered), dtype=bool)
    run_starts[1:] = ordered[1:] != ordered[:-1]
    return positions - np.maximum.accumulate(np.where(run_starts, positions, 0))


def upload_and_categorize(
    context: TaskContext[UploadAndCategorizeSpec],
) -> UploadAndCategorizeResult:
    spec, ledger = context.spec, context.ledger
    with task_errors():
        ledger.ensure_company(spec.company_id, spec.tenant_id)
    context.reporter.update(0, f"Reading {spec.filename}")
    tally = ImportTally()
    try:
        categorizer = import_statement(context, tally)
    except TaskError as exc:  # the chunks written before stay: say so beside the error
        exc.partial_result = _result(context, tally) if tally.rows else None
        raise
    if tally.rows == 0:
        raise FatalTaskError(_no_rows_message(tally))
    if tally.cancelled:
        tally.booked.cancelled = True
        return _result(context, tally, categorizer, cancelled=True)
    # The whole file was read: rows an earlier attempt of this job imported count as
    # imported, not as duplicates of themselves.
    with task_errors():
        tally.imported = ledger.count_transactions(
            spec.company_id, import_job_id=context.job_id, created_since=context.started_at
        )
    try:
        # Rows already in the ledger uncategorized, which this import took over.
        categorization = categorize_transactions(
            ledger,
            spec.company_id,
            reporter=context.reporter,
            import_job_id=context.job_id,
            progress_from=IMPORT_SHARE,
            progress_to=100,
            categorizer=categorizer,
            tally=tally.booked,
        )
    except TaskError as exc:
        exc.partial_result = _result(context, tally, categorizer)
        raise
    return _result(context, tally, categorization=categorization)


def _result(
    context: TaskContext[UploadAndCategorizeSpec],
    tally: ImportTally,
    categorizer: Categorizer | None = None,
    *,
    cancelled: bool = False,
    categorization: CategorizeResult | None = None,
) -> UploadAndCategorizeResult:
    spec = context.spec
    report = f"/api/jobs/{context.job_id}/error-report" if tally.error_count else None
    if categorization is None and categorizer is not None and tally.booked.done:
        categorization = categorize_result(spec.company_id, categorizer, tally.booked)
    return UploadAndCategorizeResult(
        filename=spec.filename,
        rows=tally.rows,
        imported=tally.imported,
        duplicates=tally.rows - tally.imported,
        row_errors=tally.error_count,
        errors=tally.errors,
        error_report=report,
        cancelled=cancelled,
        categorization=categorization,
    )


def import_statement(
    context: TaskContext[UploadAndCategorizeSpec], tally: ImportTally
) -> Categorizer:
    """Stream the stored upload into the ledger chunk by chunk, each row booked to its
    category as it is written and tagged with the job id; the categorizer it used."""
    spec, ledger = context.spec, context.ledger
    report = ErrorReport(context.artifacts, spec.artifact_id)
    tally.report = report
    occurrences = Occurrences()
    with _open_artifact(context.artifacts, spec) as stream, report:
        total_lines = max(1, count_data_lines(stream))
        stream.seek(0)
        items = _parse(stream, spec.filename)  # an unusable file fails before training
        models = ModelCache.in_store(context.artifacts, context.settings.secrets_key)
        with task_errors():
            categorizer = trained_categorizer(ledger, spec.company_id, context.reporter, 0, models)
        with ChunkWriter(context, tally, total_lines) as writer:
            for batch, last_line in _batches(items, tally):
                rows = occurrences.number(batch)
                predictions = categorizer.predict(
                    [Item(row.description, row.amount, row.date) for row in rows], explain=False
                )
                if not writer.write(rows, predictions, last_line):
                    break
    return categorizer


class ChunkWriter:
    """Writes a chunk in a thread while the next one is parsed and categorized: SQLite and
    the PostgreSQL server do their work outside the GIL, so on two cores the two overlap.
    At most one chunk is in flight, and the next is handed over only once it landed, so a
    cancel or an error stops before anything more is written; a chunk is one database
    transaction, so it lands whole or not at all."""

    def __init__(
        self, context: TaskContext[UploadAndCategorizeSpec], tally: ImportTally, total_lines: int
    ) -> None:
        self._context = context
        self._tally = tally
        self._total_lines = total_lines
        self._threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-writer")
        self._in_flight: _Chunk | None = None

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if self._in_flight is not None:
                if kind is None:
                    self._land()
                else:  # count what landed, so the partial result says so; keep the error
                    with contextlib.suppress(Exception):
                        self._land()
        finally:
            self._threads.shutdown(wait=True)

    def write(
        self, rows: list[NewTransaction], predictions: list[Prediction], last_line: int
    ) -> bool:
        """Hand ``rows`` over once the chunk before landed; False (nothing handed over)
        when the job was cancelled meanwhile."""
        if self._in_flight is not None and not self._land():
            return False
        context = self._context
        written = self._threads.submit(
            context.ledger.import_transactions,
            context.spec.company_id,
            rows,
            [booking_of(p) for p in predictions],
            import_job_id=context.job_id,
        )
        self._in_flight = _Chunk(written, rows, predictions, last_line)
        return True

    def _land(self) -> bool:
        chunk, self._in_flight = self._in_flight, None
        assert chunk is not None
        with task_errors():
            added = chunk.written.result()
        tally, reporter = self._tally, self._context.reporter
        tally.chunk(chunk.rows, chunk.predictions, added)
        reporter.update(
            IMPORT_SHARE * min(1.0, chunk.last_line / self._total_lines),
            f"Imported {tally.rows:,} rows ({tally.error_count:,} with errors)",
        )
        if reporter.cancelled():
            tally.cancelled = True
        return not tally.cancelled


@dataclass(frozen=True)
class _Chunk:
    written: Future[list[bool]]
    rows: list[NewTransaction]
    predictions: list[Prediction]
    last_line: int


def _open_artifact(artifacts: ArtifactStore, spec: UploadAndCategorizeSpec) -> BinaryIO:
    try:
        return artifacts.open(spec.artifact_id)
    except FileNotFoundError as exc:
        # Swept after the TTL, or lost with its volume; the message names no server path.
        raise FatalTaskError(f"{spec.filename}: the uploaded file is no longer stored") from exc


def _parse(stream: BinaryIO, filename: str) -> Iterator[ParsedRow | RowError]:
    """The rows; a file that is not a statement fails now, one broken further in later."""
    try:
        return _format_errors_fail(parse_statement(stream, filename), filename)
    except StatementFormatError as exc:
        raise FatalTaskError(f"{filename}: {exc}") from exc


def _format_errors_fail(
    items: Iterator[ParsedRow | RowError], filename: str
) -> Iterator[ParsedRow | RowError]:
    try:
        yield from items
    except StatementFormatError as exc:
        raise FatalTaskError(f"{filename}: {exc}") from exc


def _batches(
    items: Iterator[ParsedRow | RowError], tally: ImportTally
) -> Iterator[tuple[list[NewTransaction], int]]:
    """Good rows in batches, with the line of the last row read; bad rows go to ``tally``,
    rows the ledger would refuse (a 13-digit amount) too."""
    batch: list[NewTransaction] = []
    last_line = 0
    for item in items:
        last_line = item.line
        if isinstance(item, RowError):
            tally.bad_row(item)
            continue
        row = NewTransaction(item.date, item.description, item.amount, item.currency)
        if (problem := new_transaction_problem(row)) is not None:
            tally.bad_row(RowError(item.line, problem))
            continue
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            yield batch, last_line
            batch = []
    if batch:
        yield batch, last_line


def _no_rows_message(tally: ImportTally) -> str:
    if not tally.errors:
        return "the statement has no transaction rows"
    first = "; ".join(f"line {e.line}: {e.message}" for e in tally.errors[:3])
    return f"no usable rows: all {tally.error_count} rows have errors (first: {first})"
