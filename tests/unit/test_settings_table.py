"""The README's configuration table is the one generated from the settings model, so it
names every setting with its real default."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bookkeeper_jobs.settings import Settings, field_docstrings, settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_configuration_table() -> str:
    section = README.read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return "\n".join(rows)


def test_the_readme_holds_exactly_the_generated_table() -> None:
    assert readme_configuration_table() == settings_table(), (
        "regenerate the README's table: python -m bookkeeper_jobs.settings"
    )


def test_the_table_has_one_row_per_setting_with_its_docstring() -> None:
    table = settings_table()
    variables = re.findall(r"^\| `(BKJOBS_[A-Z0-9_]+)` \|", table, flags=re.MULTILINE)

    assert variables == [f"BKJOBS_{name.upper()}" for name in Settings.model_fields]
    assert field_docstrings(Settings).keys() == Settings.model_fields.keys(), "one docstring each"
    assert "| `BKJOBS_JOB_TIMEOUT` | `600` | Seconds one attempt may run" in table
    assert "| `BKJOBS_JWT_SECRET` | unset |" in table
    assert "One of `local`, `kubernetes`." in table


def test_the_module_prints_the_table() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "bookkeeper_jobs.settings"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert printed == settings_table() + "\n"
