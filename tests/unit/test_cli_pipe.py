"""A command whose reader goes away (`bkjobs ... | head`) stops quietly with 141, as shell
tools do, instead of a BrokenPipeError traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RECEIPT = Path(__file__).resolve().parents[1] / "fixtures" / "receipts" / "X51006556830.jpg"


def test_a_closed_output_pipe_is_a_quiet_exit_141() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bookkeeper_jobs.cli", "receipt", "extract", str(RECEIPT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the first line is written

    with process.stderr:
        errors = process.stderr.read().decode()
    exit_code = process.wait(timeout=120)

    assert exit_code == 141
    assert errors == ""
