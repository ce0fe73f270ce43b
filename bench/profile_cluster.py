"""Where cluster mode's API spends its CPU: py-spy on ``bkjobs serve`` (cluster mode, over the
emulator, warm with finished jobs, as ``side_by_side.py`` starts it) during a wrk run of each
workload (prints figures, never part of ``make test``).

    .venv/bin/python bench/profile_cluster.py [--jobs 10000] [--seconds 8] [--rate 200]

For each workload: the wrk rate while profiled, then the functions holding the largest shares
of the server process's samples (inclusive: a function's share counts the functions it
calls; idle threads included). The raw stacks go to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from compare.cluster import cluster_api
from compare.seeding import TENANT, Workload
from compare.wrk import Request, run_wrk
from side_by_side import SUBMIT_COMPANIES, Data, requests_for

RESULTS = Path(__file__).resolve().parent / "results"
WORKLOADS = ("reads", "reads-304", "listing", "submits")


def profile(pid: int, seconds: int, rate: int, out: Path) -> subprocess.Popen[bytes]:
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [str(py_spy), "record", "--format", "raw", "-r", str(rate), "-d", str(seconds)]
    command += ["-p", str(pid), "-o", str(out), "--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def shares(raw: Path, top: int) -> list[tuple[str, float]]:
    """Inclusive share of the samples for each function (each counted once per stack)."""
    total = 0
    found: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = {without_line(frame) for frame in stack.split(";")}
        for frame in frames:
            found[frame] += count
    return [(name, n / total) for name, n in found.most_common(top)] if total else []


def without_line(frame: str) -> str:
    """``send (uvicorn/protocols/http/httptools_impl.py:123)`` without ``:123``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples a second")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS))
    args = parser.parse_args()
    workload = Workload.of(args.jobs)
    api_key = f"bench-{secrets.token_hex(16)}"
    companies = workload.company_ids() + SUBMIT_COMPANIES
    RESULTS.mkdir(exist_ok=True)
    started = datetime.now(UTC)
    with (
        tempfile.TemporaryDirectory(prefix="bkjobs-profile-") as scratch,
        cluster_api(Path(scratch), workload, TENANT, api_key, companies, access_log=False) as (
            server,
            tags,
        ),
    ):
        data = Data(workload, api_key, [], [], tags)
        print(f"load average at the start: {os.getloadavg()}", flush=True)
        for name in args.workloads:
            requests: list[Request] = requests_for(name, "cluster", data)
            script = Path(scratch) / "workload.lua"
            run_wrk(server.base_url, requests, script, threads=2, connections=64, seconds=2)
            raw = RESULTS / f"profile-cluster-{name}-{started:%Y%m%dT%H%M%SZ}.txt"
            spy = profile(server.process.pid, args.seconds, args.rate, raw)
            figures = run_wrk(
                server.base_url,
                requests,
                script,
                threads=2,
                connections=64,
                seconds=args.seconds,
            )
            spy.wait(args.seconds + 30)
            print(
                f"\n{name}: {figures.rate:,.0f} req/s while profiled, p99 {figures.p99_ms:.1f} ms,"
                f" failed {figures.failures}; load {os.getloadavg()[0]:.1f}"
            )
            for frame, share in shares(raw, args.top):
                print(f"  {share:6.1%}  {frame}")


if __name__ == "__main__":
    main()
