"""Receipts over HTTP: upload a real scanned receipt, read it with an ``ocr`` job, see what
was read and the transaction it matched; listing, download, tenancy and bad files."""

from __future__ import annotations

import datetime
import io
import zipfile
from decimal import Decimal
from pathlib import Path

import httpx
import pypdfium2
import pytest
from PIL import Image

from bookkeeper_jobs.ledger import NewTransaction
from tests.support.jobs_http import accepted_job_id, wait_for_job

from .conftest import Company
from .harness import KEY_B, LiveServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "receipts"
RECEIPT = FIXTURES / "X51006556830.jpg"
"""PINGHWAI TRADING SDN BHD, 23/09/2017, total 1,007.50 (its ground truth)."""


def upload(
    http: httpx.Client, company: Company, data: bytes, name: str = "r.jpg"
) -> httpx.Response:
    return http.post(
        "/api/receipts",
        data={"company_id": company.id, "tenant_id": company.tenant_id},
        files={"file": (name, data, "application/octet-stream")},
    )


def uploaded_id(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    receipt_id: str = response.json()["receipt_id"]
    assert response.headers["Location"] == f"/api/receipts/{receipt_id}"
    return receipt_id


def start_ocr(
    http: httpx.Client, company: Company, receipt_id: str, **extra: object
) -> httpx.Response:
    body = {"company_id": company.id, "tenant_id": company.tenant_id, "receipt_id": receipt_id}
    return http.post("/api/jobs/ocr", json={**body, **extra})


def finished(http: httpx.Client, job_id: str) -> dict[str, object]:
    return wait_for_job(
        http,
        job_id,
        lambda view: view["status"] in {"complete", "failed", "cancelled"},
        what="the OCR job to finish",
        timeout=60.0,
    )


def seed(live_server: LiveServer, company_id: str, rows: list[tuple[str, str, str]]) -> list[str]:
    """Add ``(date, description, amount)`` rows to the company; their ids, in order."""
    with live_server.ledger() as ledger:
        ledger.ensure_company(company_id, "t1")
        ledger.add_transactions(
            company_id,
            [
                NewTransaction(datetime.date.fromisoformat(day), text, Decimal(amount), "MYR")
                for day, text, amount in rows
            ],
        )
        found = ledger.list_transactions(company_id, limit=100)
    by_text = {t.description: t.id for t in found}
    return [by_text[text] for _day, text, _amount in rows]


def test_a_receipt_is_read_and_matched_to_its_transaction(
    live_server: LiveServer, company: Company
) -> None:
    paid, decoy = seed(
        live_server,
        company.id,
        [
            ("2017-09-25", "POS PINGHWAI TRADING KEPONG", "-1007.50"),
            ("2017-09-21", "TESCO EXTRA", "-1007.50"),
        ],
    )
    # The sibling company has the very same payment: it must never be the match.
    seed(live_server, company.sibling, [("2017-09-23", "PINGHWAI TRADING", "-1007.50")])
    receipt_id = uploaded_id(upload(company.http, company, RECEIPT.read_bytes(), "scan.jpg"))
    before = company.http.get(f"/api/receipts/{receipt_id}").json()
    assert before["status"] == "uploaded"
    assert before["extraction"] is None

    job_id = accepted_job_id(start_ocr(company.http, company, receipt_id))
    job = finished(company.http, job_id)

    assert job["status"] == "complete", job["error"]
    assert job["progress"] == 100
    result = job["result"]
    assert isinstance(result, dict)
    assert (result["date"], result["total"], result["currency"]) == ("2017-09-23", "1007.50", "MYR")
    assert result["match_status"] == "matched"
    assert result["matched_transaction_id"] == paid
    receipt = company.http.get(f"/api/receipts/{receipt_id}").json()
    assert receipt["status"] == "read"
    assert receipt["ocr_job_id"] == job_id
    assert receipt["vendor"] and "PINGHWAI" in receipt["vendor"].upper()
    assert receipt["extraction"]["total"] == "1007.50"
    assert "PINGHWAI" in receipt["extraction"]["text"].upper()
    assert set(receipt["extraction"]["confidence"]) >= {"total", "date"}
    match = receipt["match"]
    assert match["transaction"]["transaction_id"] == paid
    assert match["runner_up"]["transaction_id"] == decoy
    assert match["transaction"]["score"] > match["runner_up"]["score"]


def test_progress_names_the_steps_a_user_can_follow(
    live_server: LiveServer, company: Company
) -> None:
    receipt_id = uploaded_id(upload(company.http, company, RECEIPT.read_bytes()))
    job_id = accepted_job_id(start_ocr(company.http, company, receipt_id))
    messages: list[str] = []

    def record(view: dict[str, object]) -> bool:
        if not messages or messages[-1] != view["message"]:
            messages.append(str(view["message"]))
        return view["status"] in {"complete", "failed"}

    wait_for_job(
        company.http, job_id, record, what="the OCR job to finish", timeout=60.0, interval=0.01
    )

    steps = [
        "Loading the receipt",
        "Preparing page 1 of 1 for OCR",
        "Recognising the text of page 1 of 1",
        "Extracting vendor, date, total and tax",
        "Matching the receipt to the company's transactions",
    ]
    # Polling sees the steps it catches, never out of order; recognising takes long enough
    # (tenths of a second) to be seen every time.
    seen = [m for m in messages if m in steps]
    assert seen == sorted(seen, key=steps.index), messages
    assert "Recognising the text of page 1 of 1" in seen, messages
    assert messages[-1] == "Complete"


def test_the_listing_pages_newest_first_and_the_file_comes_back_as_uploaded(
    company: Company,
) -> None:
    # Three different files (bytes after a JPEG's end are ignored by readers).
    files = [RECEIPT.read_bytes() + bytes([n]) for n in range(3)]
    ids = [
        uploaded_id(upload(company.http, company, data, f"r{n}.jpg"))
        for n, data in enumerate(files)
    ]

    first = company.http.get(f"/api/companies/{company.id}/receipts", params={"limit": 2}).json()
    rest = company.http.get(
        f"/api/companies/{company.id}/receipts", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()

    listed = [r["receipt_id"] for r in first["receipts"] + rest["receipts"]]
    assert listed == ids[::-1]
    assert rest["next_cursor"] is None
    download = company.http.get(f"/api/receipts/{ids[0]}/file")
    assert download.status_code == 200
    assert download.content == files[0]
    assert download.headers["content-type"] == "image/jpeg"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert 'filename="r0.jpg"' in download.headers["content-disposition"]


def test_another_tenants_receipt_is_not_found_anywhere(
    live_server: LiveServer, company: Company
) -> None:
    receipt_id = uploaded_id(upload(company.http, company, RECEIPT.read_bytes()))

    with live_server.client(KEY_B) as other:
        for path in (f"/api/receipts/{receipt_id}", f"/api/receipts/{receipt_id}/file"):
            assert other.get(path).status_code == 404
        started = other.post(
            "/api/jobs/ocr",
            json={"company_id": "c9", "tenant_id": "t2", "receipt_id": receipt_id},
        )
        assert started.status_code == 404
        assert "receipt_id" in started.json()["detail"]
        cursor = company.http.get(
            f"/api/companies/{company.id}/receipts", params={"limit": 1}
        ).json()["next_cursor"]
        assert cursor is None  # one receipt: no cursor to steal; a forged one is a 400
    forged = company.http.get(
        f"/api/companies/{company.sibling}/receipts", params={"cursor": "cmNwdC14"}
    )
    assert forged.status_code == 400


def test_a_receipt_of_a_sibling_company_is_not_read_as_this_companys(
    company: Company,
) -> None:
    sibling = Company(company.sibling, company.id, company.tenant_id, company.http)
    receipt_id = uploaded_id(upload(company.http, sibling, RECEIPT.read_bytes()))

    response = start_ocr(company.http, company, receipt_id)

    assert response.status_code == 404


@pytest.mark.parametrize(
    "file_path", ["/etc/passwd", "../../var/ledger.db", "receipts/../jobs.db", "/tmp/receipt.jpg"]
)
def test_file_path_is_never_a_path_on_the_server(company: Company, file_path: str) -> None:
    receipt_id = uploaded_id(upload(company.http, company, RECEIPT.read_bytes()))

    response = start_ocr(company.http, company, receipt_id, file_path=file_path)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("file_path:")
    assert "upload the receipt" in response.json()["detail"]


def test_file_path_may_only_repeat_the_receipt(company: Company) -> None:
    receipt_id = uploaded_id(upload(company.http, company, RECEIPT.read_bytes()))

    response = start_ocr(company.http, company, receipt_id, file_path=f"receipts/{receipt_id}")

    accepted_job_id(response)


def _zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("receipt.txt", "not an image")
    return out.getvalue()


def _png(size: tuple[int, int], mode: str = "1") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 1).save(out, format="PNG")
    return out.getvalue()


def _pdf(pages: int) -> bytes:
    document = pypdfium2.PdfDocument.new()
    for _ in range(pages):
        document.new_page(200, 300)
    out = io.BytesIO()
    document.save(out)
    document.close()
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "status", "words"),
    [
        ("zip renamed .jpg", _zip_bytes(), 415, "JPEG, PNG, TIFF or PDF"),
        ("plain text", b"TOTAL 12.00\n", 415, "JPEG, PNG, TIFF or PDF"),
        ("empty", b"", 422, "empty"),
        ("20,000 x 20,000 pixels", _png((20_000, 20_000)), 422, "more than 40,000,000 pixels"),
        ("PDF with 3,000 pages", _pdf(3_000), 422, "3000 pages"),
    ],
)
def test_bad_files_are_refused_at_upload_with_what_is_wrong(
    live_server: LiveServer, company: Company, name: str, data: bytes, status: int, words: str
) -> None:
    before = live_server.artifact_files()

    response = upload(company.http, company, data, f"{name}.jpg")

    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail.startswith("file: ")
    assert words in detail
    assert live_server.artifact_files() == before  # nothing stored


