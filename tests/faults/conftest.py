"""Fixtures of the fault suite: a small file system to fill, real worker processes to kill.

Mounting a tmpfs needs root, which CI has (``.ci/run`` runs as root); elsewhere the tests
that need it are skipped, except under ``CI=true``, where a skip would hide a broken path.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SMALL_DISK = "24m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh tmpfs of :data:`SMALL_DISK`, unmounted after the test."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    tmpfs = ["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK}", "tmpfs", str(mount_point)]
    yield from mounted(mount_point, [tmpfs], "cannot mount a tmpfs here")


def mounted(mount_point: Path, steps: list[list[str]], failure: str) -> Iterator[Path]:
    """Run the mount ``steps``, yield ``mount_point``, unmount it. A step that fails (not
    root) skips the test, or fails it under ``CI=true``."""
    try:
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                reason = f"{failure}: {done.stderr.strip()}"
                if os.environ.get("CI") == "true":
                    pytest.fail(f"the fault suite needs root under CI=true: {reason}")
                pytest.skip(reason)
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    """Write zeros until the file system is full; returns the file to delete to free it."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(bytes(1 << 16))
                out.flush()
        except OSError:
            pass
    return filler
