"""``bkjobs receipt extract``: one JSON object a line, from ``extract_receipt``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bookkeeper_jobs.cli import main
from bookkeeper_jobs.receipts import extract_receipt
from tests.unit.receipts.conftest import FIXTURES, RECEIPT_IDS


@pytest.mark.usefixtures("tesseract")
def test_receipt_extract_prints_one_json_line_per_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    images = [FIXTURES / f"{receipt_id}.jpg" for receipt_id in RECEIPT_IDS[:2]]
    zipped = tmp_path / "receipt.jpg"
    zipped.write_bytes(b"PK\x03\x04 not a receipt")

    assert main(["receipt", "extract", *map(str, images), str(zipped)]) == 2

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == [*map(str, images), str(zipped)]
    for line, image in zip(lines, images, strict=False):
        assert set(line) == {"file", "company", "date", "total", "currency", "tax", "confidence"}
        expected = extract_receipt(image.read_bytes())
        assert line["company"] == expected.company
        assert line["date"] == (expected.date.isoformat() if expected.date else None)
        assert line["total"] == (str(expected.total) if expected.total is not None else None)
        assert line["confidence"] == expected.confidence
    assert "JPEG, PNG, TIFF or PDF" in lines[-1]["error"]


def test_receipt_extract_without_tesseract_is_one_error_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    assert main(["receipt", "extract", str(FIXTURES / f"{RECEIPT_IDS[0]}.jpg")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "apt-get install tesseract-ocr" in captured.err
