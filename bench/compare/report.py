"""Medians with min/max, the targets of issue 14 as measured, and the environment."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import sqlite3
import statistics
import subprocess
from dataclasses import dataclass

from compare.wrk import Figures


@dataclass(frozen=True)
class Summary:
    rate: float
    rate_min: float
    rate_max: float
    p99: float
    p99_min: float
    p99_max: float
    failures: int

    @classmethod
    def of(cls, runs: list[Figures]) -> Summary:
        rates = [run.rate for run in runs]
        p99s = [run.p99_ms for run in runs]
        return cls(
            rate=statistics.median(rates),
            rate_min=min(rates),
            rate_max=max(rates),
            p99=statistics.median(p99s),
            p99_min=min(p99s),
            p99_max=max(p99s),
            failures=sum(run.failures for run in runs),
        )

    def cells(self) -> str:
        rate = f"{self.rate:,.0f} ({self.rate_min:,.0f}-{self.rate_max:,.0f})"
        p99 = f"{self.p99:,.1f} ({self.p99_min:,.1f}-{self.p99_max:,.1f})"
        failed = f"  [{self.failures} failed]" if self.failures else ""
        return f"{rate:>24} req/s  p99 {p99:>24} ms{failed}"


Table = dict[str, dict[str, Summary]]
"""workload -> side -> summary."""


@dataclass(frozen=True)
class Target:
    name: str
    wanted: str
    measured: str
    met: bool


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def targets(table: Table) -> list[Target]:
    """Issue 14's targets for reads, the 304 path, listings and submits."""
    found: list[Target] = []
    reads, seed_reads = table["reads"]["product"], table["reads"]["seed"]
    bare_reads = table["reads"]["bare"]
    found += [
        rate_target("status reads vs seed", reads, seed_reads, 3.0),
        p99_target("status reads p99 vs seed", reads, seed_reads, 1.0),
        Target(
            "status reads vs bare endpoint",
            ">= 70% of its req/s",
            f"{ratio(reads.rate, bare_reads.rate):.0%}",
            reads.rate >= 0.7 * bare_reads.rate,
        ),
    ]
    if "reads-304" in table:
        not_modified = table["reads-304"]["product"]
        found += [
            rate_target("304 path vs seed reads", not_modified, seed_reads, 3.0),
            rate_target("304 path vs own 200 reads", not_modified, reads, 1.0),
        ]
    listing, seed_listing = table["listing"]["product"], table["listing"]["seed"]
    found += [
        rate_target("listing vs seed", listing, seed_listing, 20.0),
        p99_target("listing p99 vs seed", listing, seed_listing, 0.1),
    ]
    submits, seed_submits = table["submits"]["product"], table["submits"]["seed"]
    found += [
        rate_target("submits vs seed", submits, seed_submits, 1.5),
        p99_target("submits p99 vs seed", submits, seed_submits, 1.0),
    ]
    if "cluster" in table["reads"]:
        found += cluster_targets(table)
    return found


def cluster_targets(table: Table) -> list[Target]:
    """The same targets for the API in cluster mode (over its watch cache)."""
    found = []
    for workload, factor, p99_factor in (("reads", 3.0, 1.0), ("listing", 20.0, 0.1)):
        ours, theirs = table[workload]["cluster"], table[workload]["seed"]
        found += [
            rate_target(f"cluster {workload} vs seed", ours, theirs, factor),
            p99_target(f"cluster {workload} p99 vs seed", ours, theirs, p99_factor),
        ]
    cluster_reads, bare_reads = table["reads"]["cluster"], table["reads"]["bare"]
    found.append(
        Target(
            "cluster reads vs bare endpoint",
            ">= 70% of its req/s",
            f"{ratio(cluster_reads.rate, bare_reads.rate):.0%}",
            cluster_reads.rate >= 0.7 * bare_reads.rate,
        )
    )
    if "cluster" in table.get("reads-304", {}):
        found.append(
            rate_target(
                "cluster 304 path vs own 200 reads",
                table["reads-304"]["cluster"],
                cluster_reads,
                1.0,
            )
        )
    submits, seed_submits = table["submits"]["cluster"], table["submits"]["seed"]
    found += [
        rate_target("cluster submits vs seed", submits, seed_submits, 1.5),
        p99_target("cluster submits p99 vs seed", submits, seed_submits, 1.0),
    ]
    return found


def rate_target(name: str, ours: Summary, theirs: Summary, factor: float) -> Target:
    got = ratio(ours.rate, theirs.rate)
    return Target(name, f">= {factor:g}x req/s", f"{got:.2f}x", got >= factor)


def p99_target(name: str, ours: Summary, theirs: Summary, factor: float) -> Target:
    got = ratio(ours.p99, theirs.p99)
    wanted = "<= its p99" if factor == 1 else f"<= {factor:g} of its p99"
    return Target(name, wanted, f"{got:.2f} of it", got <= factor)


def environment() -> dict[str, object]:
    packages = ["fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic", "rq", "redis"]
    versions = {name: importlib.metadata.version(name) for name in packages}
    versions["python"] = platform.python_version()
    versions["sqlite"] = sqlite3.sqlite_version
    versions["redis-server"] = command_version(["redis-server", "--version"], r"v=(\S+)")
    versions["wrk"] = command_version(["wrk", "--version"], r"wrk (\S+)")
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "versions": versions,
    }


def command_version(command: list[str], pattern: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    found = re.search(pattern, result.stdout + result.stderr)
    return found.group(1) if found else "?"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"
