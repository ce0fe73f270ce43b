"""The dashboard in headless Chromium against the real API in embedded mode.

Starts ``bkjobs serve --demo`` on a free port with a fresh data directory and one worker,
then runs ``web/e2e/dashboard.mjs`` (playwright-core driving the system Chromium): sign in,
upload the sample statement and watch the progress bar reach 100%, cancel a second job, then
in Transactions correct a row (checked in the API and after a reload) and accept the rule three
corrections of one merchant suggest; no console errors. The screenshots' folder is printed.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.test_serve_demo import free_port, wait_ready
from tests.support.polling import wait_until
from tests.web.node import ROOT, WEB, require_chromium, require_node

BKJOBS = str(Path(sys.executable).parent / "bkjobs")
BIG_STATEMENT_ROWS = 100_000
"""Enough rows that importing and categorizing takes several seconds: time to cancel."""


def write_big_statement(path: Path) -> Path:
    lines = ["Date,Description,Amount,Balance"]
    balance = 100_000.0
    for i in range(BIG_STATEMENT_ROWS):
        amount = ((i * 7919) % 100_000) / 100 - 500
        balance += amount
        day = f"{1 + i % 12:02d}/{1 + i % 28:02d}/2024"
        lines.append(f"{day},VENDOR {i % 997} {i},{amount:.2f},{balance:.2f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def server_command(port: int, data_dir: Path) -> list[str]:
    """``bkjobs serve --demo``, as a user runs it (``make run``)."""
    args = ["--port", str(port), "--data-dir", str(data_dir / "var"), "--workers", "1"]
    return [BKJOBS, "serve", "--host", "127.0.0.1", *args, "--demo"]


@pytest.mark.slow
def test_the_dashboard_in_chromium(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    node = require_node()
    chromium = require_chromium()
    shots = tmp_path / "screenshots"
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\ndashboard screenshots: {shots}")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("w+") as log:
        server = subprocess.Popen(
            server_command(port, tmp_path),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_ready(base_url, server)
            key = wait_until(
                lambda: re.search(r"demo API key: (\S+)", log_path.read_text()),
                timeout=10,
                what="the demo key",
            ).group(1)
            browser = subprocess.run(
                [node, "e2e/dashboard.mjs"],
                cwd=WEB,
                env={
                    "PATH": "/usr/bin:/bin",
                    "HOME": str(tmp_path),
                    "BKJOBS_URL": base_url,
                    "BKJOBS_API_KEY": key,
                    "BKJOBS_STATEMENT": str(ROOT / "examples" / "bank-statement.csv"),
                    "BKJOBS_BIG_STATEMENT": str(write_big_statement(tmp_path / "big.csv")),
                    "SCREENSHOT_DIR": str(shots),
                    "CHROMIUM": str(chromium),
                },
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            print(browser.stdout)
            assert browser.returncode == 0, browser.stdout + browser.stderr[-6000:]
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
    names = sorted(p.name for p in shots.glob("*.png"))
    assert names == [
        "01-signed-in.png",
        "02-statement-complete.png",
        "03-second-job-cancelled.png",
        "04-jobs-table.png",
        "05-transactions.png",
        "06-corrected-row.png",
        "07-rule-accepted.png",
    ]
