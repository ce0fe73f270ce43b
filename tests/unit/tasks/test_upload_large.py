"""A large statement (50,000 rows), as a user sees its import: a bounded number of status
writes with progress that keeps growing, a bad row near the end reported by its line while
every good row lands exactly once, and an interruption (a failed write, a cancel) that
leaves only whole chunks behind, which a retry or a re-upload completes exactly once.
On SQLite and on PostgreSQL (the ``ledger`` fixture)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bookkeeper_jobs.artifacts import DirectoryArtifactStore as ArtifactStore
from bookkeeper_jobs.errors import ServiceUnavailableError
from bookkeeper_jobs.jobs import utcnow
from bookkeeper_jobs.ledger import Ledger
from bookkeeper_jobs.ledger.models import transactions
from bookkeeper_jobs.tasks.reporter import CoalescingReporter
from bookkeeper_jobs.tasks.upload import upload_and_categorize
from tests.unit.ledger.factories import COMPANY, RecordingSink
from tests.unit.tasks.conftest import ContextFactory
from tests.unit.tasks.test_upload import Uploads, statement

pytestmark = pytest.mark.slow

ROWS = 50_000
CHUNK = 1_000


class TickingClock:
    """Time that passes half a second whenever it is read: a slow import (a minute or so
    for 50,000 rows), without waiting for one."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


@pytest.fixture
def uploads(ledger: Ledger, artifacts: ArtifactStore, make_context: ContextFactory) -> Uploads:
    return Uploads(ledger, artifacts, make_context)


@pytest.fixture(autouse=True)
def chunks_of_a_thousand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bookkeeper_jobs.tasks.upload.BATCH_SIZE", CHUNK)


def rows_in_ledger(ledger: Ledger) -> tuple[int, int]:
    """(rows, distinct fingerprints) of the company."""
    t = transactions.c
    query = select(func.count(), func.count(t.fingerprint.distinct())).where(
        t.company_id == COMPANY
    )
    with ledger.engine.connect() as conn:
        total, distinct = conn.execute(query).one()
    return int(total), int(distinct)


def test_a_large_import_writes_few_statuses_and_progress_keeps_growing(
    ledger: Ledger, uploads: Uploads, make_context: ContextFactory
) -> None:
    spec = uploads.store(statement(ROWS))
    sink = RecordingSink()
    reporter = CoalescingReporter(sink, clock=TickingClock())  # as a worker builds it

    result = upload_and_categorize(make_context(spec, ledger, reporter=reporter))
    reporter.flush()

    assert result.imported == ROWS
    assert len(sink.writes) <= 200, "every write is a status write pollers see"
    progress = sink.progress
    assert progress == sorted(progress)
    assert len({p for p in progress if 0 < p < 100}) >= 10, "progress shown along the way"
    assert progress[-1] == 100
    assert sink.writes[-1][1] == f"Categorized {ROWS}/{ROWS} transactions"


def test_a_bad_row_near_the_end_is_reported_and_every_good_row_lands_once(
    ledger: Ledger, uploads: Uploads
) -> None:
    body = statement(ROWS) + "02/30/2024,CHEVRON 0042 SAN JOSE CA,-41.07\n"
    body += "".join(f"03/01/2024,AFTER THE BAD ROW {n},-{n}.50\n" for n in range(5))

    result, _ = uploads.run(uploads.store(body))

    bad_line = 1 + ROWS + 1  # the header, the good rows, then the bad one
    assert [(e.line, "02/30/2024" in e.message) for e in result.errors] == [(bad_line, True)]
    assert (result.rows, result.imported, result.row_errors) == (ROWS + 5, ROWS + 5, 1)
    assert rows_in_ledger(ledger) == (ROWS + 5, ROWS + 5)
    assert ledger.count_transactions(COMPANY, uncategorized=True) == 0


def test_a_write_failing_near_the_end_leaves_whole_chunks_and_the_retry_completes(
    ledger: Ledger, uploads: Uploads, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = uploads.store(statement(ROWS))
    started = utcnow() - timedelta(seconds=1)
    real = Ledger.import_transactions
    calls = 0

    def fails_on_the_45th_chunk(self: Ledger, *args: object, **kwargs: object) -> list[bool]:
        nonlocal calls
        calls += 1
        if calls == 45:
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Ledger, "import_transactions", fails_on_the_45th_chunk)
    with pytest.raises(ServiceUnavailableError) as caught:
        uploads.run(spec, started_at=started)

    partial = caught.value.partial_result
    assert partial is not None and partial.imported == 44 * CHUNK
    assert rows_in_ledger(ledger) == (44 * CHUNK, 44 * CHUNK), "no half-written chunk"
    assert ledger.count_transactions(COMPANY, uncategorized=True) == 0

    monkeypatch.setattr(Ledger, "import_transactions", real)
    result, _ = uploads.run(spec, started_at=started)  # the job's next attempt

    assert (result.rows, result.imported, result.duplicates) == (ROWS, ROWS, 0)
    assert rows_in_ledger(ledger) == (ROWS, ROWS)


def test_a_cancel_during_a_large_import_stops_it_between_whole_chunks(
    ledger: Ledger, uploads: Uploads
) -> None:
    spec = uploads.store(statement(ROWS))

    result, sink = uploads.run(spec, RecordingSink(cancel_after=10))

    assert result.cancelled is True
    assert 0 < result.imported < ROWS and result.imported % CHUNK == 0
    assert rows_in_ledger(ledger) == (result.imported, result.imported)
    assert ledger.count_transactions(COMPANY, uncategorized=True) == 0, "each row whole"
    assert max(sink.progress) < 100

    again, _ = uploads.run(uploads.store(statement(ROWS)), job_id="job-again")

    assert (again.imported, again.duplicates) == (ROWS - result.imported, result.imported)
    assert rows_in_ledger(ledger) == (ROWS, ROWS)
