"""Upload-and-categorize of a 1,000,000-row statement through the product's real path, on
SQLite and on PostgreSQL (prints figures; not a test).

    .venv/bin/python bench/large_import.py                    # both ledgers, 1,000,000 rows
    .venv/bin/python bench/large_import.py --rows 200000 --ledger sqlite

For each ledger: a fresh data dir and ``bkjobs serve`` (the API and its real worker
processes, ``BKJOBS_WORKER_CONCURRENCY`` 2) with the ledger on a new SQLite file or on a
throwaway PostgreSQL started as the test suite starts one (``tests/postgres.py``). The
company gets a few rules and approved history (``import_statement.set_up_company``); a
``categorize`` job trains and caches its model, as an earlier import would have. Then the
statement (``make_statement.py``'s card and ACH lines, 0.1 % bad rows) is POSTed to
``/api/jobs/upload-and-categorize`` and the job followed until it ends.

Printed per ledger: seconds from the POST to the job's end, rows per second, the peak RSS
(``VmHWM``) of the task process that ran the job, of its worker (supervisor) and of the API
process, and the job's status writes (every write bumps the job row's ``version``: Start,
each Progress, the ending). Figures are also written as JSON under ``var/bench/``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import make_statement
from import_statement import TENANT, set_up_company

from bookkeeper_jobs.ledger import Ledger, create_ledger_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.postgres: the suite's throwaway PostgreSQL
from tests.postgres import ThrowawayServer, _find_bindir  # noqa: E402

COMPANY = "bench-co"
API_KEY = "bench-" + secrets.token_hex(8)
POLL_SECONDS = 0.25
SAMPLE_SECONDS = 0.05
TERMINAL = {"complete", "failed", "cancelled"}


@dataclass
class Figures:
    ledger: str
    rows: int
    seconds: float = 0.0
    upload_seconds: float = 0.0
    rows_per_second: float = 0.0
    task_cpu_seconds: float = 0.0
    task_peak_rss_mib: float = 0.0
    worker_peak_rss_mib: float = 0.0
    api_peak_rss_mib: float = 0.0
    status_writes: int = 0
    load_average: float = 0.0
    phase: str = ""
    result: dict[str, object] = field(default_factory=dict)


# -- processes and their memory -------------------------------------------------------


def _children(pid: int) -> list[int]:
    """Children started by any thread of ``pid``."""
    found: list[int] = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(child) for child in listing.read_text().split())
        except OSError:
            continue  # the thread ended
    return found


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class PeakSampler:
    """Samples the high-water RSS of the server (the API), its children (the worker
    supervisors) and their children (the forked task processes) until stopped."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.api = self.worker = self.task = self.task_cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.api = max(self.api, _peak_mib(self.server_pid))
            for worker in _children(self.server_pid):
                self.worker = max(self.worker, _peak_mib(worker))
                for task in _children(worker):
                    self.task = max(self.task, _peak_mib(task))
                    self.task_cpu = max(self.task_cpu, _cpu_seconds(task))


