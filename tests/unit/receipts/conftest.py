"""Receipt fixtures, and ``tesseract``: skips a test locally when the tesseract binary is
missing, fails it under ``CI=true`` (``.ci/run`` installs it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bookkeeper_jobs.receipts import tesseract_available

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "receipts"
RECEIPT_IDS = sorted(path.stem for path in FIXTURES.glob("*.jpg"))


@pytest.fixture
def tesseract() -> None:
    if tesseract_available():
        return
    reason = "the tesseract binary is not installed (apt-get install tesseract-ocr)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"tesseract is required under CI=true: {reason}")
    pytest.skip(reason)


def receipt_bytes(receipt_id: str) -> bytes:
    return (FIXTURES / f"{receipt_id}.jpg").read_bytes()


def receipt_truth(receipt_id: str) -> dict[str, str]:
    truth: dict[str, str] = json.loads((FIXTURES / f"{receipt_id}.json").read_text("utf-8"))
    return truth
