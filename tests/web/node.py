"""What the web tests need from the machine: Node with web/'s packages installed, and
Chromium. Missing ones skip the test locally and fail it under ``CI=true`` (where .ci/run
installs them), as tests/postgres.py does for PostgreSQL."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def require_node() -> str:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed (Node 20: https://nodejs.org or apt-get install nodejs)")
    assert node is not None
    if not (WEB / "node_modules" / ".package-lock.json").is_file():
        unavailable("web/node_modules is missing: run `npm ci` in web/")
    return node


def require_chromium() -> Path:
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"{CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM)")
    return CHROMIUM
