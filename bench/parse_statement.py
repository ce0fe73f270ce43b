"""Parses a bank statement and prints the throughput and the peak memory.

    python bench/make_statement.py --rows 1000000 --out var/statement-1m.csv
    python bench/parse_statement.py var/statement-1m.csv

Peak RSS is the process's high-water mark (``ru_maxrss``), interpreter and imports included;
it is printed next to the RSS before parsing so a parser that buffers the file shows up.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

from bookkeeper_jobs.tasks.statements import RowError, count_data_lines, parse_statement


def peak_rss_mib() -> float:
    """``ru_maxrss`` is KiB on Linux and bytes on macOS."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description="Parse a statement; print rows/s and peak RSS.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--show-errors", type=int, default=5, help="print the first N row errors")
    args = parser.parse_args()
    size = args.path.stat().st_size
    before = peak_rss_mib()
    rows = errors = 0
    with args.path.open("rb") as stream:
        started = time.perf_counter()
        lines = count_data_lines(stream)
        counted = time.perf_counter()
        stream.seek(0)
        for item in parse_statement(stream, args.path.name):
            if isinstance(item, RowError):
                errors += 1
                if errors <= args.show_errors:
                    print(f"  line {item.line}: {item.message}")
            else:
                rows += 1
        finished = time.perf_counter()
    parse_seconds = finished - counted
    print(f"file            {args.path.name}: {size / 1e6:,.1f} MB, {lines:,} lines")
    print(f"line count      {counted - started:.3f} s")
    print(f"parse           {parse_seconds:.2f} s")
    print(f"rows/s          {(rows + errors) / parse_seconds:,.0f}")
    print(f"MB/s            {size / 1e6 / parse_seconds:,.1f}")
    print(f"rows parsed     {rows:,}")
    print(f"row errors      {errors:,}")
    print(f"RSS before      {before:,.1f} MiB")
    print(f"peak RSS        {peak_rss_mib():,.1f} MiB")


if __name__ == "__main__":
    main()
