"""A data dir that is read-only (a read-only volume, a full remount): ``bkjobs serve``
refuses to start with one line saying so, instead of a traceback or a half-started server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import mounted

BKJOBS = str(Path(sys.executable).parent / "bkjobs")


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A read-only bind mount of an empty directory (root can write through chmod, not
    through a read-only mount)."""
    source, mount_point = tmp_path / "source", tmp_path / "data"
    source.mkdir()
    mount_point.mkdir()
    steps = [
        ["mount", "--bind", str(source), str(mount_point)],
        ["mount", "-o", "remount,bind,ro", str(mount_point)],
    ]
    yield from mounted(mount_point, steps, "cannot make a read-only mount here")


def test_serve_on_a_read_only_data_dir_refuses_with_one_line(read_only_dir: Path) -> None:
    done = subprocess.run(
        [BKJOBS, "serve", "--data-dir", str(read_only_dir), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = (done.stdout + done.stderr).strip()
    assert done.returncode != 0
    assert output.splitlines() == [
        f"error: cannot use the data dir {read_only_dir}: Read-only file system"
    ]
    assert list(read_only_dir.iterdir()) == []
