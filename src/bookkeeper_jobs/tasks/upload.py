"""The ``upload-and-categorize`` task: stream a stored bank statement into the ledger, then
categorize what it added.

Rows go in batches, each batch one database transaction; fingerprints make a re-run (or a
re-upload of the same file) insert nothing twice. Bad rows are reported by line and never
stop the good ones. Imported rows are tagged with the job's id (``import_job_id``), which is
how the categorizing step finds them. Progress: 0-50 importing, 50-100 categorizing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
from bookkeeper_jobs.tasks.categorize import categorize_transactions
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

BATCH_SIZE = 5_000
MAX_LISTED_ERRORS = 20
MAX_ROW_ERROR_CHARS = 200
"""A row's error quotes the row: bounded, so the listed ones keep the result a few KB; the
error report (``error_report.py``) has them all."""
IMPORT_SHARE = 50.0


@dataclass
class ImportTally:
    rows: int = 0
    imported: int = 0
    error_count: int = 0
    errors: list[UploadRowError] = field(default_factory=list)
    cancelled: bool = False
    report: ErrorReport | None = None

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
    tally = import_statement(context)
    if tally.rows == 0:
        raise FatalTaskError(_no_rows_message(tally))
    if tally.cancelled:
        return _result(context, tally, cancelled=True)
    # The whole file was read: rows an earlier attempt of this job imported count as
    # imported, not as duplicates of themselves.
    with task_errors():
        tally.imported = ledger.count_transactions(
            spec.company_id, import_job_id=context.job_id, created_since=context.started_at
        )
    try:
        categorization = categorize_transactions(
            ledger,
            spec.company_id,
            reporter=context.reporter,
            import_job_id=context.job_id,
            progress_from=IMPORT_SHARE,
            progress_to=100,
            models=ModelCache.in_store(context.artifacts, context.settings.secrets_key),
        )
    except TaskError as exc:  # the rows are in the ledger: say so beside the error
        exc.partial_result = _result(context, tally)
        raise
    return _result(context, tally, categorization=categorization)


def _result(
    context: TaskContext[UploadAndCategorizeSpec],
    tally: ImportTally,
    *,
    cancelled: bool = False,
    categorization: CategorizeResult | None = None,
) -> UploadAndCategorizeResult:
    spec = context.spec
    report = f"/api/jobs/{context.job_id}/error-report" if tally.error_count else None
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


def import_statement(context: TaskContext[UploadAndCategorizeSpec]) -> ImportTally:
    """Stream the stored upload into the ledger in batches, tagging rows with the job id."""
    spec, ledger, reporter = context.spec, context.ledger, context.reporter
    report = ErrorReport(context.artifacts, spec.artifact_id)
    tally = ImportTally(report=report)
    occurrences = Occurrences()
    with _open_artifact(context.artifacts, spec) as stream, report:
        total_lines = max(1, count_data_lines(stream))
        stream.seek(0)
        for batch, last_line in _batches(_parse(stream, spec.filename), tally):
            rows = occurrences.number(batch)
            with task_errors():
                tally.imported += ledger.add_transactions(
                    spec.company_id, rows, import_job_id=context.job_id
                )
            tally.rows += len(rows)
            reporter.update(
                IMPORT_SHARE * min(1.0, last_line / total_lines),
                f"Imported {tally.rows:,} rows ({tally.error_count:,} with errors)",
            )
            if reporter.cancelled():
                tally.cancelled = True
                break
    return tally


def _open_artifact(artifacts: ArtifactStore, spec: UploadAndCategorizeSpec) -> BinaryIO:
    try:
        return artifacts.open(spec.artifact_id)
    except FileNotFoundError as exc:
        # Swept after the TTL, or lost with its volume; the message names no server path.
        raise FatalTaskError(f"{spec.filename}: the uploaded file is no longer stored") from exc


def _parse(stream: BinaryIO, filename: str) -> Iterator[ParsedRow | RowError]:
    try:
        yield from parse_statement(stream, filename)
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
