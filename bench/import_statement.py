"""Runs the real ``upload-and-categorize`` task on a big statement; prints throughput and the
peak memory of the process that ran it.

    .venv/bin/python bench/import_statement.py --rows 1000000
    .venv/bin/python bench/import_statement.py --file var/statement-1m.csv
    .venv/bin/python bench/import_statement.py --rows 100000 \\
        --database-url postgresql+psycopg://user@127.0.0.1:5432/db

The statement comes from ``make_statement.py``'s generator (or ``--file``). The task runs in
a fresh child process, so the generator's memory does not count: the child builds a ledger
(a new SQLite file in a temporary directory, or the given PostgreSQL database under a
throwaway company it deletes afterwards) with a few rules and some approved, categorized
history for the model, stores the file as an artifact and runs ``upload_and_categorize``.

Peak RSS is the child's high-water mark (``ru_maxrss``): interpreter, imports, setup and the
task. The RSS right after the imports is printed as the baseline the task adds to.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

import make_statement
from sqlalchemy import delete

from bookkeeper_jobs.artifacts import ArtifactStore, DirectoryArtifactStore
from bookkeeper_jobs.jobs import UploadAndCategorizeSpec, utcnow
from bookkeeper_jobs.ledger import (
    CategoryAssignment,
    Ledger,
    NewTransaction,
    create_ledger_engine,
)
from bookkeeper_jobs.ledger.models import accounts, categorization_rules, companies, transactions
from bookkeeper_jobs.results import UploadAndCategorizeResult
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.context import TaskContext
from bookkeeper_jobs.tasks.reporter import CoalescingReporter
from bookkeeper_jobs.tasks.upload import upload_and_categorize

CHILD_FLAG = "--run-task"
BENCH_JOB_ID = "job-bench"
"""What the imported rows are tagged with (``import_job_id``), as a worker tags them."""
TENANT = "bench"
RULES: tuple[tuple[str, str], ...] = (
    ("STARBUCKS", "6080"),
    ("SHELL OIL", "6190"),
    ("UBER", "6170"),
    ("STRIPE TRANSFER", "4000"),
    ("GITHUB", "6140"),
)
HISTORY: dict[str, str] = {
    "AMAZON MKTPLACE": "6090",
    "CHEVRON": "6190",
    "LYFT": "6170",
    "OFFICE DEPOT": "6090",
    "STAPLES": "6090",
    "COSTCO": "6090",
    "HOME DEPOT": "6130",
    "DOORDASH": "6080",
    "BLUE BOTTLE": "6080",
    "DELTA AIR": "6170",
    "MARRIOTT": "6170",
    "USPS": "6110",
    "FEDEX": "6110",
    "GOOGLE": "6140",
    "ZOOM.US": "6140",
    "SLACK": "6140",
    "SQUARE INC": "4000",
    "MOBILE DEPOSIT": "4100",
    "ZELLE FROM": "4100",
}
HISTORY_PER_MERCHANT = 50


@dataclass
class Figures:
    rows: int = 0
    imported: int = 0
    row_errors: int = 0
    categorized: int = 0
    import_seconds: float = 0.0
    training_seconds: float = 0.0
    categorize_seconds: float = 0.0
    total_seconds: float = 0.0
    baseline_rss_mib: float = 0.0
    before_task_rss_mib: float = 0.0
    peak_after_import_mib: float = 0.0
    peak_rss_mib: float = 0.0


def peak_rss_mib() -> float:
    """``ru_maxrss`` is KiB on Linux and bytes on macOS."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def current_rss_mib() -> float:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except OSError:  # not Linux
        return peak_rss_mib()