@contextmanager
def running_server(data_dir: Path, ledger_url: str) -> Iterator[tuple[str, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "BKJOBS_ENVIRONMENT": "development",
        "BKJOBS_DATABASE_URL": ledger_url,
        "BKJOBS_API_KEYS": json.dumps({API_KEY: {"tenant_id": TENANT, "company_ids": [COMPANY]}}),
        "BKJOBS_MAX_UPLOAD_BYTES": str(1 << 30),
        "BKJOBS_JOB_TIMEOUT": "3600",  # so a slow run is measured, not timed out
    }
    command = [str(Path(sys.executable).parent / "bkjobs"), "serve", "--port", str(port)]
    log = (data_dir / "serve.log").open("wb")
    server = subprocess.Popen(
        [*command, "--data-dir", str(data_dir)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, server)
        yield base, server.pid
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"bkjobs serve exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("bkjobs serve did not become ready within 60 s")


# -- one run --------------------------------------------------------------------------


def follow(client: httpx.Client, job_id: str) -> dict[str, object]:
    last = ""
    while True:
        job: dict[str, object] = client.get(f"/api/jobs/{job_id}").raise_for_status().json()
        line = f"  {job['status']:>9} {job['progress']:3}%  {job['message']}"
        if line != last:
            print(line, file=sys.stderr)
            last = line
        if job["status"] in TERMINAL:
            return job
        time.sleep(POLL_SECONDS)


def run_one(label: str, ledger_url: str, statement: Path, rows: int, scratch: Path) -> Figures:
    data_dir = scratch / f"data-{label}"
    data_dir.mkdir()
    ledger_url = ledger_url or f"sqlite:///{data_dir / 'ledger.db'}"
    ledger = Ledger(create_ledger_engine(ledger_url))
    ledger.migrate()
    set_up_company(ledger, COMPANY)
    ledger.dispose()
    figures = Figures(ledger=label, rows=rows)
    with running_server(data_dir, ledger_url) as (base, pid):
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
            body = {"company_id": COMPANY, "tenant_id": TENANT, "limit": 1}
            warm = client.post("/api/jobs/categorize", json=body).raise_for_status().json()
            follow(client, warm["job_id"])  # trains and caches the company's model
            with PeakSampler(pid) as peaks, statement.open("rb") as upload:
                started = time.perf_counter()
                answer = client.post(
                    "/api/jobs/upload-and-categorize",
                    data={"company_id": COMPANY, "tenant_id": TENANT},
                    files={"file": (statement.name, upload, "text/csv")},
                ).raise_for_status()
                figures.upload_seconds = time.perf_counter() - started
                job = follow(client, answer.json()["job_id"])
                figures.seconds = time.perf_counter() - started
        figures.api_peak_rss_mib = peaks.api
        figures.worker_peak_rss_mib = peaks.worker
        figures.task_peak_rss_mib = peaks.task
        figures.task_cpu_seconds = peaks.task_cpu
    figures.load_average = os.getloadavg()[0]
    figures.phase = str(job["status"])
    figures.result = {k: v for k, v in dict(job["result"] or {}).items() if k != "errors"}
    figures.rows_per_second = rows / figures.seconds
    figures.status_writes = status_writes(data_dir / "jobs.db", str(job["id"]))
    return figures


def status_writes(jobs_db: Path, job_id: str) -> int:
    """Every status write is one guarded UPDATE that bumps ``version`` (created at 1)."""
    with sqlite3.connect(jobs_db) as conn:
        (version,) = conn.execute("SELECT version FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return int(version) - 1


@contextmanager
def ledger_url(label: str) -> Iterator[str]:
    if label == "sqlite":
        yield ""
        return
    bindir = _find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL binaries (apt-get install postgresql)")
    server = ThrowawayServer(bindir)
    try:
        yield server.start()
    finally:
        server.stop()


# -- main -----------------------------------------------------------------------------


def report(f: Figures) -> None:
    result = f.result
    categorization = result.get("categorization") or {}
    assert isinstance(categorization, dict)
    print(f"{f.ledger}: {f.phase}, {f.rows:,} rows in the file")
    print(
        f"  end to end        {f.seconds:8.1f} s   (POST answered after {f.upload_seconds:.1f} s)"
    )
    print(f"  rows/s            {f.rows_per_second:8,.0f}")
    print(
        f"  imported          {result.get('imported', 0):>8,}   errors {result.get('row_errors')}"
    )
    print(f"  categorized       {categorization.get('categorized', 0):>8,}")
    print(f"  task CPU          {f.task_cpu_seconds:8.1f} s   (user + system)")
    print(f"  peak RSS task     {f.task_peak_rss_mib:8.1f} MiB  (the process that ran the job)")
    print(f"  peak RSS worker   {f.worker_peak_rss_mib:8.1f} MiB  (its supervisor)")
    print(f"  peak RSS API      {f.api_peak_rss_mib:8.1f} MiB")
    print(f"  status writes     {f.status_writes:8d}")
    print(f"  load average      {f.load_average:8.1f}     (1 min, at the end: other work)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--ledger", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seed", type=int, default=20240131)
    args = parser.parse_args()
    labels = ["sqlite", "postgresql"] if args.ledger == "both" else [args.ledger]
    results = []
    with tempfile.TemporaryDirectory(prefix="bkjobs-large-import-") as scratch:
        root = Path(scratch)
        statement = root / "statement.csv"
        make_statement.write_synthetic(statement, args.rows, args.seed, bad_share=0.001)
        size = statement.stat().st_size / (1 << 20)
        print(f"statement: {args.rows:,} rows, {size:.1f} MiB")
        for label in labels:
            with ledger_url(label) as url:
                figures = run_one(label, url, statement, args.rows, root)
            report(figures)
            results.append(asdict(figures))
    out = ROOT / "var" / "bench" / f"large_import-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"figures: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
