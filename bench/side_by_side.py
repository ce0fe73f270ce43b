"""This product against the design it replaces, side by side on one machine (issue 14; prints
figures, never part of ``make test``).

    .venv/bin/python bench/side_by_side.py [--jobs 10000 | --flat] [--rounds 3] [--seconds 10]

Seeds the same finished jobs into the seed guide's design (FastAPI + RQ + a local Redis,
``bench/seed_design/``) and into the embedded mode's job store, starts the seed's API,
``bkjobs serve`` as shipped and a bare FastAPI route returning a constant job (the ceiling),
all under the same uvicorn with uvloop and httptools, then runs ``wrk -t2 -c64`` for status
reads, the 304 path (``If-None-Match``), company listings (limit 50) and submissions, the
servers alternating within each round. Prints medians with min/max and the targets, then the
cost of access logging (reads, on against off); writes everything as JSON to
``bench/results/``. Needs ``wrk`` and ``redis-server`` (``apt-get install -y wrk
redis-server``) and the ``bench`` extra (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from compare.cluster import cluster_api
from compare.report import Summary, Table, Target, environment, ratio, targets
from compare.seeding import TENANT, Workload, seed_product, seed_rq
from compare.servers import Server, Sides, all_sides, redis_server
from compare.wrk import Figures, Request, run_wrk

from bookkeeper_jobs.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLE = 1000
WARM_UP_SECONDS = 2
SUBMIT_COMPANIES = [f"new-co-{n:03d}" for n in range(100)]
ACCESS_LOG: bool = Settings.model_fields["access_log"].default
"""What ``bkjobs serve`` ships (``BKJOBS_ACCESS_LOG``); every server of the main table runs
with the same setting, so the table compares designs, not logging."""


@dataclasses.dataclass
class Data:
    workload: Workload
    api_key: str
    product_tags: list[tuple[str, str]]
    seed_ids: list[str]
    cluster_tags: list[tuple[str, str]]


def requests_for(workload: str, side: str, data: Data) -> list[Request]:
    auth = {"Authorization": f"Bearer {data.api_key}"}
    if workload == "reads":
        ids = {
            "seed": data.seed_ids,
            "cluster": [job_id for job_id, _ in data.cluster_tags],
        }.get(side, [job_id for job_id, _ in data.product_tags])
        return [Request("GET", f"/api/jobs/{job_id}", auth) for job_id in ids[:SAMPLE]]
    if workload == "reads-304":
        tags = data.cluster_tags if side == "cluster" else data.product_tags
        return [
            Request("GET", f"/api/jobs/{job_id}", {**auth, "If-None-Match": tag})
            for job_id, tag in tags[:SAMPLE]
        ]
    if workload == "listing":
        return [
            Request("GET", f"/api/jobs/company/{company}?limit=50", auth)
            for company in data.workload.company_ids()
        ]
    body = {"company_id": "", "tenant_id": TENANT}
    json_auth = {**auth, "Content-Type": "application/json"}
    return [
        Request("POST", "/api/jobs/categorize", json_auth, json.dumps({**body, "company_id": c}))
        for c in SUBMIT_COMPANIES
    ]


def servers_for(workload: str, sides: Sides, cluster: Server | None) -> dict[str, Server]:
    product = sides.product_submits if workload == "submits" else sides.product
    chosen = {"seed": sides.seed, "product": product, "bare": sides.bare}
    if cluster is not None:
        chosen["cluster"] = cluster
    if workload == "reads-304":
        del chosen["seed"]  # the seed design has no ETag: compared with its plain reads
        del chosen["bare"]
    return chosen


def measure(
    args: argparse.Namespace,
    data: Data,
    sides: Sides,
    cluster: Server | None,
    scratch: Path,
    workloads: list[str],
) -> dict[str, dict[str, list[Figures]]]:
    runs: dict[str, dict[str, list[Figures]]] = {w: {} for w in workloads}
    # A short unrecorded run per server and workload first: the first requests of a fresh
    # process (lazy imports, connection pools, the page cache) are no design's steady state.
    for workload in workloads:
        for side, server in servers_for(workload, sides, cluster).items():
            warm_up(args, server, requests_for(workload, side, data), scratch)
    for round_number in range(1, args.rounds + 1):
        for workload in workloads:
            chosen = list(servers_for(workload, sides, cluster).items())
            if round_number % 2 == 0:
                chosen.reverse()  # alternate who goes first
            for side, server in chosen:
                figures = wrk(args, server, requests_for(workload, side, data), scratch)
                runs[workload].setdefault(side, []).append(figures)
                print(
                    f"  round {round_number} {workload:9} {side:8} {figures.rate:9,.0f} req/s"
                    f"  p99 {figures.p99_ms:8.1f} ms  failed {figures.failures}",
                    flush=True,
                )
    return runs


def warm_up(
    args: argparse.Namespace, server: Server, requests: list[Request], scratch: Path
) -> None:
    wrk(argparse.Namespace(**{**vars(args), "seconds": WARM_UP_SECONDS}), server, requests, scratch)


def wrk(
    args: argparse.Namespace, server: Server, requests: list[Request], scratch: Path
) -> Figures:
    return run_wrk(
        server.base_url,
        requests,
        scratch / "workload.lua",
        threads=args.threads,
        connections=args.connections,
        seconds=args.seconds,
    )


def print_table(title: str, table: Table) -> None:
    print(f"\n{title}")
    for workload, sides in table.items():
        seed = sides.get("seed")
        for side, summary in sides.items():
            versus = ""
            if seed is not None and side != "seed":
                versus = f"  {ratio(summary.rate, seed.rate):6.2f}x seed"
            print(f"  {workload:9} {side:8} {summary.cells()}{versus}")


def run_size(args: argparse.Namespace, jobs: int, scratch: Path) -> dict[str, object]:
    workload = Workload.of(jobs)
    api_key = f"bench-{secrets.token_hex(16)}"
    with redis_server(scratch) as redis_url:
        began = time.monotonic()
        seed_ids = seed_rq(redis_url, workload)
        product_data = scratch / "product"
        product_tags = seed_product(product_data / "jobs.db", workload)
        print(
            f"seeded {jobs:,} jobs over {workload.companies} companies on each side"
            f" in {time.monotonic() - began:.0f} s",
            flush=True,
        )
        companies = workload.company_ids() + SUBMIT_COMPANIES
        workloads = ["reads", "reads-304", "listing", "submits"]
        cluster_timings: dict[str, float] = {}
        with ExitStack() as stack:
            cluster: Server | None = None
            cluster_tags: list[tuple[str, str]] = []
            if args.cluster:
                cluster, cluster_tags = stack.enter_context(
                    cluster_api(
                        scratch,
                        workload,
                        TENANT,
                        api_key,
                        companies,
                        access_log=ACCESS_LOG,
                        startup_seconds=args.cluster_startup_seconds,
                        timings=cluster_timings,
                    )
                )
            data = Data(workload, api_key, product_tags, seed_ids, cluster_tags)
            load = [os.getloadavg()]
            sides = stack.enter_context(
                all_sides(
                    scratch, redis_url, product_data, api_key, companies, access_log=ACCESS_LOG
                )
            )
            runs = measure(args, data, sides, cluster, scratch, workloads)
            load.append(os.getloadavg())
            table, met = report_table(args, jobs, runs)
            logging = None
            if args.access_log_cost:
                other = scratch / "other-access-log"
                (other / "product").mkdir(parents=True)
                shutil.copy(product_data / "jobs.db", other / "product" / "jobs.db")
                with all_sides(
                    other,
                    redis_url,
                    other / "product",
                    api_key,
                    companies,
                    access_log=not ACCESS_LOG,
                ) as others:
                    logging = access_log_cost(
                        args, data, {ACCESS_LOG: sides, not ACCESS_LOG: others}, scratch
                    )
                load.append(os.getloadavg())
    print(f"  load average (1, 5, 15 min) before, after the table, at the end: {load}")
    return {
        "jobs": jobs,
        "companies": workload.companies,
        "load_averages": load,
        "cluster_seconds": cluster_timings,
        "runs": {
            w: {s: [dataclasses.asdict(f) for f in r] for s, r in by_side.items()}
            for w, by_side in runs.items()
        },
        "summary": {
            w: {s: dataclasses.asdict(v) for s, v in by_side.items()}
            for w, by_side in table.items()
        },
        "targets": [dataclasses.asdict(t) for t in met],
        "access_log": logging,
    }


def report_table(
    args: argparse.Namespace, jobs: int, runs: dict[str, dict[str, list[Figures]]]
) -> tuple[Table, list[Target]]:
    table = {w: {side: Summary.of(r) for side, r in by_side.items()} for w, by_side in runs.items()}
    print_table(f"{jobs:,} jobs, medians of {args.rounds} runs (min-max)", table)
    met = targets(table)
    for target in met:
        mark = "met   " if target.met else "MISSED"
        print(f"  {mark} {target.name}: {target.wanted}, measured {target.measured}")
    return table, met


def access_log_cost(
    args: argparse.Namespace, data: Data, sides: dict[bool, Sides], scratch: Path
) -> dict[str, object]:
    """Status reads with the access log on and off (to a file), the product and the seed."""
    runs: dict[str, list[Figures]] = {}
    for by_setting in sides.values():
        for side in ("product", "seed"):
            warm_up(args, getattr(by_setting, side), requests_for("reads", side, data), scratch)
    for round_number in range(1, args.rounds + 1):
        for side in ("product", "seed"):
            order = [True, False] if round_number % 2 else [False, True]
            for access_log in order:
                server = getattr(sides[access_log], side)
                figures = wrk(args, server, requests_for("reads", side, data), scratch)
                runs.setdefault(f"{side}, access log {'on' if access_log else 'off'}", []).append(
                    figures
                )
    summaries = {name: Summary.of(r) for name, r in runs.items()}
    print(
        f"\naccess log (status reads, medians of {args.rounds} runs; shipped: "
        f"{'on' if ACCESS_LOG else 'off'})"
    )
    for name, summary in summaries.items():
        print(f"  {name:26} {summary.cells()}")
    costs = {}
    for side in ("product", "seed"):
        on, off = summaries[f"{side}, access log on"], summaries[f"{side}, access log off"]
        costs[side] = 1 - on.rate / off.rate
        print(f"  {side}: the access log costs {costs[side]:.0%} of the read rate")
    return {
        "summary": {name: dataclasses.asdict(s) for name, s in summaries.items()},
        "rate_cost": costs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="finished jobs on each side")
    parser.add_argument(
        "--flat", action="store_true", help="1,000 and 100,000 jobs (the default run has 10,000)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per figure")
    parser.add_argument("--seconds", type=int, default=10, help="length of one wrk run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--no-access-log-cost", dest="access_log_cost", action="store_false")
    parser.add_argument(
        "--no-cluster", dest="cluster", action="store_false", help="leave cluster mode out"
    )
    parser.add_argument(
        "--cluster-startup-seconds",
        type=float,
        default=1800,
        help="how long cluster mode's API may take to answer /readyz (its watch cache's first"
        " list of every job from the in-process emulator: minutes at 100,000)",
    )
    args = parser.parse_args()
    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not on PATH: apt-get install -y wrk redis-server")
    sizes = [1_000, 100_000] if args.flat else [args.jobs]
    started = datetime.now(UTC)
    results: list[dict[str, object]] = []
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"side-by-side-{started:%Y%m%dT%H%M%SZ}.json"
    for jobs in sizes:
        with tempfile.TemporaryDirectory(prefix="bkjobs-side-by-side-") as scratch:
            results.append(run_size(args, jobs, Path(scratch)))
        # After each size: a later size that fails (a server lost) leaves the earlier ones.
        out.write_text(
            json.dumps(
                {
                    "started": started.isoformat(),
                    "command": sys.argv,
                    "settings": vars(args),
                    "environment": environment(),
                    "sizes": results,
                },
                indent=2,
            )
        )
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
