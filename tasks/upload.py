"""The ``upload-and-categorize`` task: stream a stored bank statement into the ledger, then
categorize what it added.

Rows go in batches, each batch one database transaction; fingerprints make a re-run (or a
re-upload of the same file) insert nothing twice. Bad rows are reported by line and never
stop the good ones. Progress: 0-50 importing, 50-100 categorizing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from bookkeeper_jobs.errors import FatalTaskError
from bookkeeper_jobs.jobs import UploadAndCategorizeSpec
from bookkeeper_jobs.ledger import (
    Ledger,
    NewTransaction,
    new_transaction_problem,
    normalize_description,
    task_errors,
    to_cents,
)
from bookkeeper_jobs.tasks.categorize import categorize_transactions
from bookkeeper_jobs.tasks.reporter import ProgressReporter
from bookkeeper_jobs.tasks.statements import (
    ParsedRow,
    RowError,
    StatementFormatError,
    count_data_lines,
    parse_statement,
)

BATCH_SIZE = 5_000
MAX_LISTED_ERRORS = 100
IMPORT_SHARE = 50.0


@dataclass
class ImportTally:
    rows: int = 0
    imported: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    cancelled: bool = False

    def bad_row(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append({"line": error.line, "message": error.message})


class Occurrences:
    """Numbers identical (date, description, amount, currency) rows within one file, so two
    same-day coffees stay two transactions while a re-import stays idempotent. "Identical"
    is what the ledger's fingerprint sees (normalized description, amount in cents): rows
    that differ only in what the fingerprint drops must still get different numbers. Keys
    are hashed to keep a million-row file's memory small."""

    def __init__(self) -> None:
        self._seen: dict[int, int] = {}

    def next(self, row: ParsedRow) -> int:
        key = hash(
            (
                row.date,
                normalize_description(row.description),
                to_cents(row.amount),
                row.currency.upper(),
            )
        )
        count = self._seen.get(key, 0)
        self._seen[key] = count + 1
        return count


def upload_and_categorize(
    spec: UploadAndCategorizeSpec, ledger: Ledger, reporter: ProgressReporter
) -> dict[str, Any]:
    with task_errors():
        ledger.ensure_company(spec.company_id, spec.tenant_id)
    reporter.update(0, f"Reading {spec.filename}")
    tally = import_statement(spec, ledger, reporter)
    if tally.rows == 0:
        raise FatalTaskError(_no_rows_message(tally))
    result: dict[str, Any] = {
        "filename": spec.filename,
        "rows": tally.rows,
        "imported": tally.imported,
        "duplicates": tally.rows - tally.imported,
        "row_errors": tally.error_count,
        "errors": tally.errors,
    }
    if tally.cancelled:
        return {**result, "cancelled": True}
    result["categorization"] = categorize_transactions(
        ledger,
        spec.company_id,
        reporter=reporter,
        import_job_id=spec.artifact_id,
        progress_from=IMPORT_SHARE,
        progress_to=100,
    )
    return result


def import_statement(
    spec: UploadAndCategorizeSpec, ledger: Ledger, reporter: ProgressReporter
) -> ImportTally:
    tally = ImportTally()
    occurrences = Occurrences()
    with _open_artifact(ledger, spec) as stream:
        total_lines = max(1, count_data_lines(stream))
        stream.seek(0)
        for batch, last_line in _batches(_parse(stream, spec.filename), tally):
            rows = [_new_transaction(row, occurrences) for row in batch]
            with task_errors():
                tally.imported += ledger.add_transactions(
                    spec.company_id, rows, import_job_id=spec.artifact_id
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


def _open_artifact(ledger: Ledger, spec: UploadAndCategorizeSpec) -> BinaryIO:
    try:
        return ledger.artifacts.open(spec.artifact_id)
    except FileNotFoundError as exc:
        # Swept after the TTL, or lost with its volume; the message names no server path.
        raise FatalTaskError(f"{spec.filename}: the uploaded file is no longer stored") from exc


def _parse(stream: Any, filename: str) -> Iterator[ParsedRow | RowError]:
    try:
        yield from parse_statement(stream, filename)
    except StatementFormatError as exc:
        raise FatalTaskError(f"{filename}: {exc}") from exc


def _batches(
    items: Iterator[ParsedRow | RowError], tally: ImportTally
) -> Iterator[tuple[list[ParsedRow], int]]:
    batch: list[ParsedRow] = []
    last_line = 0
    for item in items:
        last_line = item.line
        if isinstance(item, ParsedRow) and (problem := _refused(item)) is not None:
            item = RowError(item.line, problem)
        if isinstance(item, RowError):
            tally.bad_row(item)
            continue
        batch.append(item)
        if len(batch) >= BATCH_SIZE:
            yield batch, last_line
            batch = []
    if batch:
        yield batch, last_line


def _refused(row: ParsedRow) -> str | None:
    """What the ledger would refuse in a row the parser accepted (a 13-digit amount)."""
    return new_transaction_problem(
        NewTransaction(row.date, row.description, row.amount, row.currency)
    )


def _new_transaction(row: ParsedRow, occurrences: Occurrences) -> NewTransaction:
    return NewTransaction(
        date=row.date,
        description=row.description,
        amount=row.amount,
        currency=row.currency,
        occurrence=occurrences.next(row),
    )


def _no_rows_message(tally: ImportTally) -> str:
    if not tally.errors:
        return "the statement has no transaction rows"
    first = "; ".join(f"line {e['line']}: {e['message']}" for e in tally.errors[:3])
    return f"no usable rows: all {tally.error_count} rows have errors (first: {first})"