def test_a_truncated_jpeg_fails_its_job_saying_so(company: Company) -> None:
    data = RECEIPT.read_bytes()
    receipt_id = uploaded_id(upload(company.http, company, data[: len(data) // 3], "cut.jpg"))

    job = finished(company.http, accepted_job_id(start_ocr(company.http, company, receipt_id)))

    assert job["status"] == "failed"
    assert job["attempts"] == 1  # a damaged file is not retried
    assert "cut.jpg" in str(job["error"])
    assert "truncated or damaged" in str(job["error"])


def test_a_pdf_receipt_is_read_from_every_page(company: Company) -> None:
    scan = Image.open(RECEIPT)
    blank = Image.new("L", scan.size, 255)
    out = io.BytesIO()
    # Page 1 is a cover sheet; the receipt is on page 2 (PDF pages are rendered at 300 DPI).
    blank.save(out, format="PDF", resolution=200, save_all=True, append_images=[scan])
    upload_answer = upload(company.http, company, out.getvalue(), "receipt.pdf")
    receipt_id = uploaded_id(upload_answer)
    assert (upload_answer.json()["content_type"], upload_answer.json()["pages"]) == (
        "application/pdf",
        2,
    )

    job = finished(company.http, accepted_job_id(start_ocr(company.http, company, receipt_id)))

    assert job["status"] == "complete", job["error"]
    result = job["result"]
    assert isinstance(result, dict)
    assert (result["pages"], result["date"], result["total"]) == (2, "2017-09-23", "1007.50")


def test_the_same_file_uploaded_again_is_the_same_receipt(
    live_server: LiveServer, company: Company
) -> None:
    first = uploaded_id(upload(company.http, company, RECEIPT.read_bytes(), "first.jpg"))
    stored = live_server.artifact_files()

    again = upload(company.http, company, RECEIPT.read_bytes(), "again.jpg")

    assert again.status_code == 200
    assert again.json()["receipt_id"] == first
    assert (again.json()["duplicate"], again.json()["filename"]) == (True, "first.jpg")
    assert again.headers["Location"] == f"/api/receipts/{first}"
    assert live_server.artifact_files() == stored  # no second copy kept


def test_a_file_name_is_kept_as_plain_data(company: Company) -> None:
    # A directory part, a right-to-left override (shows "scan gpj.exe" reversed), a C1
    # control (a one-byte terminal escape) and a zero-width space.
    hostile = "../../etc/scan \u202egpj.exe\x9b\u200b.jpg"

    answer = upload(company.http, company, RECEIPT.read_bytes(), hostile)

    assert answer.status_code == 201, answer.text
    assert answer.json()["filename"] == "scan gpj.exe.jpg"
