from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bookkeeper_jobs.artifacts import ArtifactStore
from bookkeeper_jobs.errors import FatalTaskError, RetryableTaskError
from bookkeeper_jobs.jobs import UploadAndCategorizeSpec, utcnow
from bookkeeper_jobs.ledger import UNCATEGORIZED, Ledger, NewTransaction
from bookkeeper_jobs.results import UploadAndCategorizeResult
from bookkeeper_jobs.tasks.error_report import ErrorReport
from bookkeeper_jobs.tasks.reporter import CoalescingReporter
from bookkeeper_jobs.tasks.statements import ParsedRow, parse_statement
from bookkeeper_jobs.tasks.upload import IMPORT_SHARE, upload_and_categorize
from tests.unit.ledger.factories import COMPANY, TENANT, RecordingSink
from tests.unit.tasks.conftest import JOB_ID, ContextFactory

HEADER = "Date,Description,Amount\n"


@dataclass(frozen=True)
class Uploads:
    """Stores statements as the API would and runs their jobs as a worker would."""

    ledger: Ledger
    artifacts: ArtifactStore
    make_context: ContextFactory

    def store(
        self,
        body: str,
        *,
        company_id: str = COMPANY,
        tenant_id: str = TENANT,
        filename: str = "statement.csv",
    ) -> UploadAndCategorizeSpec:
        """Saves ``body`` as an uploaded artifact; the spec of its job."""
        artifact_id = secrets.token_hex(16)
        path = self.artifacts.path(artifact_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
        return UploadAndCategorizeSpec(
            company_id=company_id, tenant_id=tenant_id, artifact_id=artifact_id, filename=filename
        )

    def run(
        self,
        spec: UploadAndCategorizeSpec,
        sink: RecordingSink | None = None,
        *,
        job_id: str = JOB_ID,
        started_at: datetime | None = None,
    ) -> tuple[UploadAndCategorizeResult, RecordingSink]:
        sink = sink or RecordingSink()
        reporter = CoalescingReporter(sink, interval=0.0)
        context = self.make_context(
            spec, self.ledger, reporter=reporter, job_id=job_id, started_at=started_at
        )
        result = upload_and_categorize(context)
        reporter.flush()
        return result, sink


@pytest.fixture
def uploads(ledger: Ledger, artifacts: ArtifactStore, make_context: ContextFactory) -> Uploads:
    return Uploads(ledger, artifacts, make_context)


def statement(rows: int, *, start: int = 0) -> str:
    """``rows`` distinct good rows: every third a coffee, the others office supplies."""
    lines = [
        f"01/{1 + n % 28:02d}/2024,{'STARBUCKS' if n % 3 == 0 else 'STAPLES'} {n},-{n}.25\n"
        for n in range(start, start + rows)
    ]
    return HEADER + "".join(lines)


def leave_uncategorized(ledger: Ledger, body: str, job_id: str) -> None:
    """Puts the rows of ``body`` in the ledger uncategorized, tagged with ``job_id``, as an
    import that stopped before categorizing them (an earlier version's) left them."""
    parsed = parse_statement(io.BytesIO(body.encode()), "earlier.csv")
    rows = [
        NewTransaction(row.date, row.description, row.amount)
        for row in parsed
        if isinstance(row, ParsedRow)
    ]
    ledger.add_transactions(COMPANY, rows, import_job_id=job_id)


class CancelAfterFirstBatch(RecordingSink):
    """Asks for cancellation once the task reported its first imported batch."""

    def cancel_requested(self) -> bool:
        return any(message.startswith("Imported") for _, message in self.writes)


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("bookkeeper_jobs.tasks.upload.BATCH_SIZE", 10)
    return 10


def test_imports_and_categorizes_every_row(
    ledger: Ledger, uploads: Uploads, small_batches: int
) -> None:
    ledger.add_rule(COMPANY, kind="contains", pattern="starbucks", account_code="6080")
    spec = uploads.store(statement(45))

    result, _ = uploads.run(spec)

    assert (result.rows, result.imported, result.duplicates) == (45, 45, 0)
    assert result.row_errors == 0
    categorization = result.categorization
    assert categorization is not None
    assert (categorization.processed, categorization.categorized) == (45, 45)
    assert categorization.by_source.model_dump() == {"rule": 15, "model": 0, "uncategorized": 30}
    assert ledger.count_transactions(COMPANY, import_job_id=JOB_ID) == 45
    assert ledger.count_transactions(COMPANY, uncategorized=True) == 0
    seen = {t.description: t.category for t in ledger.list_transactions(COMPANY, limit=100)}
    assert seen["STARBUCKS 3"] == "6080"
    assert seen["STAPLES 4"] == UNCATEGORIZED  # no training data: the model abstains


def test_progress_never_decreases_and_ends_at_100(
    ledger: Ledger, uploads: Uploads, small_batches: int
) -> None:
    spec = uploads.store(statement(45))

    _, sink = uploads.run(spec)

    assert sink.progress == sorted(sink.progress)
    assert sink.progress[0] == 0
    assert sink.progress[-1] == 100
    imported = [p for p, message in sink.writes if message.startswith("Imported")]
    assert len(imported) >= 4  # one per batch of 10 (45 rows), within the import share
    assert all(0 < p <= IMPORT_SHARE for p in imported)
    assert sink.writes[-1][1] == "Categorized 45/45 transactions"


def test_a_rerun_imports_nothing_twice(
    ledger: Ledger, uploads: Uploads, small_batches: int
) -> None:
    spec = uploads.store(statement(25))
    uploads.run(spec)

    again, sink = uploads.run(spec)

    assert (again.rows, again.imported, again.duplicates) == (25, 0, 25)
    assert ledger.count_transactions(COMPANY) == 25
    assert sink.progress[-1] == 100


def test_a_reupload_of_the_same_file_imports_nothing_twice(
    ledger: Ledger, uploads: Uploads
) -> None:
    uploads.run(uploads.store(statement(5)))

    again, _ = uploads.run(uploads.store(statement(5), filename="again.csv"))

    assert (again.imported, again.duplicates) == (0, 5)
    assert ledger.count_transactions(COMPANY) == 5


def test_identical_rows_in_one_file_are_all_kept(ledger: Ledger, uploads: Uploads) -> None:
    coffee = "01/05/2024,SQ *BLUE BOTTLE COFFEE,-4.50\n"
    spec = uploads.store(HEADER + coffee + coffee + "01/05/2024,sq *blue bottle coffee,-4.5\n")

    result, _ = uploads.run(spec)
    again, _ = uploads.run(spec)

    assert result.imported == 3
    assert again.imported == 0
    assert ledger.count_transactions(COMPANY) == 3


def test_identical_rows_across_batches_are_all_kept(
    ledger: Ledger, uploads: Uploads, small_batches: int
) -> None:
    coffee, tea = "01/05/2024,COFFEE,-4.50\n", "01/05/2024,TEA,-3.00\n"
    spec = uploads.store(HEADER + (coffee * 2 + tea) * 9)  # 27 rows, 3 batches

    result, _ = uploads.run(spec)
    again, _ = uploads.run(spec)

    assert (result.imported, again.imported) == (27, 0)
    assert ledger.count_transactions(COMPANY) == 27


def test_rows_equal_only_after_rounding_to_cents_are_both_kept(
    ledger: Ledger, uploads: Uploads
) -> None:
    # The ledger stores cents, so both are 10.00 there: their occurrence numbers must differ.
    spec = uploads.store(HEADER + "01/05/2024,FEE,10.001\n01/05/2024,FEE,10.004\n")

    result, _ = uploads.run(spec)

    assert result.imported == 2


def test_bad_rows_are_reported_by_line_and_good_rows_imported(
    ledger: Ledger, uploads: Uploads
) -> None:
    body = (
        HEADER
        + "01/02/2024,GOOD ONE,-1.00\n"
        + "13/45/2024,BAD DATE,-2.00\n"
        + "01/03/2024,BAD AMOUNT,12.3.4\n"
        + "01/04/2024,GOOD TWO,-3.00\n"
    )

    result, _ = uploads.run(uploads.store(body))

    assert (result.rows, result.imported, result.row_errors) == (2, 2, 2)
    errors = result.errors
    assert [e.line for e in errors] == [3, 4]
    assert "13/45/2024" in errors[0].message
    assert "12.3.4" in errors[1].message
    assert {t.description for t in ledger.list_transactions(COMPANY)} == {"GOOD ONE", "GOOD TWO"}


def test_a_row_the_ledger_cannot_store_is_a_row_error(ledger: Ledger, uploads: Uploads) -> None:
    body = HEADER + "01/02/2024,HUGE,1000000000000.00\n01/03/2024,FINE,-1.00\n"

    result, _ = uploads.run(uploads.store(body))

    assert (result.imported, result.row_errors) == (1, 1)
    assert [e.model_dump() for e in result.errors] == [
        {
            "line": 2,
            "message": "amount 1000000000000.00 is out of range (at most 999,999,999,999.99)",
        }
    ]


def test_a_file_of_only_bad_rows_fails_naming_the_lines(ledger: Ledger, uploads: Uploads) -> None:
    body = HEADER + "13/45/2024,BAD DATE,-2.00\n01/03/2024,BAD AMOUNT,N/A\n01/04/2024,,-1.00\n"

    with pytest.raises(FatalTaskError, match="all 3 rows have errors") as caught:
        uploads.run(uploads.store(body))

    assert all(f"line {n}" in str(caught.value) for n in (2, 3, 4))
    assert ledger.count_transactions(COMPANY) == 0


def test_a_file_that_is_not_a_statement_fails(ledger: Ledger, uploads: Uploads) -> None:
    spec = uploads.store("just some notes\nnothing tabular\n", filename="notes.csv")

    with pytest.raises(FatalTaskError, match=r"^notes\.csv: "):
        uploads.run(spec)


def test_a_missing_upload_fails_without_naming_a_path(
    uploads: Uploads, artifacts: ArtifactStore
) -> None:
    spec = uploads.store(statement(3))
    artifacts.delete(spec.artifact_id)

    with pytest.raises(FatalTaskError, match="no longer stored") as caught:
        uploads.run(spec)

    assert str(artifacts.root) not in str(caught.value)


def test_cancellation_between_batches_stops_the_import(
    ledger: Ledger, uploads: Uploads, small_batches: int
) -> None:
    spec = uploads.store(statement(50))

    result, sink = uploads.run(spec, CancelAfterFirstBatch())

    assert result.cancelled is True
    assert result.imported == small_batches
    categorization = result.categorization
    assert categorization is not None  # each written row was booked as it was written
    assert (categorization.processed, categorization.cancelled) == (small_batches, True)
    assert ledger.count_transactions(COMPANY) == small_batches
    assert ledger.count_transactions(COMPANY, uncategorized=True) == 0
    assert max(sink.progress) < IMPORT_SHARE


def test_a_company_of_another_tenant_is_refused(ledger: Ledger, uploads: Uploads) -> None:
    ledger.ensure_company("rival", "t2")
    spec = uploads.store(statement(3), company_id="rival", tenant_id=TENANT)

    with pytest.raises(FatalTaskError, match="another tenant"):
        uploads.run(spec)

    assert ledger.count_transactions("rival") == 0


def test_a_new_company_is_created_with_its_chart(ledger: Ledger, uploads: Uploads) -> None:
    spec = uploads.store(statement(3), company_id="newco")

    result, _ = uploads.run(spec)

    assert result.imported == 3
    assert ledger.company_tenant("newco") == TENANT
    assert ledger.count_transactions("newco", uncategorized=True) == 0


def test_rows_are_tagged_with_the_job_and_categorized_by_it_alone(
    ledger: Ledger, uploads: Uploads, small_batches: int
) -> None:
    # Rows another import left uncategorized: the second job's categorizing must touch
    # only the rows its own import tagged.
    leave_uncategorized(ledger, statement(small_batches), "job-first")
    second = uploads.store(statement(5, start=100), filename="february.csv")

    result, _ = uploads.run(second, job_id="job-second")

    assert result.categorization is not None
    assert (result.categorization.requested, result.categorization.categorized) == (5, 5)
    assert ledger.count_transactions(COMPANY, import_job_id="job-first") == small_batches
    assert ledger.count_transactions(COMPANY, import_job_id="job-second") == 5
    assert ledger.count_transactions(COMPANY, uncategorized=True) == small_batches
    assert ledger.count_transactions(COMPANY, import_job_id=second.artifact_id) == 0


def test_the_result_json_keeps_its_shape(uploads: Uploads) -> None:
    # Keys as the API showed them before results were models: ``cancelled`` only when true,
    # ``categorization`` only when the import ran to its end.
    result, _ = uploads.run(uploads.store(statement(3)))

    shown = result.model_dump(mode="json")

    assert list(shown) == [
        "filename",
        "rows",
        "imported",
        "duplicates",
        "row_errors",
        "errors",
        "categorization",
    ]
    assert shown["categorization"]["by_source"] == {"rule": 0, "model": 0, "uncategorized": 3}
    assert set(shown["categorization"]["model"]) == {"trained", "examples", "classes", "threshold"}


def test_a_bad_rows_error_quoting_a_huge_cell_is_bounded_in_the_result(uploads: Uploads) -> None:
    cell = "x" * 131_072  # each bad row quotes a 128 KiB cell
    rows = "".join(f"not-a-date-{n},{cell},-1.00\n" for n in range(100))
    result, _ = uploads.run(uploads.store(statement(1) + rows))
    assert result.row_errors == 100
    assert all(len(error.message) <= 200 for error in result.errors)
    assert len(result.model_dump_json()) < 32_000, "every poll of the job returns the result"


def test_a_retried_attempt_reports_what_the_job_imported_not_duplicates_of_itself(
    uploads: Uploads, small_batches: int
) -> None:
    spec = uploads.store(statement(30))
    started = utcnow() - timedelta(seconds=1)
    uploads.run(spec, CancelAfterFirstBatch(), started_at=started)  # attempt 1 stops early
    result, _ = uploads.run(spec, started_at=started)  # attempt 2 of the same job
    assert (result.rows, result.imported, result.duplicates) == (30, 30, 0)


def test_a_re_upload_categorizes_the_rows_a_cancelled_upload_left(
    ledger: Ledger, uploads: Uploads, small_batches: int
) -> None:
    leave_uncategorized(ledger, statement(small_batches), "job-first")
    assert ledger.count_transactions(COMPANY, uncategorized=True) == small_batches
    again, _ = uploads.run(uploads.store(statement(30)), job_id="job-again")
    assert (again.imported, again.duplicates) == (30 - small_batches, small_batches)
    assert ledger.count_transactions(COMPANY, uncategorized=True) == 0
    assert again.categorization is not None and again.categorization.processed == 30


def test_a_failed_last_step_reports_the_import_it_did(
    ledger: Ledger, uploads: Uploads, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RetryableTaskError("database is locked")

    monkeypatch.setattr("bookkeeper_jobs.tasks.upload.categorize_transactions", broken)
    with pytest.raises(RetryableTaskError) as caught:
        uploads.run(uploads.store(statement(7)))
    partial = caught.value.partial_result
    assert isinstance(partial, UploadAndCategorizeResult)
    assert (partial.rows, partial.imported) == (7, 7)
    assert partial.categorization is not None and partial.categorization.categorized == 7


def test_every_bad_row_is_in_the_error_report(uploads: Uploads, artifacts: ArtifactStore) -> None:
    bad = "".join(f"not-a-date-{n},Row {n},-1.00\n" for n in range(30))
    spec = uploads.store(statement(2) + bad)
    result, _ = uploads.run(spec)
    assert (result.row_errors, len(result.errors)) == (30, 20)
    assert result.error_report == f"/api/jobs/{JOB_ID}/error-report"
    report = artifacts.report_path(spec.artifact_id).read_text(encoding="utf-8").splitlines()
    assert report[0] == "line,error" and len(report) == 1 + 30
    artifacts.delete(spec.artifact_id)
    assert not artifacts.report_path(spec.artifact_id).exists(), "deleted with its upload"


def test_an_error_report_cell_a_spreadsheet_would_run_is_quoted(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    with ErrorReport(path) as report:
        report.add(2, "=cmd|' /C calc'!A0")
        report.add(3, "+1+1")
        report.add(4, "date: not a date")
    with path.open(encoding="utf-8") as written:
        rows = list(csv.reader(written))
    assert rows[1:] == [["2", "'=cmd|' /C calc'!A0"], ["3", "'+1+1"], ["4", "date: not a date"]]


def test_an_upload_without_bad_rows_has_no_error_report(
    uploads: Uploads, artifacts: ArtifactStore
) -> None:
    spec = uploads.store(statement(3))
    result, _ = uploads.run(spec)
    assert result.error_report is None and "error_report" not in result.model_dump(mode="json")
    assert not artifacts.report_path(spec.artifact_id).exists()
