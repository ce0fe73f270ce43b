"""The ``ocr`` job in both modes: the real task reads a real scanned receipt from the artifact
store with tesseract, stores the extraction and the match on the receipt, honours a cancel
between pages, and fails with the cause when it cannot read."""

from __future__ import annotations

import datetime
import hashlib
import io
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from bookkeeper_jobs.artifacts import DirectoryArtifactStore as ArtifactStore
from bookkeeper_jobs.jobs import Job, JobPhase, OcrSpec
from bookkeeper_jobs.ledger import Ledger, NewTransaction
from bookkeeper_jobs.ledger.receipts import NewReceipt, StoredReceipt
from bookkeeper_jobs.settings import Settings

from .conftest import Backend, finished, wait_for

RECEIPT = Path(__file__).resolve().parents[1] / "fixtures" / "receipts" / "X51006556830.jpg"
"""PINGHWAI TRADING SDN BHD, 23/09/2017, total 1,007.50 (its ground truth)."""
COMPANY = "ocr-co"
OCR_SECONDS = 90.0


@pytest.fixture
def ocr_backend(make_backend: Callable[..., Backend]) -> Backend:
    """A backend whose ``ocr`` jobs run the real task (the others stay scripted)."""
    backend = make_backend()
    backend.close()
    tasks = {name: path for name, path in backend.settings.tasks.items() if name != "ocr"}
    return make_backend(tasks=tasks)


@pytest.fixture
def ledger(ocr_backend: Backend) -> Iterator[Ledger]:
    ledger = Ledger.from_settings(ocr_backend.settings)
    ledger.migrate()
    ledger.ensure_company(COMPANY, "t1")
    yield ledger
    ledger.dispose()


def store_receipt(settings: Settings, ledger: Ledger, data: bytes, name: str) -> StoredReceipt:
    artifact_id = ArtifactStore(settings.artifacts_dir).receipts.save_bytes(data)
    receipt, _created = ledger.receipts.add(
        NewReceipt(
            company_id=COMPANY,
            filename=name,
            content_type="image/jpeg",
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            artifact_id=artifact_id,
        )
    )
    return receipt


def run_ocr(backend: Backend, receipt: StoredReceipt) -> Job:
    spec = OcrSpec(company_id=COMPANY, tenant_id="t1", receipt_id=receipt.id)
    job_id = backend.store.submit(spec).job.id
    backend.start_workers()
    return wait_for(backend.store, job_id, finished, timeout=OCR_SECONDS)


def test_the_ocr_job_reads_the_receipt_and_records_its_match(
    ocr_backend: Backend, ledger: Ledger
) -> None:
    ledger.add_transactions(
        COMPANY,
        [
            NewTransaction(
                datetime.date(2017, 9, 24), "PINGHWAI TRADING", Decimal("-1007.50"), "MYR"
            ),
            NewTransaction(datetime.date(2017, 9, 24), "PETRONAS", Decimal("-100.75"), "MYR"),
        ],
    )
    paid = next(t.id for t in ledger.list_transactions(COMPANY) if t.amount == Decimal("-1007.50"))
    receipt = store_receipt(ocr_backend.settings, ledger, RECEIPT.read_bytes(), "scan.jpg")

    job = run_ocr(ocr_backend, receipt)

    assert job.status.phase is JobPhase.COMPLETE, job.status.error
    result = job.status.result
    assert result is not None
    assert (result["date"], result["total"]) == ("2017-09-23", "1007.50")
    assert (result["match_status"], result["matched_transaction_id"]) == ("matched", paid)
    stored = ledger.receipts.get(receipt.id)
    assert stored is not None and stored.extraction is not None and stored.match is not None
    assert stored.ocr_job_id == job.id
    assert stored.extraction.total == Decimal("1007.50")
    assert stored.match.transaction_id == paid


def _pages(data: bytes, count: int) -> bytes:
    """The receipt as a ``count``-page TIFF (a long scan job): a cancel lands between pages."""
    image = Image.open(io.BytesIO(data)).convert("L")
    out = io.BytesIO()
    image.save(out, format="TIFF", save_all=True, append_images=[image] * (count - 1))
    return out.getvalue()


def test_cancelling_stops_between_pages_and_leaves_the_receipt_unread(
    ocr_backend: Backend, ledger: Ledger
) -> None:
    data = _pages(RECEIPT.read_bytes(), 8)
    receipt = store_receipt(ocr_backend.settings, ledger, data, "long-scan.tiff")
    spec = OcrSpec(company_id=COMPANY, tenant_id="t1", receipt_id=receipt.id)
    job_id = ocr_backend.store.submit(spec).job.id
    ocr_backend.start_workers()
    # Cancelled while its pages are being recognised (progress is coalesced: which page's
    # message a reader sees first depends on the machine's pace; idle, about 0.4 s a page).
    wait_for(
        ocr_backend.store,
        job_id,
        lambda job: job.status.message.startswith("Recognising the text of page"),
        timeout=OCR_SECONDS,
    )

    ocr_backend.store.cancel(job_id)
    job = wait_for(ocr_backend.store, job_id, finished, timeout=OCR_SECONDS)

    assert job.status.phase is JobPhase.CANCELLED
    stored = ledger.receipts.get(receipt.id)
    assert stored is not None and stored.extraction is None and stored.match is None


def test_a_damaged_file_fails_at_once_saying_why(ocr_backend: Backend, ledger: Ledger) -> None:
    data = RECEIPT.read_bytes()
    receipt = store_receipt(ocr_backend.settings, ledger, data[: len(data) // 4], "cut.jpg")

    job = run_ocr(ocr_backend, receipt)

    assert job.status.phase is JobPhase.FAILED
    assert job.status.attempts == 1
    assert job.status.error is not None
    assert job.status.error.startswith("cut.jpg: the image is truncated or damaged")