# -- the parent: make the file, run the child, print ----------------------------------


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == CHILD_FLAG:
        run_task(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--file", type=Path, help="a statement to import instead")
    parser.add_argument("--database-url", default="", help="PostgreSQL; default a temp SQLite")
    parser.add_argument("--seed", type=int, default=20240131)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bkjobs-bench-") as scratch:
        root = Path(scratch)
        statement = args.file or root / "statement.csv"
        if args.file is None:
            started = time.perf_counter()
            make_statement.write_synthetic(statement, args.rows, args.seed, bad_share=0.001)
            print(f"generated       {args.rows:,} rows in {time.perf_counter() - started:.1f} s")
        config = {"root": str(root), "statement": str(statement), "url": args.database_url}
        child = subprocess.run(
            [sys.executable, __file__, CHILD_FLAG, json.dumps(config)],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
    report(Figures(**json.loads(child.stdout.splitlines()[-1])), statement, args.database_url)


def report(f: Figures, statement: Path, url: str) -> None:
    database = url.split("@")[-1] if url else "SQLite (temporary file)"
    print(f"statement       {statement.name}, ledger: {database}")
    print(f"rows            {f.rows:,} good, {f.row_errors:,} with errors")
    print(f"first chunk     {f.training_seconds:.1f} s (the categorizer loaded or trained first)")
    print(f"imported        {f.imported:,}, categorized as written, {f.import_seconds:.1f} s more")
    print(f"rows/s          {f.rows / max(f.training_seconds + f.import_seconds, 1e-9):,.0f}")
    print(f"categorized     {f.categorized:,}; rows taken over: {f.categorize_seconds:.1f} s")
    print(f"total           {f.total_seconds:.1f} s")
    print(f"RSS after imports      {f.baseline_rss_mib:,.1f} MiB")
    print(f"RSS before the task    {f.before_task_rss_mib:,.1f} MiB (ledger set up)")
    print(f"peak RSS after import  {f.peak_after_import_mib:,.1f} MiB")
    print(f"peak RSS               {f.peak_rss_mib:,.1f} MiB")


# -- the child: set up a ledger and run the task --------------------------------------


class PrintedProgress:
    """A progress sink that prints every tenth percent to stderr."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self._next = 0

    def write_progress(self, progress: int, message: str) -> None:
        if progress >= self._next:
            elapsed = time.perf_counter() - self.started
            print(f"  {progress:3d}% {elapsed:7.1f} s  {message}", file=sys.stderr)
            self._next = progress + 10

    def cancel_requested(self) -> bool:
        return False


class PhaseClock:
    """A reporter noting when the first chunk was imported (the categorizer loaded or
    trained before it) and when the file was read (the first update after the last
    imported chunk), in front of the coalescing reporter a worker uses."""

    def __init__(self) -> None:
        self.reporter = CoalescingReporter(PrintedProgress())
        self.started = time.perf_counter()
        self.first_chunk: float | None = None
        self.file_read: float | None = None
        self.peak_after_import = 0.0

    def update(self, progress: float, message: str = "") -> None:
        imported = message.startswith("Imported")
        if self.first_chunk is None and imported:
            self.first_chunk = time.perf_counter()
        elif self.first_chunk is not None and self.file_read is None and not imported:
            self.file_read = time.perf_counter()
            self.peak_after_import = peak_rss_mib()
        self.reporter.update(progress, message)

    def cancelled(self) -> bool:
        return self.reporter.cancelled()


def run_task(config: dict[str, str]) -> None:
    baseline = current_rss_mib()  # interpreter and imports: what a worker starts from
    root = Path(config["root"])
    url = config["url"] or f"sqlite:///{root / 'ledger.db'}"
    ledger = Ledger(create_ledger_engine(url))
    artifacts = DirectoryArtifactStore(root / "artifacts")
    company = f"bench-{secrets.token_hex(4)}"
    try:
        ledger.migrate()
        set_up_company(ledger, company)
        artifact_id = store_artifact(artifacts, Path(config["statement"]))
        spec = UploadAndCategorizeSpec(
            company_id=company,
            tenant_id=TENANT,
            artifact_id=artifact_id,
            filename=Path(config["statement"]).name,
        )
        before = current_rss_mib()
        clock = PhaseClock()
        context = TaskContext(
            job_id=BENCH_JOB_ID,
            attempt=1,
            started_at=utcnow(),
            spec=spec,
            ledger=ledger,
            artifacts=artifacts,
            reporter=clock,
            settings=Settings(environment="development", data_dir=root),
        )
        result = upload_and_categorize(context)
        clock.reporter.flush()
        finished = time.perf_counter()
    finally:
        if config["url"]:
            delete_company(ledger, company)
        ledger.dispose()
    print(json.dumps(asdict(figures(result, clock, finished, baseline, before))))


def figures(
    result: UploadAndCategorizeResult,
    clock: PhaseClock,
    finished: float,
    baseline: float,
    before: float,
) -> Figures:
    file_read = clock.file_read or finished
    first_chunk = clock.first_chunk or file_read
    return Figures(
        rows=result.rows,
        imported=result.imported,
        row_errors=result.row_errors,
        categorized=result.categorization.categorized if result.categorization else 0,
        import_seconds=file_read - first_chunk,
        training_seconds=first_chunk - clock.started,
        categorize_seconds=finished - file_read,
        total_seconds=finished - clock.started,
        baseline_rss_mib=baseline,
        before_task_rss_mib=before,
        peak_after_import_mib=clock.peak_after_import,
        peak_rss_mib=peak_rss_mib(),
    )


def set_up_company(ledger: Ledger, company: str) -> None:
    """Rules for a few merchants; approved, categorized history (dated 2023, before the
    statement) for most of the others, so the model trains."""
    ledger.ensure_company(company, TENANT)
    for pattern, code in RULES:
        ledger.add_rule(company, kind="contains", pattern=pattern, account_code=code)
    history = [
        NewTransaction(
            date=datetime.date(2023, 1 + n % 12, 1 + n % 28),
            description=f"{merchant} {1000 + n}",
            amount=Decimal(f"-{10 + n}.{n % 100:02d}"),
        )
        for merchant in HISTORY
        for n in range(HISTORY_PER_MERCHANT)
    ]
    ledger.add_transactions(company, history)
    rows = ledger.list_transactions(company, limit=len(history))
    codes = [next(c for m, c in HISTORY.items() if t.description.startswith(m)) for t in rows]
    ledger.save_categories(
        company,
        [CategoryAssignment(t.id, code, 1.0, "model") for t, code in zip(rows, codes, strict=True)],
    )
    ledger.approve(company, [t.id for t in rows])


def store_artifact(artifacts: ArtifactStore, statement: Path) -> str:
    artifact_id = secrets.token_hex(16)
    path = artifacts.path(artifact_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(statement, path)
    except OSError:
        shutil.copyfile(statement, path)
    return artifact_id


def delete_company(ledger: Ledger, company: str) -> None:
    """Leaves the given PostgreSQL database as it was found."""
    with ledger.engine.begin() as conn:
        for table in (transactions, categorization_rules, accounts):
            conn.execute(delete(table).where(table.c.company_id == company))
        conn.execute(delete(companies).where(companies.c.id == company))


if __name__ == "__main__":
    main()
